// Tells a real SSH_MSG_CHANNEL_EOF from a channel that merely died. ssh2 ends a channel's
// readable side (push(null) → 'end') in both cases: when the peer sends EOF, and when the
// channel is closed without EOF or the whole connection is lost (ChannelManager.cleanup). Only
// the first may become a FIN on the target socket; the others must reset it, or a transfer cut
// halfway looks complete to the service.
//
// The hook: ssh2 sets `channel.incoming.state` to 'eof' (CHANNEL_EOF) or 'closed' (CHANNEL_CLOSE,
// connection lost) right before it calls push(null). We wrap push on this one channel instance
// and read the state at the first push(null). test/unit/ssh2-channel-eof.test.ts fails if an
// ssh2 upgrade changes this.
import type { Duplex } from 'node:stream';

interface Ssh2ChannelInternals {
  incoming?: { state?: string };
}

/** One watcher per channel: whoever starts watching first, later callers get the same answer. */
const watchers = new WeakMap<Duplex, () => boolean>();

/**
 * Starts watching `channel`; the returned function says whether its readable side ended because
 * the peer sent EOF. A stream that is not an ssh2 channel counts every end as an EOF.
 * Call it in the same turn the channel is handed over (accept(), forwardOut's callback): ssh2
 * may process the peer's DATA, EOF and CLOSE from the same read right after the open
 * confirmation, before a promise continuation runs. Calling it again returns the first watcher.
 */
export function watchChannelEof(channel: Duplex): () => boolean {
  const existing = watchers.get(channel);
  if (existing) return existing;
  const incoming = (channel as unknown as Ssh2ChannelInternals).incoming;
  if (!incoming || typeof incoming.state !== 'string') return () => channel.readableEnded;
  let ended: 'eof' | 'died' | undefined;
  const push = channel.push;
  channel.push = function pushWatchingEnd(this: Duplex, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null && ended === undefined) ended = incoming.state === 'eof' ? 'eof' : 'died';
    return push.call(this, chunk, encoding);
  };
  const watcher = () => ended === 'eof';
  watchers.set(channel, watcher);
  return watcher;
}
