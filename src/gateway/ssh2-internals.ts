// The two places the gateway reaches into ssh2's server internals (ssh2 1.x):
//
// 1. Channel refusals with a reason. ssh2's server answers a channel type nobody listens for
//    with CHANNEL_OPEN_FAILURE but no description and no event, so the gateway could neither
//    log the refusal nor tell the client why. installChannelOpenPolicy wraps the connection's
//    private CHANNEL_OPEN handler: every channel the policy refuses gets "administratively
//    prohibited" with a reason the client prints (OpenSSH: "channel 0: open failed:
//    administratively prohibited: <reason>"); allowed ones go on to ssh2 as usual. If the
//    internals are missing, those channels are still refused (ssh2's default), without reason.
//
// 2. Half-close on forwarded channels. A server-side ssh2 Channel sends CHANNEL_CLOSE right
//    after CHANNEL_EOF when its writable side ends (right for a session's exec output, wrong
//    for a TCP stream: the agent's answer after the outside client's FIN would be lost).
//    enableHalfClose makes the channel behave like a client-side one: end() sends EOF only,
//    and the pump closes the channel once both directions are done.
import type { Connection } from 'ssh2';
import type { SshChannel } from '../session/channel-pipe.js';

/** SSH_OPEN_ADMINISTRATIVELY_PROHIBITED (RFC 4254 §5.1). */
const ADMINISTRATIVELY_PROHIBITED = 1;

export interface ChannelOpenRequest {
  type: string;
  /** For direct-tcpip: destIP, destPort, srcIP, srcPort. */
  data: Record<string, unknown>;
}

/** Returns a refusal reason, or undefined to let ssh2 handle the open. */
export type ChannelOpenPolicy = (request: ChannelOpenRequest) => string | undefined;

interface ServerClientInternals {
  authenticated?: boolean;
  _protocol?: {
    _handlers?: Record<string, unknown>;
    channelOpenFail?: (sender: number, reason: number, desc: string) => void;
  };
}

/** Installs the policy on one server-side connection; false if ssh2's internals changed. */
export function installChannelOpenPolicy(client: Connection, policy: ChannelOpenPolicy): boolean {
  const internals = client as unknown as ServerClientInternals;
  const proto = internals._protocol;
  const handlers = proto?._handlers;
  const original = handlers?.CHANNEL_OPEN;
  if (!proto || !handlers || typeof original !== 'function' || typeof proto.channelOpenFail !== 'function') return false;
  handlers.CHANNEL_OPEN = (p: unknown, info: { type: string; sender: number; data?: Record<string, unknown> }) => {
    // Before authentication ssh2 refuses everything itself.
    if (internals.authenticated) {
      const reason = policy({ type: info.type, data: info.data ?? {} });
      if (reason !== undefined) {
        proto.channelOpenFail!(info.sender, ADMINISTRATIVELY_PROHIBITED, reason);
        return;
      }
    }
    (original as (p: unknown, info: unknown) => void)(p, info);
  };
  return true;
}

/** Lets a server-side forwarded-tcpip / direct-tcpip channel stay open after our EOF. */
export function enableHalfClose(channel: SshChannel): void {
  const ch = channel as SshChannel & { server?: boolean; allowHalfOpen?: boolean };
  // ssh2's onFinish: `eof(); if (this.server || !this.allowHalfOpen) close();`
  if (ch.server === true && ch.allowHalfOpen === true) ch.server = false;
}
