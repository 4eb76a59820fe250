// The session's remote forwards (-R): requesting each one on the SSH host, a refusal (retried,
// given up or failing the session: forward-lifecycle.ts), cancelling it, and the bind check of a
// wildcard bind. Channels arriving on these forwards are the channel router's job.
import type { EventEmitter } from 'node:events';
import { EdgeError } from '../errors.js';
import type { Clock } from '../lifecycle/clock.js';
import { BindProbes, bindCheckAddress, bindWarning } from './bind-check.js';
import { ForwardRuntime } from './forward-runtime.js';
import type { HttpForwardCache } from './targets/http-forward-cache.js';
import { loadHttpForwardModule } from './targets/http/http-forward-loader.js';
import { cancelRemoteListener, describeListener, requestRemoteListener } from './remote-listener.js';
import type { ForwardConfig, SessionConfig } from './session-config.js';
import type { SshConnection } from './ssh-connect.js';
import type { SshSocketGate } from '../net/ssh-socket-gate.js';
import type { LogLevel, TunnelSessionEvents } from './session-types.js';

type RemoteConnection = SshConnection & { gate: SshSocketGate };

/** What the remote forwards need from their session. */
export interface RemoteForwardsHost {
  config: SessionConfig;
  httpForwards: HttpForwardCache;
  /** The session's event stream: forwardRequest, forward, reconnectAttempt. */
  events: EventEmitter<TunnelSessionEvents>;
  /** The live SSH connection, if any. */
  connection(): RemoteConnection | undefined;
  /** The route of the last connection attempt (masked); null = direct. */
  proxyRoute(): string | null;
  /** A forward changed state: wake the session's waiters. */
  wake(): void;
  /** Fails the session for good (exitOnForwardFailure). */
  fail(error: EdgeError): void;
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
  /** Time for the retry timers (default: the system clock). */
  clock?: Clock;
}

export class RemoteForwards {
  readonly forwards = new Map<string, ForwardRuntime>();
  /** Our own bind-check connections, which the channel router refuses on arrival. */
  readonly bindProbes = new BindProbes();

  constructor(private readonly host: RemoteForwardsHost) {}

  private get where(): string {
    return `${this.host.config.host}:${this.host.config.port}`;
  }

  add(config: ForwardConfig): ForwardRuntime {
    const host = this.host;
    const fwd: ForwardRuntime = new ForwardRuntime(config, {
      reconnect: () => host.config.reconnect,
      exitOnForwardFailure: () => host.config.exitOnForwardFailure,
      log: (level, message, fields) => host.log(level, message, fields),
      fatal: (error) => host.fail(error),
      changed: () => {
        host.events.emit('forward', fwd.status());
        host.wake();
      },
      ...(host.clock ? { clock: host.clock } : {}),
    });
    this.forwards.set(config.id, fwd);
    if (fwd.http) loadHttpForwardModule().catch(() => {}); // meanwhile the session connects; failures surface on use
    return fwd;
  }

  /** Adds a forward not there yet; requested at once when connected, else on the next connect. */
  addNew(config: ForwardConfig): ForwardRuntime {
    if (this.forwards.has(config.id)) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `Session ${this.host.config.id} already has a forward with id "${config.id}".`);
    }
    const fwd = this.add(config);
    if (this.host.connection()) this.request(fwd);
    return fwd;
  }

  /** Cancels a forward on the SSH host. Its open channels keep running until they end. */
  async remove(id: string): Promise<void> {
    const fwd = this.forwards.get(id);
    if (!fwd) throw new EdgeError('EDGE_ERR_UNKNOWN_FORWARD', `No forward "${id}" on session ${this.host.config.id}.`);
    this.forwards.delete(id);
    this.host.httpForwards.remove(fwd); // its pool closes once its channels have ended
    await this.cancelOnServer(fwd);
  }

  /** Applies a new forward list in place: unchanged forwards and their channels are untouched. */
  async setAll(desired: ForwardConfig[]): Promise<void> {
    desired.forEach((f) => ForwardRuntime.compile(f)); // validate all before changing anything
    const ids = new Set(desired.map((f) => f.id));
    const removals = [...this.forwards.keys()].filter((id) => !ids.has(id)).map((id) => this.remove(id));
    for (const config of desired) {
      const existing = this.forwards.get(config.id);
      if (!existing) {
        this.addNew(config);
      } else if (existing.sameListener(config)) {
        existing.update(config);
        this.host.httpForwards.refresh(existing);
      } else {
        removals.push(this.remove(config.id).then(() => { this.addNew(config); }));
      }
    }
    await Promise.all(removals);
  }

  /** A new SSH connection: every forward is requested on it. */
  requestAll(): void {
    for (const fwd of this.forwards.values()) this.request(fwd);
  }

  /** The SSH connection is gone: forwards wait for the next one (refused and stopped ones stay so). */
  connectionLost(): void {
    for (const fwd of this.forwards.values()) {
      fwd.retry.cancel();
      if (fwd.state !== 'refused' && fwd.state !== 'stopped') fwd.setState('pending');
      fwd.remotePort = null;
    }
  }

  /** The session ends: no forward is retried any more. */
  stopAll(): void {
    for (const fwd of this.forwards.values()) fwd.stop();
  }

  /** Cancels every forward on the SSH host (close: no new channels while open ones drain). */
  async cancelAllOnServer(): Promise<void> {
    await Promise.allSettled([...this.forwards.values()].map((f) => this.cancelOnServer(f)));
  }

  request(fwd: ForwardRuntime): void {
    const conn = this.host.connection();
    if (!conn || fwd.state === 'refused') return;
    fwd.retry.cancel();
    const listener = { ...fwd.config };
    this.host.events.emit('forwardRequest', { forwardId: fwd.config.id, bind: listener.remoteSocket || listener.bind, port: listener.port });
    try {
      requestRemoteListener(conn.client, listener, (err, remotePort) => {
        if (this.host.connection() !== conn || this.forwards.get(fwd.config.id) !== fwd) {
          // Session gone, or forward removed while the request was in flight.
          if (!err && this.host.connection() === conn) cancelRemoteListener(conn.client, listener, remotePort, () => {});
          return;
        }
        if (err) return this.refused(fwd, err);
        fwd.remotePort = listener.remoteSocket ? null : remotePort;
        fwd.up();
        if (fwd.http) this.host.httpForwards.prepare(fwd, (f) => this.forwards.get(f.config.id) === f); // ready (and any TLS warning logged) before traffic
        this.host.log('info', `session ${this.host.config.id}: forward ${fwd.config.id} up: ${describeListener(listener, remotePort)} on ${this.host.config.host} -> ${fwd.target?.url ?? '(application)'}`);
        if (!listener.remoteSocket) this.checkBind(fwd, conn, listener.bind, remotePort);
      });
    } catch (err) {
      this.refused(fwd, err as Error);
    }
  }

  /** A wildcard bind: is the port reachable on the SSH host's address? (bind-check.ts) */
  private checkBind(fwd: ForwardRuntime, conn: RemoteConnection, bind: string, remotePort: number): void {
    fwd.bindWarning = null;
    const proxyRoute = this.host.proxyRoute();
    const direct = proxyRoute === null || proxyRoute.startsWith('direct');
    const host = bindCheckAddress(bind, conn.socket, direct);
    if (!host) return;
    void this.bindProbes.probe(host, remotePort, conn.socket.localAddress ?? '').then((reachable) => {
      if (this.host.connection() !== conn || fwd.state !== 'up' || fwd.remotePort !== remotePort) return;
      if (reachable) return this.host.log('debug', `session ${this.host.config.id}: forward ${fwd.config.id}: bind check: reachable on ${host}:${remotePort}`, { forward: fwd.config.id });
      fwd.bindWarning = bindWarning(bind, host, remotePort);
      this.host.log('warn', `session ${this.host.config.id}: forward ${fwd.config.id}: ${fwd.bindWarning}`, { forward: fwd.config.id });
    });
  }

  private refused(fwd: ForwardRuntime, cause: Error): void {
    const { bind, port, remoteSocket } = fwd.config;
    const { reconnect } = this.host.config;
    const why = remoteSocket ? 'socket path in use (sshd StreamLocalBindUnlink no), directory missing or not writable, or AllowStreamLocalForwarding off' : 'port in use, or not allowed by the server\'s policy, e.g. PermitListen/GatewayPorts';
    const error = new EdgeError('EDGE_ERR_FORWARD_REFUSED', `SSH host ${this.where} refused to listen on ${describeListener(fwd.config)} for forward ${fwd.config.id} (${why}).`, { details: { forward: fwd.config.id, ...(remoteSocket ? { remoteSocket } : { bind, port }) }, cause });
    fwd.failed(error, () => this.request(fwd), {
      announce: ({ attempt, delayMs }) => {
        let cancelled = false;
        this.host.events.emit('reconnectAttempt', {
          kind: 'forward', host: this.host.config.host, port: this.host.config.port, forwardId: fwd.config.id,
          retryCount: attempt,
          retriesRemaining: reconnect.maxRetries < 0 ? -1 : reconnect.maxRetries - attempt,
          maxRetries: reconnect.maxRetries, delayMs, lastError: error,
          cancel: () => { cancelled = true; },
        });
        return !cancelled;
      },
    });
  }

  async cancelOnServer(fwd: ForwardRuntime): Promise<void> {
    const wasUp = fwd.state === 'up';
    const remotePort = fwd.remotePort;
    fwd.stop();
    const conn = this.host.connection();
    if (!wasUp || !conn || (remotePort === null && !fwd.config.remoteSocket)) return;
    await new Promise<void>((resolve) => {
      try {
        cancelRemoteListener(conn.client, fwd.config, remotePort ?? 0, (err) => {
          if (err) this.host.log('warn', `session ${this.host.config.id}: SSH host refused to cancel forward ${fwd.config.id} (${describeListener(fwd.config, remotePort)}): ${err.message}`, { code: 'EDGE_ERR_FORWARD_CANCEL_FAILED' });
          resolve();
        });
      } catch {
        resolve(); // connection already gone: nothing to cancel
      }
    });
  }
}
