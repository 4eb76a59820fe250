// Channel data straight to a sink (the target socket's write) instead of through the ssh2
// channel's Readable. On a bulk upload each 32 KiB CHANNEL_DATA payload went push() → Readable
// state → 'data' → the channel pipe's listener → target.write(): several µs of stream
// JavaScript per packet, ≈ 30k packets per GB (docs/performance.md, "System calls are not the
// gap; JavaScript per packet is").
//
// What this file changes, per connection, in ssh2 internals (here only):
//   - `client._protocol._handlers.CHANNEL_DATA` (the client's message handler, an own property
//     of the handler object ssh2 builds per connect()) is replaced by one that, for a channel
//     registered with directChannelData() whose sink is ready, does what ssh2's handler does with
//     the sink's write in place of push(): the same window check and decrement, and the same
//     window re-open (Channel.js `windowAdjust` at ≤ WINDOW_THRESHOLD) only while the sink
//     accepts more; when it does not (the target's queue is full), the window stays as it is
//     until resume() — what Channel.prototype._read does after a push() that returned false.
//     Every other packet (unregistered channel, sink not ready, the Readable still holding
//     data, not flowing, or past EOF) goes to ssh2's own handler, so order and EOF/CLOSE
//     handling are ssh2's.
// Installed only when the handler, `windowAdjust` and `Channel.prototype._read` have the source
// fingerprints below. test/unit/ssh2-channel-data-direct.test.ts fails when ssh2 changes them.
import { createRequire } from 'node:module';
import type { Client } from 'ssh2';
import type { Duplex } from 'node:stream';
import { knownMethod, sourceFingerprint } from './hook-kit.js';

const require = createRequire(import.meta.url);

interface ChannelInternals {
  incoming: { window: number; state: string };
  outgoing: { state: string };
  _client: { _protocol?: object };
}
type ChannelDataHandler = (p: unknown, recipient: number, data: Buffer) => void;
interface ClientInternals {
  _protocol?: { _handlers?: Record<string, unknown> };
  _chanMgr?: { get(id: number): unknown };
}

/** What a direct channel's bytes go to. */
export interface DirectSink {
  /** May the next payload go to write() (else ssh2's own path, the channel's Readable)? */
  ready(): boolean;
  /** Takes one payload; false when no more should come until resume() (window held). */
  write(data: Buffer): boolean;
}

export interface DirectChannel {
  /** The sink takes more again: re-open the window if ssh2 would have. */
  resume(): void;
}

/** Fingerprints (hook-kit sourceFingerprint) of what this hook re-implements, ssh2 1.17.0. */
export const KNOWN_CHANNEL_DATA_HANDLER = '3e5c9894e370942b';
export const KNOWN_WINDOW_ADJUST = '59153b0aa1dde90e';
export const KNOWN_CHANNEL_READ: Record<string, { className: string }> = {
  'f032604faaa7cb2b': { className: 'Channel' },
};
export const channelDataFingerprint = sourceFingerprint;

let channelModule: { windowAdjust(ch: unknown): void; WINDOW_THRESHOLD: number } | null | undefined;
function ssh2Channel(): typeof channelModule {
  if (channelModule === undefined) {
    try {
      const m = require('ssh2/lib/Channel.js') as { windowAdjust?: unknown; WINDOW_THRESHOLD?: unknown };
      channelModule = typeof m.windowAdjust === 'function' && typeof m.WINDOW_THRESHOLD === 'number'
        && sourceFingerprint(m.windowAdjust as () => void) === KNOWN_WINDOW_ADJUST
        ? m as NonNullable<typeof channelModule> : null;
    } catch {
      channelModule = null;
    }
  }
  return channelModule;
}

interface Registration { sink: DirectSink; held: boolean }
const sinks = new WeakMap<object, Registration>();
/** Protocol objects whose client carries the hook. */
const hooked = new WeakSet<object>();
const readByPrototype = new WeakMap<object, { className: string } | null>();

export const directStats = { direct: 0, viaStream: 0 };

/**
 * Installs the direct CHANNEL_DATA handler on this client (call right after `client.connect()`).
 * False, and nothing changed, when ssh2's internals are not what this file was written against.
 */
export function installChannelDataDirect(client: Client): boolean {
  const c = client as unknown as ClientInternals;
  const handlers = c._protocol?._handlers;
  const original = handlers?.CHANNEL_DATA;
  const mod = ssh2Channel();
  if (!handlers || typeof original !== 'function' || !mod) return false;
  if (sourceFingerprint(original as () => void) !== KNOWN_CHANNEL_DATA_HANDLER) return false;
  const { windowAdjust, WINDOW_THRESHOLD } = mod;
  const ssh2Handler = original as ChannelDataHandler;
  handlers.CHANNEL_DATA = (p: unknown, recipient: number, data: Buffer): void => {
    const channel = c._chanMgr?.get(recipient) as (Duplex & ChannelInternals) | undefined;
    const reg = typeof channel === 'object' && channel !== null ? sinks.get(channel) : undefined;
    // The Readable must be empty and flowing, or these bytes would overtake what it holds.
    if (!reg || channel!.destroyed || channel!.readableLength !== 0 || channel!.readableFlowing !== true || channel!.incoming.state !== 'open' || !reg.sink.ready()) {
      directStats.viaStream += 1;
      ssh2Handler(p, recipient, data);
      return;
    }
    const ch = channel!;
    // Data beyond the window is dropped (RFC 4254 5.2). ssh2 checks `=== 0`, so a peer that
    // overshoots once drives the window negative and is never held again; here it stays shut
    // until the window is adjusted back above zero, which keeps the target's queue bounded.
    if (ch.incoming.window <= 0) return;
    ch.incoming.window -= data.length;
    directStats.direct += 1;
    if (!reg.sink.write(data)) {
      reg.held = true;
      return;
    }
    if (ch.incoming.window <= WINDOW_THRESHOLD) windowAdjust(ch);
  };
  hooked.add(c._protocol!);
  return true;
}

/**
 * Sends this channel's data to `sink` from now on (where the sink is ready). Null when the
 * channel's client does not carry the hook (a server-side channel, a client without it, ssh2
 * changed): the caller keeps reading the channel as a stream. The channel must be flowing (a
 * 'data' listener) for direct delivery: EOF still ends its Readable ('end').
 */
export function directChannelData(channel: Duplex, sink: DirectSink): DirectChannel | null {
  const ch = channel as unknown as Partial<ChannelInternals>;
  const protocol = ch._client?._protocol;
  if (!protocol || !hooked.has(protocol) || !ch.incoming) return null;
  if (!knownMethod(channel, '_read', KNOWN_CHANNEL_READ, readByPrototype)) return null;
  const mod = ssh2Channel()!;
  const reg: Registration = { sink, held: false };
  sinks.set(channel, reg);
  return {
    resume() {
      if (!reg.held) return;
      reg.held = false;
      // Channel.prototype._read after a push() that returned false
      if (ch.incoming!.window <= mod.WINDOW_THRESHOLD) mod.windowAdjust(channel);
    },
  };
}
