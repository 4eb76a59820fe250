// Carries bytes between one SSH channel and its target socket, both ways, with backpressure
// end to end: a full target pauses the channel (so its SSH window stops being re-opened and
// the far client is slowed by the SSH host), a full channel window or an over-full SSH socket
// pauses the target. Half-close travels both ways (FIN → EOF, EOF → FIN).
// Only a real SSH channel EOF becomes a FIN on the target: a channel that ends any other way (SSH
// session lost, closed without EOF, drain deadline, destroy) resets the target connection (RST),
// so a service never mistakes a cut transfer for a complete one.
// Target → channel: a target read into the reused buffer reaches ssh2 as a view when the
// channel's window takes it whole (ssh2 copies it into packets at once), else as a pooled copy.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { disabledLevers } from '../diag-levers.js';
import { quietChannelDestroy } from '../ssh2/channel-destroy.js';
import { watchChannelEof } from '../ssh2/channel-eof.js';
import { directChannelData } from '../ssh2/channel-data-direct.js';
import { isPooledPayload, releaseInboundPayload } from '../ssh2/inbound-packet-pool.js';
import { channelCopiesNow } from '../ssh2/channel-sync-write.js';
import { ThrottledReader, type ForwardBandwidth } from './bandwidth-limit.js';
import type { SshSocketGate } from './ssh-socket-gate.js';
import { copyRead, releaseCopiedRead, targetReaderOf } from './target-read-buffer.js';
import { corkForTurn } from './turn-cork.js';

// ssh2 hands us one chunk per SSH packet (≤ 32 KiB) and one socket read of the SSH connection
// holds several: writing each to the target was one write() system call per packet, the largest
// item of an upload's profile (34% of the agent's busy time in `writeBuffer`). Corked per
// event-loop turn, a turn's packets reach the target in one writev(); flushed in the same turn
// (setImmediate; turn-cork.ts), so request/response latency is unchanged. EDGE_DIAG_DISABLE=target-write-batching.
const BATCH_TARGET_WRITES = !disabledLevers().has('target-write-batching');
// Corked bytes count in writableLength, so write() returns false for every packet after the
// first of a turn; pausing the channel on that (as without batching) made each turn carry one
// packet plus a pause/resume. With batching the channel pauses once this much waits for the
// target (bounded anyway by the channel window, 2 MiB); 'drain' resumes it as before.
const BATCHED_TARGET_QUEUE = 256 * 1024;

export type ChannelCloseReason = 'eof' | 'idle-timeout' | 'target-error' | 'channel-error' | 'drain' | 'destroyed';

export interface PipeStats {
  /** Bytes from the remote client into the target. */
  bytesIn: number;
  /** Bytes from the target back to the remote client. */
  bytesOut: number;
}

export interface ChannelPipeOptions {
  idleTimeoutMs: number;
  gate: SshSocketGate;
  /** The forward's bandwidth cap (maxBytesPerSecond), shared by its channels; absent = none. */
  bandwidth?: ForwardBandwidth;
  onClose(reason: ChannelCloseReason, stats: PipeStats, error?: Error): void;
}

/** The channel as ssh2 hands it to us: a Duplex with close(). */
export type SshChannel = Duplex & { close(): void };

export interface ChannelPipe {
  readonly stats: PipeStats;
  /** Ends the channel now (both sides torn down) with the given reason. */
  destroy(reason: ChannelCloseReason): void;
}

export function pipeChannel(channel: SshChannel, target: Socket, opts: ChannelPipeOptions): ChannelPipe {
  const stats: PipeStats = { bytesIn: 0, bytesOut: 0 };
  let closed = false;
  let channelClosed = false;
  let targetClosed = false;
  let closeReason: ChannelCloseReason = 'eof';
  let closeError: Error | undefined;

  const idleTimer = opts.idleTimeoutMs > 0
    ? setTimeout(() => destroy('idle-timeout'), opts.idleTimeoutMs)
    : undefined;
  const touch = () => idleTimer?.refresh();
  const receivedEof = watchChannelEof(channel);
  quietChannelDestroy(channel); // stream auto-destroy without a thrown-away error per channel

  // The cap holds a reader while its bucket is in debt; a reader paused for backpressure as
  // well is resumed only once both let go.
  const inCap = opts.bandwidth && new ThrottledReader(opts.bandwidth.in, channel, () => !target.writableNeedDrain);
  const outCap = opts.bandwidth && new ThrottledReader(opts.bandwidth.out, target, () => !waitingForWindow && !waitingForSshSocket && !closed);

  // channel → target
  // Returns false when the channel should stop (the target's queue is full; 'drain' resumes).
  const toTarget = (chunk: Buffer): boolean => {
    if (target.destroyed) return true; // torn down: drain the channel so ssh2 can finish closing it
    stats.bytesIn += chunk.length;
    touch();
    if (BATCH_TARGET_WRITES) corkForTurn(target);
    // A packet decrypted into a pooled block (inbound-packet-pool.ts): this write is its only
    // user, so the block is reused once the target has taken the bytes.
    const written = isPooledPayload(chunk) ? target.write(chunk, () => releaseInboundPayload(chunk)) : target.write(chunk);
    inCap?.consumed(chunk.length);
    return written || (BATCH_TARGET_WRITES && target.writableLength <= BATCHED_TARGET_QUEUE);
  };
  channel.on('data', (chunk: Buffer) => {
    if (!toTarget(chunk)) channel.pause();
  });
  // Where the session installed ssh2/channel-data-direct.ts (EDGE_DIAG_DISABLE=channel-data-direct)
  // and no cap is in force, ssh2 hands CHANNEL_DATA payloads straight to toTarget (no Readable
  // push/'data' per packet); a full target holds the SSH window as a paused channel does.
  const direct = directChannelData(channel, { ready: () => !opts.bandwidth?.in.limited, write: toTarget });
  target.on('drain', () => {
    if (!inCap?.holding) channel.resume();
    direct?.resume();
  });
  channel.on('end', () => {
    if (target.destroyed) return;
    if (receivedEof()) target.end();
    else resetTarget(target);
  });

  // target → channel
  let waitingForWindow = false;
  let waitingForSshSocket = false;
  const resumeTarget = () => {
    waitingForSshSocket = false;
    if (!waitingForWindow && !closed && !outCap?.holding) target.resume();
  };
  // A target dialled with the reused read buffer (target-read-buffer.ts) hands us views of it
  // (`transient`): ssh2 may take one only if it copies it into packets at once; else we copy.
  const fromTarget = (chunk: Buffer, transient: boolean) => {
    stats.bytesOut += chunk.length;
    touch();
    let written: boolean;
    if (!transient || channelCopiesNow(channel, chunk.length)) written = channel.write(chunk);
    else {
      const copy = copyRead(chunk);
      written = channel.write(copy, (err?: Error | null) => { if (!err) releaseCopiedRead(copy); });
    }
    if (!written) {
      waitingForWindow = true;
      target.pause();
    }
    if (!waitingForSshSocket && opts.gate.overLimit) {
      waitingForSshSocket = true;
      target.pause();
      opts.gate.waitForDrain(resumeTarget);
    }
    outCap?.consumed(chunk.length);
  };
  const reader = targetReaderOf(target);
  if (reader) reader.attach(fromTarget);
  else target.on('data', (chunk: Buffer) => fromTarget(chunk, false));
  channel.on('drain', () => {
    waitingForWindow = false;
    if (!waitingForSshSocket && !closed && !outCap?.holding) target.resume();
  });
  target.on('end', () => {
    if (channel.writable) channel.end();
  });

  // teardown
  target.on('error', (err) => {
    closeReason = 'target-error';
    closeError = err;
    channelCloseNow();
  });
  channel.on('error', (err: Error) => {
    closeReason = 'channel-error';
    closeError = err;
    resetTarget(target);
  });
  target.on('close', () => {
    targetClosed = true;
    channel.resume();
    direct?.resume();
    // Let queued bytes reach the remote side before CLOSE (EOF was sent by end()).
    // (`writable` turns false at end(), while bytes may still wait for SSH window.)
    if (channel.writableFinished || channel.destroyed) channelCloseNow();
    else channel.once('finish', channelCloseNow);
    finish();
  });
  channel.on('close', () => {
    channelClosed = true;
    if (!target.destroyed) {
      // After a real EOF the target got end(): let the bytes still queued for it go out first
      // (destroy() would drop them and the FIN would hide the loss). Otherwise: reset.
      if (!receivedEof()) resetTarget(target);
      else if (target.writableFinished) target.destroy();
      else target.once('finish', () => target.destroy());
    }
    finish();
  });

  function channelCloseNow(): void {
    if (!channelClosed) channel.close();
  }

  function finish(): void {
    if (closed || !(channelClosed && targetClosed)) return;
    closed = true;
    clearTimeout(idleTimer);
    inCap?.cancel();
    outCap?.cancel();
    opts.gate.cancel(resumeTarget);
    opts.onClose(closeReason, stats, closeError);
  }

  function destroy(reason: ChannelCloseReason): void {
    if (closed) return;
    closeReason = reason;
    // An idle channel has nothing in flight to truncate: a plain close. Anything else: reset.
    if (reason === 'idle-timeout') target.destroy();
    else resetTarget(target);
    channelCloseNow();
  }

  return { stats, destroy };
}

/** RST instead of FIN (TCP targets); unix sockets have no reset and are just destroyed. */
export function resetTarget(target: Socket): void {
  if (target.destroyed) return;
  try {
    target.resetAndDestroy();
  } catch {
    target.destroy(); // not a TCP handle (unix socket)
  }
}
