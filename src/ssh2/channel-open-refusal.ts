// ssh2 hook (server side): refuse a channel open with a reason the client prints.
//
// ssh2's server answers a channel type nobody listens for with CHANNEL_OPEN_FAILURE but no
// description and no event, so the gateway could neither log the refusal nor tell the client
// why. installChannelOpenPolicy wraps the connection's private CHANNEL_OPEN handler
// (`Connection._protocol._handlers.CHANNEL_OPEN`, ssh2 1.17): every channel the policy refuses
// gets "administratively prohibited" with a reason the client prints (OpenSSH: "channel 0: open
// failed: administratively prohibited: <reason>"); allowed ones go on to ssh2 as usual. If the
// internals are missing, those channels are still refused (ssh2's default), without reason.
// test/unit/ssh2-channel-open-refusal.test.ts fails if an ssh2 upgrade changes this.
import type { Connection } from 'ssh2';

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
