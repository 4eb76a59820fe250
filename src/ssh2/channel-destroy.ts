// ssh2 hook (client and server channels): destroy() without a thrown-away error per channel.
//
// ssh2 1.17's `Channel.destroy()` is `this.end(); this.close(); return this;`. Node's stream
// auto-destroy calls it once both sides of the channel have finished, i.e. on every channel
// that ends normally, and `end()` on a finished Writable builds an ERR_STREAM_ALREADY_FINISHED
// error (with its stack trace) that nobody sees: ≈ 2% of the agent's busy time while channels
// open and close (docs/performance.md, "Channel opens"). The hook gives one channel instance an
// own `destroy` that skips `end()` exactly when the writable side has finished (the only case
// in which end() does nothing but build that error) and is otherwise ssh2's: end() if not
// finished, then close(). Installed only when the class is ssh2's `Channel` with the destroy()
// source we checked (fingerprint below); otherwise the channel keeps ssh2's own.
// test/unit/ssh2-channel-destroy.test.ts fails when an ssh2 upgrade changes this.
import type { Duplex } from 'node:stream';
import { knownMethod } from './hook-kit.js';

/** Fingerprint (hook-kit sourceFingerprint) of ssh2 1.17.0's `Channel.prototype.destroy`. */
export const KNOWN_CHANNEL_DESTROY: Record<string, { className: string }> = {
  '3caa5d49b927cb7f': { className: 'Channel' },
};

type ChannelLike = Duplex & { close(): void };

const checked = new WeakMap<object, { className: string } | null>();

function destroyWithoutRedundantEnd(this: ChannelLike): ChannelLike {
  if (!this.writableFinished) this.end();
  this.close();
  return this;
}

/** Installs the quiet destroy() on one ssh2 channel; false (nothing changed) if ssh2 changed. */
export function quietChannelDestroy(channel: Duplex): boolean {
  if (!knownMethod(channel, 'destroy', KNOWN_CHANNEL_DESTROY, checked)) return false;
  (channel as ChannelLike).destroy = destroyWithoutRedundantEnd as ChannelLike['destroy'];
  return true;
}
