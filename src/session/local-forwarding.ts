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
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { Client } from 'ssh2';
import { EdgeError, isEdgeError } from '../errors.js';
import { Backoff } from '../lifecycle/backoff.js';
import { reconnectPolicy } from './backoff.js';
import { pipeChannel, type ChannelCloseReason, type SshChannel } from './channel-pipe.js';
import type { ChannelInfo } from './session-types.js';
import { createDestinationAllowList, type DestinationAllowList } from './destination-allow-list.js';
import type { ForwardState } from './forward-runtime.js';
import type {
  DynamicForwardConfig, LocalForwardConfig, LocalListenerConfig, ReconnectConfig,
} from './session-config.js';
import { failureReply, successReply, SocksError } from './socks-protocol.js';
import { socksHandshake } from './socks-server.js';
import type { SshSocketGate } from './ssh-socket-gate.js';
import { checkHost, formatHost } from './target-url.js';
import { isMissingAddressFamily, listenErrorReason } from '../lifecycle/errno.js';

export type ListenerKind = 'local' | 'dynamic';

/** Why a connection to a local or dynamic forward was closed without a channel. */
export type LocalRejectReason =
  | 'max-channels' | 'destination-denied' | 'socks-auth' | 'socks-protocol'
  | 'session-unavailable' | 'channel-open-failed' | 'forward-stopped' | 'client-gone';

interface ListenerStatusBase {
  id: string;
  /** pending (not listening yet), up (listening), retrying (listen failed, retry scheduled), refused (gave up), stopped. */
  state: ForwardState;
  bind: string;
  port: number;
  /** The port actually listened on (differs from `port` when it is 0); null while not listening. */
  localPort: number | null;
  allowRelay: boolean;
  /** open = connected now (including those waiting for their channel). */
  channels: { open: number; total: number; rejected: number };
  /** Bytes from the connecting client toward the destination. */
  bytesIn: number;
  /** Bytes from the destination back to the client. */
  bytesOut: number;
  lastError: { code: string; message: string } | null;
}

export interface LocalForwardStatus extends ListenerStatusBase {
  kind: 'local';
  host: string;
  hostPort: number;
  /** tcp://host:hostPort, as reached from the SSH host. */
  target: string;
}

export interface DynamicForwardStatus extends ListenerStatusBase {
  kind: 'dynamic';
  allowDestinations: string[];
  /** SOCKS5 username/password authentication required. */
  auth: boolean;
}

export type ListenerStatus = LocalForwardStatus | DynamicForwardStatus;

/** What a local/dynamic channel looks like to the session's events (a ChannelInfo with a direction). */
export type LocalChannelInfo = ChannelInfo & { direction: ListenerKind };

export interface LocalForwardingHost {
  sessionId: string;
  reconnect(): ReconnectConfig;
  exitOnForwardFailure(): boolean;
  nextChannelId(): number;
  channelOpen(info: LocalChannelInfo): void;
  channelClose(info: LocalChannelInfo & { reason: ChannelCloseReason; bytesIn: number; bytesOut: number; durationMs: number; error?: Error }): void;
  channelRejected(info: LocalChannelInfo & { reason: LocalRejectReason; error?: EdgeError }): void;
  status(status: ListenerStatus): void;
  log(level: 'error' | 'warn' | 'info' | 'debug', message: string, fields?: Record<string, unknown>): void;
  /** exitOnForwardFailure: the session must fail with this error. */
  fatal(error: EdgeError): void;
}

interface SshLink {
  client: Client;
  gate: SshSocketGate;
}

/** The whole SOCKS handshake (greeting, auth, request) must arrive within this. */
export const SOCKS_HANDSHAKE_TIMEOUT_MS = 10_000;

type AnyListenerConfig = (LocalForwardConfig & { kind: 'local' }) | (DynamicForwardConfig & { kind: 'dynamic' });

class Listener {
  config: AnyListenerConfig;
  allowList: DestinationAllowList | undefined;
  servers: net.Server[] = [];
  state: ForwardState = 'pending';
  localPort: number | null = null;
  lastError: EdgeError | null = null;
  /** Listen retries in a row, paced by the session's reconnect settings (read at each retry). */
  readonly retry: Backoff;
  /** Bumped on every (re)listen and on removal: stale listen results are discarded. */
  generation = 0;
  removed = false;
  openChannels = 0;
  totalChannels = 0;
  rejectedChannels = 0;
  bytesIn = 0;
  bytesOut = 0;
  readonly liveStats = new Set<{ readonly bytesIn: number; readonly bytesOut: number }>();

  constructor(config: AnyListenerConfig, reconnect: () => ReconnectConfig) {
    this.config = config;
    this.retry = new Backoff(() => reconnectPolicy(reconnect()));
    this.allowList = LocalForwarding.compile(config).allowList;
  }

  get kind(): ListenerKind {
    return this.config.kind;
  }

  status(): ListenerStatus {
    const base: ListenerStatusBase = {
      id: this.config.id,
      state: this.state,
      bind: this.config.bind,
      port: this.config.port,
      localPort: this.localPort,
      allowRelay: this.config.allowRelay,
      channels: { open: this.openChannels, total: this.totalChannels, rejected: this.rejectedChannels },
      bytesIn: this.bytesIn + [...this.liveStats].reduce((n, s) => n + s.bytesIn, 0),
      bytesOut: this.bytesOut + [...this.liveStats].reduce((n, s) => n + s.bytesOut, 0),
      lastError: this.lastError ? { code: this.lastError.code, message: this.lastError.message } : null,
    };
    const c = this.config;
    return c.kind === 'local'
      ? { ...base, kind: 'local', host: c.host, hostPort: c.hostPort, target: localTarget(c) }
      : { ...base, kind: 'dynamic', allowDestinations: [...c.allowDestinations], auth: c.username !== undefined };
  }
}

function localTarget(c: LocalForwardConfig): string {
  return `tcp://${formatHost(c.host)}:${c.hostPort}`;
}

/** 'localhost', 127.0.0.0/8, ::1 (and ::ffff:127.x): addresses only this device can reach. */
export function isLoopbackBind(bind: string): boolean {
  const b = bind.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (b === 'localhost') return true;
  if (net.isIPv4(b)) return b.startsWith('127.');
  if (net.isIPv6(b)) {
    const normalized = checkHost(b).host;
    return normalized === '::1' || /^::ffff:127\./.test(b) || /^::ffff:7f[0-9a-f]{2}:/.test(normalized ?? '');
  }
  return false;
}

/** Which sockets a bind needs: each slot lists alternatives; the first slot must succeed, later ones are best effort. */
function listenSlots(bind: string): string[][] {
  const b = bind.replace(/^\[(.*)\]$/, '$1');
  if (b === '' || b === '*') return [['::', '0.0.0.0']];
  if (b.toLowerCase() === 'localhost') return [['127.0.0.1'], ['::1']];
  return [[b]];
}

function listenOn(address: string, port: number, onConnection: (socket: net.Socket) => void): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, onConnection);
    server.once('error', reject);
    server.listen({ host: address, port, ...(address === '::' ? { ipv6Only: false } : {}) }, () => {
      server.off('error', reject);
      server.on('error', () => {}); // errors on accept are per connection
      resolve(server);
    });
  });
}

function closeServers(servers: net.Server[]): void {
  for (const s of servers) s.close();
}

export class LocalForwarding {
  private readonly listeners = new Map<string, Listener>();
  /** Every accepted connection not closed yet (waiting for its channel, or piped), with how to end it. */
  private readonly live = new Map<net.Socket, (reason: ChannelCloseReason) => void>();
  private link: SshLink | undefined;
  private readonly linkWaiters = new Set<() => void>();
  private started = false;
  private closed = false;

  constructor(private readonly host: LocalForwardingHost, local: LocalForwardConfig[], dynamic: DynamicForwardConfig[]) {
    for (const c of local) this.add({ ...c, kind: 'local' });
    for (const c of dynamic) this.add({ ...c, kind: 'dynamic' });
  }

  /** Validates one listener's settings; throws EDGE_ERR_INVALID_CONFIG naming the key. */
  static compile(config: AnyListenerConfig): { allowList: DestinationAllowList | undefined } {
    const list = config.kind === 'local' ? 'localForwards' : 'dynamicForwards';
    const key = `${list}[${config.id}]`;
    const bad = (k: string, msg: string) => new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.${k}: ${msg}`, { details: { key: `${key}.${k}` } });
    if (typeof config.id !== 'string' || config.id === '') throw bad('id', 'must be a non-empty string.');
    if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) throw bad('port', `${config.port} is not a port number (0–65535; 0 = any free port).`);
    if (typeof config.bind !== 'string') throw bad('bind', 'must be a string ("localhost", "127.0.0.1", "::1", or with allowRelay "0.0.0.0", "::", "" for all).');
    const bindHost = config.bind.replace(/^\[(.*)\]$/, '$1');
    if (bindHost !== '' && bindHost !== '*') {
      const checked = checkHost(bindHost);
      if (checked.error !== undefined) throw bad('bind', `${checked.error}.`);
    }
    if (!isLoopbackBind(config.bind) && config.allowRelay !== true) {
      throw bad('allowRelay', `bind address ${config.bind === '' || config.bind === '*' ? '"" (all interfaces)' : JSON.stringify(config.bind)} is not loopback: other machines could use this tunnel. Set ${key}.allowRelay to true to allow that (ssh -g; Tectia allow-relay), or bind "localhost".`);
    }
    if (!Number.isInteger(config.maxChannels) || config.maxChannels < 1) throw bad('maxChannels', `must be a positive integer, got ${config.maxChannels}.`);
    for (const k of ['idleTimeoutMs', 'sessionWaitMs'] as const) {
      if (!Number.isInteger(config[k]) || config[k] < 0) throw bad(k, `must be 0 or a positive number of milliseconds, got ${config[k]}.`);
    }
    if (!Number.isInteger(config.openTimeoutMs) || config.openTimeoutMs < 1) throw bad('openTimeoutMs', `must be a positive number of milliseconds, got ${config.openTimeoutMs}.`);
    if (config.kind === 'local') {
      if (typeof config.host !== 'string') throw bad('host', 'the destination host is required.');
      const checked = checkHost(config.host.replace(/^\[(.*)\]$/, '$1'));
      if (checked.error !== undefined) throw bad('host', `${checked.error}.`);
      if (!Number.isInteger(config.hostPort) || config.hostPort < 1 || config.hostPort > 65535) throw bad('hostPort', `${config.hostPort} is not a port number (1–65535).`);
      return { allowList: undefined };
    }
    if (!Array.isArray(config.allowDestinations)) throw bad('allowDestinations', 'must be a list of host:port patterns.');
    if ((config.username === undefined) !== (config.password === undefined)) {
      throw bad(config.username === undefined ? 'username' : 'password', 'SOCKS authentication needs both a username and a password.');
    }
    if (config.username !== undefined && (Buffer.byteLength(config.username) > 255 || Buffer.byteLength(config.password!) > 255 || config.username === '')) {
      throw bad('username', 'the SOCKS5 username and password must be 1–255 bytes.');
    }
    return { allowList: createDestinationAllowList(config.allowDestinations, `${key}.allowDestinations`) };
  }

  /** Opens every listener. Idempotent. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    for (const l of this.listeners.values()) void this.listen(l);
  }

  /** The SSH session came up (a link) or went down (undefined). */
  setLink(link: SshLink | undefined): void {
    this.link = link;
    if (link) for (const wake of [...this.linkWaiters]) wake();
  }

  /** Ids of every listener (to keep ids unique across a session's forward lists). */
  ids(): string[] {
    return [...this.listeners.keys()];
  }

  /** Connections open now (waiting or piped), including those of removed listeners. */
  get openConnections(): number {
    return this.live.size;
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
    desired.forEach((c) => LocalForwarding.compile(c)); // all valid before anything changes
    const ids = new Set(desired.map((c) => c.id));
    for (const l of [...this.listeners.values()]) if (!ids.has(l.config.id)) this.remove(l);
    for (const c of desired) {
      const existing = this.listeners.get(c.id);
      if (!existing) {
        const l = this.add(c);
        if (this.started && !this.closed) void this.listen(l);
      } else if (existing.kind === c.kind && existing.config.bind === c.bind && existing.config.port === c.port && existing.config.allowRelay === c.allowRelay) {
        existing.config = c;
        existing.allowList = LocalForwarding.compile(c).allowList;
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
    for (const l of this.listeners.values()) {
      l.retry.cancel();
      l.generation += 1;
      closeServers(l.servers);
      l.servers = [];
      l.localPort = null;
      this.setState(l, 'stopped');
    }
  }

  /** Stops listening and ends every connection now. */
  destroy(reason: ChannelCloseReason): void {
    this.stopListening();
    for (const end of [...this.live.values()]) end(reason);
  }

  // ---------------------------------------------------------------- listeners

  private add(config: AnyListenerConfig): Listener {
    const l = new Listener(config, () => this.host.reconnect());
    this.listeners.set(config.id, l);
    return l;
  }

  private remove(l: Listener): void {
    l.removed = true;
    l.generation += 1;
    l.retry.cancel();
    closeServers(l.servers);
    l.servers = [];
    l.localPort = null;
    this.setState(l, 'stopped');
    if (this.listeners.get(l.config.id) === l) this.listeners.delete(l.config.id);
  }

  private describe(l: Listener): string {
    const what = l.kind === 'local' ? `local forward ${l.config.id}` : `dynamic (SOCKS) forward ${l.config.id}`;
    return `session ${this.host.sessionId}: ${what}`;
  }

  private async listen(l: Listener): Promise<void> {
    const generation = ++l.generation;
    l.retry.cancel();
    const { bind } = l.config;
    const shownBind = bind === '' || bind === '*' ? '*' : formatHost(bind.replace(/^\[(.*)\]$/, '$1'));
    const servers: net.Server[] = [];
    let port = l.config.port;
    try {
      for (const [i, alternatives] of listenSlots(bind).entries()) {
        let lastErr: unknown;
        let bound = false;
        for (const address of alternatives) {
          try {
            const server = await listenOn(address, port, (socket) => this.onConnection(l, socket));
            servers.push(server);
            port = (server.address() as AddressInfo).port;
            bound = true;
            break;
          } catch (err) {
            lastErr = err;
            const code = (err as NodeJS.ErrnoException).code;
            if (!isMissingAddressFamily(code)) break;
          }
        }
        if (!bound) {
          if (i === 0) throw lastErr;
          const code = (lastErr as NodeJS.ErrnoException).code;
          if (!isMissingAddressFamily(code)) {
            this.host.log('warn', `${this.describe(l)}: listening on ${alternatives.join(', ')} port ${port} too failed (${code ?? String(lastErr)}); it listens on ${listenSlots(bind)[0]![0]} only.`);
          }
        }
      }
    } catch (err) {
      closeServers(servers);
      if (generation !== l.generation || l.removed) return;
      return this.listenFailed(l, err as NodeJS.ErrnoException, `${shownBind}:${l.config.port}`);
    }
    if (generation !== l.generation || l.removed || this.closed) {
      closeServers(servers);
      return;
    }
    l.servers = servers;
    l.localPort = port;
    l.retry.reset();
    l.lastError = null;
    this.setState(l, 'up');
    const c = l.config;
    this.host.log('info', c.kind === 'local'
      ? `${this.describe(l)} listening on ${shownBind}:${port} -> ${formatHost(c.host)}:${c.hostPort} (reached from the SSH host)`
      : `${this.describe(l)} listening on ${shownBind}:${port} (SOCKS4/4a/5${c.username !== undefined ? ', username/password required' : ''}; ${c.allowDestinations.length ? `destinations ${c.allowDestinations.join(', ')}` : 'no destination allowed: allowDestinations is empty'})`);
  }

  private listenFailed(l: Listener, err: NodeJS.ErrnoException, where: string): void {
    const why = listenErrorReason(err);
    const message = `${this.describe(l)} cannot listen on ${where}: ${why}.`;
    l.lastError = new EdgeError('EDGE_ERR_LOCAL_LISTEN_FAILED', message, { details: { forward: l.config.id, bind: l.config.bind, port: l.config.port, errno: err.code } });
    const delayMs = l.retry.next();
    if (this.host.exitOnForwardFailure()) {
      this.setState(l, 'refused');
      this.host.log('error', `${message} exitOnForwardFailure is set: the session fails.`, { code: l.lastError.code });
      this.host.fatal(new EdgeError('EDGE_ERR_LOCAL_LISTEN_FAILED', `${message} (exitOnForwardFailure)`, { details: l.lastError.details, retryable: false }));
      return;
    }
    const rc = this.host.reconnect();
    if (rc.mode === 'never' || (rc.maxRetries >= 0 && l.retry.attempt > rc.maxRetries)) {
      this.setState(l, 'refused');
      this.host.log('error', `${message} Giving up (reconnect settings).`, { code: l.lastError.code });
      return;
    }
    this.setState(l, 'retrying');
    this.host.log(l.retry.attempt === 1 ? 'error' : 'warn', `${message} Retrying in ${delayMs} ms.`, { code: l.lastError.code });
    const generation = l.generation;
    l.retry.schedule(delayMs, () => {
      if (generation === l.generation && !l.removed && !this.closed) void this.listen(l);
    });
  }

  private setState(l: Listener, state: ForwardState): void {
    if (l.state === state) return;
    l.state = state;
    this.host.status(l.status());
  }

  // ---------------------------------------------------------------- connections

  private onConnection(l: Listener, socket: net.Socket): void {
    socket.on('error', () => {}); // reported through 'close' and the pipe
    const info: LocalChannelInfo = {
      id: this.host.nextChannelId(),
      sessionId: this.host.sessionId,
      forwardId: l.config.id,
      direction: l.kind,
      originAddress: socket.remoteAddress ?? '',
      originPort: socket.remotePort ?? 0,
      connectedAddress: socket.localAddress ?? '',
      connectedPort: socket.localPort ?? 0,
      bind: l.config.bind,
      requestedPort: l.config.port,
      target: l.config.kind === 'local' ? localTarget(l.config) : null,
    };
    if (l.removed || l.state !== 'up' || this.closed) {
      return this.reject(l, info, socket, 'forward-stopped');
    }
    if (l.openChannels >= l.config.maxChannels) {
      return this.reject(l, info, socket, 'max-channels', new EdgeError('EDGE_ERR_MAX_CHANNELS', `Connection from ${info.originAddress}:${info.originPort} to ${l.kind} forward ${l.config.id} closed: ${l.config.maxChannels} connections already open (maxChannels).`));
    }
    l.openChannels += 1; // waiting connections count toward maxChannels
    const abort = new AbortController();
    this.live.set(socket, () => abort.abort());
    socket.once('close', () => abort.abort());
    void this.serve(l, socket, info, abort.signal);
  }

  private async serve(l: Listener, socket: net.Socket, info: LocalChannelInfo, signal: AbortSignal): Promise<void> {
    const c = l.config;
    let socksVersion: 4 | 5 | undefined;
    let pending = true;
    try {
      let dest: { host: string; port: number };
      let rest: Buffer = Buffer.alloc(0);
      if (c.kind === 'local') {
        dest = { host: c.host.replace(/^\[(.*)\]$/, '$1'), port: c.hostPort };
      } else {
        const hs = await socksHandshake(socket, {
          timeoutMs: SOCKS_HANDSHAKE_TIMEOUT_MS,
          signal,
          ...(c.username !== undefined ? { auth: { username: c.username, password: c.password! } } : {}),
        });
        socksVersion = hs.request.version;
        dest = { host: hs.request.host, port: hs.request.port };
        rest = hs.rest;
        info.target = `tcp://${formatHost(dest.host)}:${dest.port}`;
        if (!(l.allowList?.allows(dest.host, dest.port) ?? false)) {
          throw new EdgeError('EDGE_ERR_DESTINATION_DENIED', `SOCKS${socksVersion} request from ${info.originAddress}:${info.originPort} for ${formatHost(dest.host)}:${dest.port} on dynamic forward ${c.id} refused: not in allowDestinations ${JSON.stringify(c.allowDestinations)}.`, { details: { forward: c.id, host: dest.host, port: dest.port } });
        }
      }
      const { channel, link } = await this.openChannel(l, socket, info, dest, signal);
      if (signal.aborted || socket.destroyed) {
        channel.close();
        throw closedByClient(signal);
      }
      if (socksVersion !== undefined) socket.write(successReply(socksVersion));
      if (rest.length > 0) socket.unshift(rest);
      l.openChannels -= 1;
      pending = false;
      this.pipe(l, info, socket, channel, link);
    } catch (err) {
      if (pending) l.openChannels -= 1;
      const error = err instanceof SocksError
        ? new EdgeError(err.kind === 'auth' ? 'EDGE_ERR_SOCKS_AUTH_FAILED' : 'EDGE_ERR_SOCKS_PROTOCOL', `SOCKS client ${info.originAddress}:${info.originPort} on dynamic forward ${c.id}: ${err.message}.`)
        : isEdgeError(err) ? err : new EdgeError('EDGE_ERR_CHANNEL_OPEN_FAILED', String(err), { cause: err });
      const reason: LocalRejectReason = err instanceof SocksError ? (err.kind === 'auth' ? 'socks-auth' : 'socks-protocol')
        : error.code === 'EDGE_ERR_DESTINATION_DENIED' ? 'destination-denied'
          : error.code === 'EDGE_ERR_SESSION_UNAVAILABLE' ? 'session-unavailable'
            : error.code === 'EDGE_ERR_CHANNEL_OPEN_FAILED' ? 'channel-open-failed'
              : error.code === 'EDGE_ERR_CLOSED' ? (socket.destroyed ? 'client-gone' : 'forward-stopped')
                : 'channel-open-failed';
      if (socksVersion !== undefined && !socket.destroyed) {
        const why = reason === 'destination-denied' ? 'denied'
          : error.details?.sshReason === 1 ? 'denied'
            : reason === 'channel-open-failed' ? (/refused/i.test(error.message) ? 'refused' : 'unreachable')
              : 'general';
        socket.write(failureReply(socksVersion, why));
      }
      this.reject(l, info, socket, reason, error);
    }
  }

  /** Waits (up to sessionWaitMs) for the SSH session, then opens the direct-tcpip channel (up to openTimeoutMs). */
  private async openChannel(l: Listener, socket: net.Socket, info: LocalChannelInfo, dest: { host: string; port: number }, signal: AbortSignal): Promise<{ channel: SshChannel; link: SshLink }> {
    const c = l.config;
    const where = `${formatHost(dest.host)}:${dest.port}`;
    let link = this.link;
    if (!link) {
      if (c.sessionWaitMs > 0) {
        this.host.log('debug', `${this.describe(l)}: connection from ${info.originAddress}:${info.originPort} waits up to ${c.sessionWaitMs} ms for the SSH session`);
        link = await this.waitForLink(c.sessionWaitMs, signal);
      }
      if (signal.aborted) throw closedByClient(signal);
      if (!link) {
        throw new EdgeError('EDGE_ERR_SESSION_UNAVAILABLE', `Connection from ${info.originAddress}:${info.originPort} to ${l.kind} forward ${c.id} (-> ${where}) closed: the SSH session ${this.host.sessionId} is down and did not come back within ${c.sessionWaitMs} ms (sessionWaitMs).`, { details: { forward: c.id } });
      }
    }
    const conn = link;
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (err: EdgeError | null, channel?: SshChannel) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve({ channel: channel!, link: conn });
      };
      const onAbort = () => finish(closedByClient(signal));
      const timer = setTimeout(() => finish(new EdgeError('EDGE_ERR_CHANNEL_OPEN_FAILED', `SSH host did not confirm the channel to ${where} for ${l.kind} forward ${c.id} within ${c.openTimeoutMs} ms (openTimeoutMs).`, { details: { forward: c.id, host: dest.host, port: dest.port } })), c.openTimeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        conn.client.forwardOut(info.originAddress || '127.0.0.1', info.originPort, dest.host, dest.port, (err, channel) => {
          if (done) {
            if (!err) channel.close();
            return;
          }
          if (err) {
            const sshReason = (err as Error & { reason?: number }).reason;
            const text = err.message.replace(/^\(SSH\) Channel open failure: ?/, '');
            finish(new EdgeError('EDGE_ERR_CHANNEL_OPEN_FAILED', `SSH host refused the channel to ${where} for ${l.kind} forward ${c.id}: ${text || 'no reason given'}${sshReason === 1 ? ' (administratively prohibited: forwarding to that destination is not permitted there, e.g. AllowTcpForwarding/PermitOpen)' : ''}.`, { details: { forward: c.id, host: dest.host, port: dest.port, ...(typeof sshReason === 'number' ? { sshReason } : {}) } }));
            return;
          }
          finish(null, channel as unknown as SshChannel);
        });
      } catch (err) {
        finish(new EdgeError('EDGE_ERR_SESSION_UNAVAILABLE', `Connection to ${l.kind} forward ${c.id} closed: the SSH session ${this.host.sessionId} ended before the channel to ${where} could be opened.`, { cause: err }));
      }
    });
  }

  private waitForLink(timeoutMs: number, signal: AbortSignal): Promise<SshLink | undefined> {
    return new Promise((resolve) => {
      const done = (link: SshLink | undefined) => {
        clearTimeout(timer);
        this.linkWaiters.delete(check);
        signal.removeEventListener('abort', onAbort);
        resolve(link);
      };
      const check = () => { if (this.link) done(this.link); };
      const onAbort = () => done(undefined);
      const timer = setTimeout(() => done(undefined), timeoutMs);
      this.linkWaiters.add(check);
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
    });
  }

  private pipe(l: Listener, info: LocalChannelInfo, socket: net.Socket, channel: SshChannel, link: SshLink): void {
    const openedAt = Date.now();
    l.openChannels += 1;
    l.totalChannels += 1;
    this.host.channelOpen(info);
    let view: { readonly bytesIn: number; readonly bytesOut: number } | undefined;
    const pipe = pipeChannel(channel, socket, {
      idleTimeoutMs: l.config.idleTimeoutMs,
      gate: link.gate,
      onClose: (reason, stats, error) => {
        this.live.delete(socket);
        l.openChannels -= 1;
        if (view) l.liveStats.delete(view);
        // The pipe counts from the SSH side: its bytesIn went to our client, bytesOut came from it.
        l.bytesIn += stats.bytesOut;
        l.bytesOut += stats.bytesIn;
        this.host.channelClose({ ...info, reason, bytesIn: stats.bytesOut, bytesOut: stats.bytesIn, durationMs: Date.now() - openedAt, ...(error ? { error } : {}) });
      },
    });
    view = { get bytesIn() { return pipe.stats.bytesOut; }, get bytesOut() { return pipe.stats.bytesIn; } };
    l.liveStats.add(view);
    this.live.set(socket, (reason) => pipe.destroy(reason));
    socket.resume();
  }

  private reject(l: Listener, info: LocalChannelInfo, socket: net.Socket, reason: LocalRejectReason, error?: EdgeError): void {
    this.live.delete(socket);
    l.rejectedChannels += 1;
    // A clean close: FIN after anything already written (a SOCKS reply), unread input discarded.
    if (!socket.destroyed) {
      socket.resume();
      socket.end();
      setTimeout(() => socket.destroy(), 2_000).unref();
    }
    const level = reason === 'client-gone' || reason === 'forward-stopped' ? 'debug' : 'info';
    this.host.log(level, `${this.describe(l)}: closed connection from ${info.originAddress}:${info.originPort}: ${reason}${error ? ` (${error.message})` : ''}`, { code: error?.code });
    this.host.channelRejected({ ...info, reason, ...(error ? { error } : {}) });
  }
}

function closedByClient(_signal?: AbortSignal): EdgeError {
  return new EdgeError('EDGE_ERR_CLOSED', 'The connection ended (client gone or forward stopped) before its channel was open.');
}
