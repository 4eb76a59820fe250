// Reads a forward's target socket into one reused buffer per thread (net's `onread`) instead of
// a fresh 64 KiB ArrayBuffer per read: on a bulk download (target → agent → SSH host) those
// buffers are garbage V8 frees only every ~25 MB of "external memory", most of a download's
// peak RSS rise (docs/performance.md). Each read is handed to the consumer synchronously as a
// view that is valid only during the call; the consumer (channel-pipe.ts) either lets the SSH
// channel copy it into packets right away (ssh2/channel-sync-write.ts) or copies it itself.
//
// One buffer serves every target socket of the thread: libuv fills it for one read, the
// callback consumes it, then the next read (of any socket) may reuse it. Backpressure is the
// socket's own: pause() stops reading (readStop), resume() starts it again, EOF and errors
// arrive as 'end' / 'error' exactly as without `onread`. Reads that arrive before a consumer is
// attached are copied and queued, and reading stops until then (as Node's own buffering would).
import type { Socket } from 'node:net';
import { disabledLevers } from '../diag-levers.js';

const READ_BUFFER_BYTES = 64 * 1024;
let shared: Buffer | undefined;

/** Receives each read; `transient`: the chunk is a view of the reused buffer, valid only now. */
export type TargetChunkConsumer = (chunk: Buffer, transient: boolean) => void;

export interface TargetReader {
  /** The `onread` option for net.connect(). */
  readonly onread: { buffer: Buffer; callback: (bytes: number, buf: Buffer) => boolean };
  /** The socket created with `onread` (call right after creating it). */
  bind(socket: Socket): void;
  /** Delivers every read to `consumer` from now on, the queued ones first. */
  attach(consumer: TargetChunkConsumer): void;
}

/** Per thread: reads, reads copied before a consumer was attached, and reads the consumer copied. */
export const targetReadStats = { reads: 0, queued: 0, copied: 0 };

const readers = new WeakMap<Socket, TargetReader>();

/** The reader a socket was created with, when it reads into the reused buffer. */
export function targetReaderOf(socket: Socket): TargetReader | undefined {
  return readers.get(socket);
}

/** Reuse the read buffer for target sockets? (EDGE_DIAG_DISABLE=target-read-buffer: no.) */
export const reuseTargetReads = (): boolean => !disabledLevers().has('target-read-buffer');

export function createTargetReader(): TargetReader {
  shared ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  let socket: Socket | undefined;
  let consumer: TargetChunkConsumer | undefined;
  const queued: Buffer[] = [];
  const reader: TargetReader = {
    onread: {
      buffer: shared,
      callback: (bytes: number, buf: Buffer): boolean => {
        targetReadStats.reads += 1;
        const view = buf.subarray(0, bytes);
        if (consumer) {
          consumer(view, true);
          return true;
        }
        // no consumer yet: keep a copy, stop reading until attach() (false = readStop)
        targetReadStats.queued += 1;
        queued.push(Buffer.from(view));
        return false;
      },
    },
    bind(s: Socket) {
      socket = s;
      readers.set(s, reader);
    },
    attach(fn: TargetChunkConsumer) {
      consumer = fn;
      while (queued.length && socket && !socket.destroyed) fn(queued.shift()!, false);
      // reading stopped when the first read was queued; start it unless the consumer paused
      if (socket && !socket.destroyed && !socket.isPaused()) socket.resume();
    },
  };
  return reader;
}
