// Did the SSH host really listen where a forward asked? OpenSSH answers a `tcpip-forward` for
// "" / 0.0.0.0 / :: with success even when its GatewayPorts setting made it bind loopback only,
// and the reply carries no address. So, for a wildcard bind, the agent tries to reach the
// forward's port on the SSH host's own address (the one its SSH connection goes to). If that
// fails, the forward is still up, and its status and log say the bind was probably not honoured.
//
// The probe's own connection comes back as a channel on the forward: it is recognised by its
// origin address and port and refused, so it never reaches the target.
// Limits (README "Gateway: OpenSSH"): no check through a proxy or when the SSH host is reached
// on loopback (127.0.0.1/::1 answer either way); a firewall in front of the SSH host looks the
// same as a loopback bind; behind NAT the probe's channel cannot be recognised and reaches the
// target as one empty connection.
import net from 'node:net';
import { isWildcardBind } from '../grammar/bind.js';
import { formatHost, unmapAddress } from '../grammar/host-name.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** How long a probe waits to connect, and then for its channel to come back. */
const CONNECT_TIMEOUT_MS = 3_000;
const CHANNEL_WAIT_MS = 2_000;

/** The address to probe for a forward bound to `bind`, or undefined when no check applies. */
export function bindCheckAddress(bind: string, socket: net.Socket, direct: boolean): string | undefined {
  if (!isWildcardBind(bind) || !direct) return undefined;
  const address = socket.remoteAddress;
  if (!address || LOOPBACK.has(address)) return undefined;
  return unmapAddress(address);
}

export function bindWarning(bind: string, host: string, port: number): string {
  return `asked to listen on ${bind || '*'}:${port} (every interface), but ${formatHost(host)}:${port} is not reachable from this device: `
    + 'the SSH host probably bound loopback only (OpenSSH: GatewayPorts no; set "GatewayPorts clientspecified"), or a firewall is in the way';
}

export class BindProbes {
  /** "address|port" of a probe's socket → marks its channel as seen. */
  private readonly pending = new Map<string, () => void>();

  /** Resolves whether host:port accepted a connection. Never rejects. */
  probe(host: string, port: number): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = net.connect({ host, port });
      let key: string | undefined;
      let settled = false;
      const done = (reachable: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (key) this.pending.delete(key);
        socket.destroy();
        resolve(reachable);
      };
      let timer = setTimeout(() => done(false), CONNECT_TIMEOUT_MS);
      socket.once('connect', () => {
        key = probeKey(socket.localAddress ?? '', socket.localPort ?? 0);
        this.pending.set(key, () => done(true));
        clearTimeout(timer);
        timer = setTimeout(() => done(true), CHANNEL_WAIT_MS);
      });
      socket.once('error', () => done(false));
    });
  }

  /** True (and the probe is over) when a channel from srcIP:srcPort is one of our probes. */
  claims(srcIP: string, srcPort: number): boolean {
    const key = probeKey(srcIP, srcPort);
    const seen = this.pending.get(key);
    if (!seen) return false;
    seen();
    return true;
  }
}

function probeKey(address: string, port: number): string {
  return `${unmapAddress(address)}|${port}`;
}
