// May bytes that live in a reused buffer be handed to an ssh2 channel's write()? Only when ssh2
// is sure to copy all of them into SSH packets before write() returns and to keep no reference:
// the target socket of a forward is read into one buffer per thread (net/target-read-buffer.ts)
// that the next read overwrites.
//
// ssh2 1.17 internals this relies on (here only):
//   - Channel.prototype._write sends `data` at once, as packets of at most `outgoing.packetSize`,
//     through `protocol.channelData()`, and calls its callback, whenever `outgoing.window` covers
//     the whole chunk and `outgoing.state` is 'open'; otherwise it keeps the rest (`_chunk`) for
//     the next window adjust: a reference to our buffer;
//   - Protocol.prototype.channelData copies the bytes into the packet it allocates (`packet.set`).
// Node's Writable calls _write synchronously when nothing is buffered, in flight or corked.
// We check both sources' fingerprints once per prototype; anything else (another stream, an ssh2
// upgrade) answers false and the caller copies, which is what every read cost before.
// test/unit/ssh2-channel-sync-write.test.ts fails when ssh2 changes either.
import type { Duplex } from 'node:stream';
import { knownMethod, sourceFingerprint } from './hook-kit.js';

interface ChannelInternals {
  outgoing?: { state?: unknown; window?: unknown };
  _client?: { _protocol?: object };
}

export const syncWriteFingerprint = sourceFingerprint;

/** Channel.prototype._write of ssh2 1.17, by source fingerprint. */
export const KNOWN_CHANNEL_WRITE: Record<string, { className: string }> = {
  '17ad3aca7865f7ea': { className: 'Channel' },
};
/** Protocol.prototype.channelData of ssh2 1.17, by source fingerprint. */
export const KNOWN_CHANNEL_DATA: Record<string, { className: string }> = {
  '728398bc3caf772b': { className: 'Protocol' },
};

const writeByPrototype = new WeakMap<object, { className: string } | null>();
const dataByPrototype = new WeakMap<object, { className: string } | null>();

/**
 * True when `channel.write(chunk)` of `bytes` bytes, called now, copies every byte into SSH
 * packets before it returns (so the chunk may be a view of a buffer that is reused afterwards).
 */
export function channelCopiesNow(channel: Duplex, bytes: number): boolean {
  if (channel.writableLength !== 0 || channel.writableCorked !== 0 || !channel.writable) return false;
  const c = channel as unknown as ChannelInternals;
  const out = c.outgoing;
  if (!out || out.state !== 'open' || typeof out.window !== 'number' || out.window < bytes) return false;
  const protocol = c._client?._protocol;
  if (!protocol || typeof protocol !== 'object') return false;
  return knownMethod(channel, '_write', KNOWN_CHANNEL_WRITE, writeByPrototype) !== null
    && knownMethod(protocol, 'channelData', KNOWN_CHANNEL_DATA, dataByPrototype) !== null;
}
