// ssh2 hook: did a channel's readable side end because the peer sent CHANNEL_EOF?
//
// ssh2 ends a channel's readable stream (push(null), then 'end') in three cases: the peer sent
// CHANNEL_EOF, the peer sent CHANNEL_CLOSE without EOF, or the SSH connection died (its cleanup
// closes every channel). Only the first is the far end finishing its data; the other two mean
// the stream was cut, and passing them on as a TCP FIN makes a truncated transfer look
// complete. ssh2 sets the private `incoming.state` ('eof' after a real CHANNEL_EOF, 'closed'
// otherwise) right before push(null); the state is read at that moment (by 'end' a CLOSE that
// followed the EOF has already overwritten it). Shared by the gateway's forwards
// (src/gateway/forward-listener.ts) and usable by the agent's channel pump.
import type { Duplex } from 'node:stream';

interface ChannelInternals {
  incoming?: { state?: string };
  push(chunk: unknown, encoding?: BufferEncoding): boolean;
}

/**
 * Install on a fresh channel, before its stream can end. The returned function answers, once
 * the channel's readable side has ended: true = a real CHANNEL_EOF, false = cut (CLOSE without
 * EOF, or the connection died), undefined = not ended yet, or ssh2's internals changed.
 */
export function trackChannelEof(channel: Duplex): () => boolean | undefined {
  const ch = channel as unknown as ChannelInternals;
  if (typeof ch.incoming !== 'object' || ch.incoming === null || typeof ch.incoming.state !== 'string') return () => undefined;
  let endedByEof: boolean | undefined;
  const push = ch.push;
  ch.push = function pushTrackingEof(this: unknown, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null && endedByEof === undefined) {
      const state = ch.incoming?.state;
      endedByEof = state === 'eof' ? true : state === 'closed' ? false : undefined;
    }
    return push.call(this, chunk, encoding);
  };
  return () => endedByEof;
}
