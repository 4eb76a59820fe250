// Reads the SSH socket into one reused buffer per thread (net's `onread`) instead of a fresh
// 64 KiB ArrayBuffer per read, which V8 frees only every ~25 MB of such "external memory":
// ≈ 40 MB of a bulk upload's peak RSS (docs/performance.md). Safe only because ssh2 never keeps
// a view of what it is handed once its decipher copies every packet into a pooled block
// (src/ssh2/inbound-packet-pool.ts); until then (ident line, key exchange, an unknown cipher)
// each read is copied, exactly what Node's own reads cost. The bytes reach ssh2 the way Node
// would deliver them: as the socket's 'data' event, in order, synchronously.
//
// One buffer serves every connection of the thread: libuv fills it for one read, our callback
// consumes it synchronously, then the next read may reuse it.
import type { Socket } from 'node:net';
import { markReusedReadBuffer } from '../ssh2/inbound-packet-pool.js';

const READ_BUFFER_BYTES = 64 * 1024;
let shared: Buffer | undefined;

export interface SshReadBuffer {
  /** The `onread` option for net.connect() / new net.Socket(). */
  readonly onread: { buffer: Buffer; callback: (bytes: number, buf: Buffer) => boolean };
  /** The socket created with `onread` (call right after creating it). */
  bind(socket: Socket): void;
  /** Lets views of the reused buffer through whenever `readSafe()` says so (else copies). */
  useViewsWhen(readSafe: () => boolean): void;
  readonly stats: { reads: number; copied: number };
}

export function createSshReadBuffer(): SshReadBuffer {
  if (!shared) {
    shared = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    markReusedReadBuffer(shared);
  }
  const buffer = shared;
  const stats = { reads: 0, copied: 0 };
  let socket: Socket | undefined;
  let readSafe = () => false;
  // Node buffers reads until a 'data' listener exists; with onread we must: ssh2 adds its
  // listener only after its crypto init, and the server's ident may already be here.
  let consumer = false;
  const queued: Buffer[] = [];
  const flush = () => {
    while (queued.length && socket && !socket.destroyed) socket.emit('data', queued.shift());
  };
  return {
    onread: {
      buffer,
      // (returning false would pause the socket: never)
      callback: (bytes: number, buf: Buffer): boolean => {
        stats.reads += 1;
        const view = buf.subarray(0, bytes);
        if (!consumer || queued.length) {
          stats.copied += 1;
          queued.push(Buffer.from(view));
          return true;
        }
        if (readSafe()) socket!.emit('data', view);
        else {
          stats.copied += 1;
          socket!.emit('data', Buffer.from(view));
        }
        return true;
      },
    },
    bind(s: Socket) {
      socket = s;
      s.on('newListener', function onListener(event: string | symbol) {
        if (event !== 'data') return;
        s.removeListener('newListener', onListener);
        process.nextTick(() => {
          consumer = true;
          flush();
        });
      });
    },
    useViewsWhen(fn: () => boolean) {
      readSafe = fn;
    },
    stats,
  };
}
