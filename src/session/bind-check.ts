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
/** How long a probe's channel is still recognised after the probe has answered. */
const REMEMBER_MS = 60_000;

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

/** What a channel's origin says about it: one of our probes, not one, or too early to tell. */
export type ProbeVerdict = 'probe' | 'not-probe' | 'undecided';

export class BindProbes {
  /** "address|port" of a connected probe's socket → marks its channel as seen. */
  private readonly pending = new Map<string, () => void>();
  /** Source address → probes from it whose connect has not been reported yet. */
  private readonly connecting = new Map<string, Set<Promise<void>>>();

  constructor(private readonly timing = { connectTimeoutMs: CONNECT_TIMEOUT_MS, channelWaitMs: CHANNEL_WAIT_MS, rememberMs: REMEMBER_MS }) {}

  /**
   * Resolves whether host:port accepted a connection. Never rejects. The probe leaves from
   * `localAddress` (the SSH connection's own source address) so a channel that arrives before
   * this side has seen its connect can be told apart from a stranger's (see verdict()).
   */
  probe(host: string, port: number, localAddress: string): Promise<boolean> {
    const from = unmapAddress(localAddress);
    let connected!: () => void;
    const connectSeen = new Promise<void>((resolve) => { connected = resolve; });
    const waiting = this.connecting.get(from) ?? new Set<Promise<void>>();
    waiting.add(connectSeen);
    this.connecting.set(from, waiting);
    const connectOver = () => {
      waiting.delete(connectSeen);
      if (waiting.size === 0 && this.connecting.get(from) === waiting) this.connecting.delete(from);
      connected();
    };
    return new Promise((resolve) => {
      const socket = net.connect({ host, port, ...(from ? { localAddress: from } : {}) });
      let key: string | undefined;
      let settled = false;
      const done = (reachable: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        connectOver();
        socket.destroy();
        // The channel can still come after the answer (a busy host): keep recognising it a while.
        if (key) this.forgetLater(key);
        resolve(reachable);
      };
      let timer = setTimeout(() => done(false), this.timing.connectTimeoutMs);
      socket.once('connect', () => {
        const ownKey = probeKey(socket.localAddress ?? '', socket.localPort ?? 0);
        key = ownKey;
        this.pending.set(ownKey, () => { this.pending.delete(ownKey); done(true); });
        connectOver();
        clearTimeout(timer);
        timer = setTimeout(() => done(true), this.timing.channelWaitMs);
      });
      socket.once('error', () => done(false));
    });
  }

  /**
   * Is a channel from srcIP:srcPort one of our probes? A probe's channel is refused (and the
   * probe is over). 'undecided': a probe from that address is connecting and its connect event
   * has not run yet (the SSH packet and the connect completion can be handled in either order);
   * wait for settled() and ask again.
   */
  verdict(srcIP: string, srcPort: number): ProbeVerdict {
    const seen = this.pending.get(probeKey(srcIP, srcPort));
    if (seen) {
      seen();
      return 'probe';
    }
    return this.connecting.has(unmapAddress(srcIP)) ? 'undecided' : 'not-probe';
  }

  /** Resolves when every probe now connecting from srcIP has connected or failed (≤ CONNECT_TIMEOUT_MS). */
  settled(srcIP: string): Promise<void> {
    return Promise.all([...(this.connecting.get(unmapAddress(srcIP)) ?? [])]).then(() => undefined);
  }

  private forgetLater(key: string): void {
    const seen = this.pending.get(key);
    if (!seen) return;
    this.pending.set(key, () => this.pending.delete(key));
    setTimeout(() => this.pending.delete(key), this.timing.rememberMs).unref();
  }
}

function probeKey(address: string, port: number): string {
  return `${unmapAddress(address)}|${port}`;
}
