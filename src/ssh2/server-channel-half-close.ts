// ssh2 hook (server side): half-close on forwarded channels.
//
// A server-side ssh2 Channel sends CHANNEL_CLOSE right after CHANNEL_EOF when its writable side
// ends (right for a session's exec output, wrong for a TCP stream: the answer the other side
// still sends after our FIN would be lost). enableHalfClose makes the channel behave like a
// client-side one: end() sends EOF only, and the caller closes the channel once both directions
// are done. It flips the channel's `server` flag (ssh2 1.17 Channel.js onFinish:
// `eof(); if (this.server || !this.allowHalfOpen) close();`).
// test/unit/ssh2-server-channel-half-close.test.ts fails if an ssh2 upgrade changes this.
import type { Duplex } from 'node:stream';

/** Lets a server-side forwarded-tcpip / direct-tcpip channel stay open after our EOF. */
export function enableHalfClose(channel: Duplex): void {
  const ch = channel as Duplex & { server?: boolean; allowHalfOpen?: boolean };
  if (ch.server === true && ch.allowHalfOpen === true) ch.server = false;
}
