// Local (ssh -L) and dynamic (ssh -D, SOCKS4/4a/5) forwards of one session: listeners on the
// device whose connections are carried over the SSH session as direct-tcpip channels.
//
// - Listeners open when the session starts and stay up across SSH reconnects. A connection
//   that arrives while the session is down waits up to `sessionWaitMs` (default 10 s) for it to
//   come back, then is closed cleanly (a FIN for -L; a SOCKS failure reply, then a FIN, for -D).
// - Binds are loopback unless `allowRelay` is set (checked before binding). 'localhost' binds
//   127.0.0.1 and, when available, ::1 on the same port; '' / '*' bind every interface.
// - A listener that cannot be opened is an error the user sees (log line at error level, the
//   forward's state `retrying` with lastError EDGE_ERR_LOCAL_LISTEN_FAILED); it is retried with
//   the session's reconnect backoff, or fails the whole session with `exitOnForwardFailure`.
// - Dynamic forwards check each destination against `allowDestinations` before any channel is
//   opened; username/password SOCKS5 authentication is optional.
import type net from 'node:net';
import { EdgeError } from '../../errors.js';
import type { Clock } from '../../lifecycle/clock.js';
import type { ChannelCloseReason } from '../../net/channel-pipe.js';
import { closeServers, listenOnBind } from '../../net/listen-sockets.js';
import { listenErrorReason } from '../../lifecycle/errno.js';
import type { DynamicForwardConfig, LocalForwardConfig, ReconnectConfig } from '../session-config.js';
import { formatHost } from '../../grammar/host-name.js';
import { DeviceConnections, describeListener, type DeviceConnectionsHost, type SshLink } from './device-connections.js';
import { compileListener, Listener } from './listener.js';
import type { AnyListenerConfig, DynamicForwardStatus, ListenerStatus, LocalForwardStatus } from './listener-types.js';

export interface LocalForwardingHost extends DeviceConnectionsHost {
  reconnect(): ReconnectConfig;
  exitOnForwardFailure(): boolean;
  status(status: ListenerStatus): void;
  /** exitOnForwardFailure: the session must fail with this error. */
  fatal(error: EdgeError): void;
  /** Time for the listen retry timers (default: the system clock). */
  clock?: Clock;
}

export class LocalForwarding {
  private readonly listeners = new Map<string, Listener>();
  private readonly connections: DeviceConnections;
  private started = false;
  private closed = false;

  constructor(private readonly host: LocalForwardingHost, local: LocalForwardConfig[], dynamic: DynamicForwardConfig[]) {
    this.connections = new DeviceConnections(host);
    for (const c of local) this.add({ ...c, kind: 'local' });
    for (const c of dynamic) this.add({ ...c, kind: 'dynamic' });
  }

  /** Opens every listener. Idempotent. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    for (const l of this.listeners.values()) void this.listen(l);
  }

  /** The SSH session came up (a link) or went down (undefined). */
  setLink(link: SshLink | undefined): void {
    this.connections.setLink(link);
  }

  /** Ids of every listener (to keep ids unique across a session's forward lists). */
  ids(): string[] {
    return [...this.listeners.keys()];
  }

  /** Connections open now (waiting or piped), including those of removed listeners. */
  get openConnections(): number {
    return this.connections.size;
  }

  status(): { localForwards: LocalForwardStatus[]; dynamicForwards: DynamicForwardStatus[] } {
    const all = [...this.listeners.values()].map((l) => l.status());
    return {
      localForwards: all.filter((s): s is LocalForwardStatus => s.kind === 'local'),
      dynamicForwards: all.filter((s): s is DynamicForwardStatus => s.kind === 'dynamic'),
    };
  }

  /**
   * Applies new lists in place: an unchanged listener keeps its socket and connections (its
   * destination, limits and allow-list are updated); a changed bind/port reopens it; a removed
   * one stops listening while its open connections run to their end.
   */
  async setAll(local: LocalForwardConfig[], dynamic: DynamicForwardConfig[]): Promise<void> {
    const desired: AnyListenerConfig[] = [...local.map((c) => ({ ...c, kind: 'local' as const })), ...dynamic.map((c) => ({ ...c, kind: 'dynamic' as const }))];
    desired.forEach((c) => compileListener(c)); // all valid before anything changes
    const ids = new Set(desired.map((c) => c.id));
    for (const l of [...this.listeners.values()]) if (!ids.has(l.config.id)) this.remove(l);
    for (const c of desired) {
      const existing = this.listeners.get(c.id);
      if (!existing) {
        const l = this.add(c);
        if (this.started && !this.closed) void this.listen(l);
      } else if (existing.kind === c.kind && existing.config.bind === c.bind && existing.config.port === c.port && existing.config.allowRelay === c.allowRelay) {
        existing.config = c;
        existing.allowList = compileListener(c).allowList;
        this.host.status(existing.status());
      } else {
        this.remove(existing);
        const l = this.add(c);
        if (this.started && !this.closed) void this.listen(l);
      }
    }
  }

  /** Stops accepting (every listener closes); open connections continue. */
  stopListening(): void {
    this.closed = true;
    this.connections.stopAccepting();
    for (const l of this.listeners.values()) l.stopListening();
  }

  /** Stops listening and ends every connection now. */
  destroy(reason: ChannelCloseReason): void {
    this.stopListening();
    this.connections.destroyAll(reason);
  }

  // ---------------------------------------------------------------- listeners

  private add(config: AnyListenerConfig): Listener {
    const host = this.host;
    const l: Listener = new Listener(config, {
      reconnect: () => host.reconnect(),
      exitOnForwardFailure: () => host.exitOnForwardFailure(),
      log: (level, message, fields) => host.log(level, message, fields),
      fatal: (error) => host.fatal(error),
      changed: () => host.status(l.status()),
      ...(host.clock ? { clock: host.clock } : {}),
    });
    this.listeners.set(config.id, l);
    return l;
  }

  private remove(l: Listener): void {
    l.removed = true;
    l.stopListening();
    if (this.listeners.get(l.config.id) === l) this.listeners.delete(l.config.id);
  }

  private describe(l: Listener): string {
    return describeListener(this.host.sessionId, l);
  }

  private async listen(l: Listener): Promise<void> {
    const generation = ++l.generation;
    l.retry.cancel();
    const { bind } = l.config;
    const shownBind = bind === '' || bind === '*' ? '*' : formatHost(bind.replace(/^\[(.*)\]$/, '$1'));
    let opened: { servers: net.Server[]; port: number };
    try {
      opened = await listenOnBind(bind, l.config.port, (socket) => this.connections.onConnection(l, socket), (message) => this.host.log('warn', `${this.describe(l)}: ${message}`));
    } catch (err) {
      if (generation !== l.generation || l.removed) return;
      return this.listenFailed(l, err as NodeJS.ErrnoException, `${shownBind}:${l.config.port}`);
    }
    const { servers, port } = opened;
    if (generation !== l.generation || l.removed || this.closed) {
      closeServers(servers);
      return;
    }
    l.servers = servers;
    l.localPort = port;
    l.up();
    const c = l.config;
    this.host.log('info', c.kind === 'local'
      ? `${this.describe(l)} listening on ${shownBind}:${port} -> ${formatHost(c.host)}:${c.hostPort} (reached from the SSH host)`
      : `${this.describe(l)} listening on ${shownBind}:${port} (SOCKS4/4a/5${c.username !== undefined ? ', username/password required' : ''}; ${c.allowDestinations.length ? `destinations ${c.allowDestinations.join(', ')}` : 'no destination allowed: allowDestinations is empty'})`);
  }

  private listenFailed(l: Listener, err: NodeJS.ErrnoException, where: string): void {
    const message = `${this.describe(l)} cannot listen on ${where}: ${listenErrorReason(err)}.`;
    const error = new EdgeError('EDGE_ERR_LOCAL_LISTEN_FAILED', message, { details: { forward: l.config.id, bind: l.config.bind, port: l.config.port, errno: err.code } });
    const generation = l.generation;
    l.failed(error, () => {
      if (generation === l.generation && !l.removed && !this.closed) void this.listen(l);
    }, { firstRetryLevel: 'error' });
  }
}
