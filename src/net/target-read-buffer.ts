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
import { BlockPool } from './block-pool.js';

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

/**
 * Per thread: reads; reads copied before a consumer was attached; reads the consumer copied
 * (into pooled blocks: new ones allocated, reused ones, released ones).
 */
export const targetReadStats = { reads: 0, queued: 0, copied: 0, allocated: 0, reused: 0, released: 0 };

// Copies of reads the SSH channel could not take at once: while its window is shut ssh2 buffers
// up to 2 MiB per channel (its highWaterMark) before write() says stop, so on a bulk download
// about half the reads are copied. Into reused blocks, back in the pool once the channel
// has copied them into packets (its write callback).
/** Free copy blocks kept per thread (2 MiB: one channel's full buffer). */
const MAX_FREE_COPIES = 32;
const copies = new BlockPool(READ_BUFFER_BYTES, MAX_FREE_COPIES, targetReadStats);

/** A copy of a transient read in a pooled block; give it back with releaseCopiedRead(). */
export function copyRead(view: Buffer): Buffer {
  targetReadStats.copied += 1;
  // A small read gets an exact copy: the channel's 2 MiB buffer counts bytes, not blocks, so
  // 200-byte reads in 64 KiB blocks behind a shut window would hold 300× their size.
  if (!copies.fits(view.length)) return Buffer.from(view);
  const copy = copies.take(view.length);
  copy.set(view);
  return copy;
}

/** Only once nothing references the copy any more (e.g. the channel write's callback, no error); an exact copy is left to the GC. */
export function releaseCopiedRead(copy: Buffer): void {
  copies.release(copy);
}

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
