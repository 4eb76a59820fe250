// The session's remote forwards (-R): requesting each one on the SSH host, its state, retrying
// a refused one (or failing the session under exitOnForwardFailure), cancelling it, and the bind
// check of a wildcard bind. Channels arriving on these forwards are the channel router's job.
import type { EventEmitter } from 'node:events';
import { EdgeError } from '../errors.js';
import { reconnectPolicy } from './backoff.js';
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
    const fwd = new ForwardRuntime(config, () => reconnectPolicy(this.host.config.reconnect));
    this.forwards.set(config.id, fwd);
    if (fwd.http) loadHttpForwardModule().catch(() => {}); // meanwhile the session connects; failures surface on use
    return fwd;
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
        fwd.retry.reset();
        fwd.lastError = null;
        this.setState(fwd, 'up');
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
    void this.bindProbes.probe(host, remotePort).then((reachable) => {
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
    fwd.lastError = new EdgeError('EDGE_ERR_FORWARD_REFUSED', `SSH host ${this.where} refused to listen on ${describeListener(fwd.config)} for forward ${fwd.config.id} (${why}).`, { details: { forward: fwd.config.id, ...(remoteSocket ? { remoteSocket } : { bind, port }) }, cause });
    const delayMs = fwd.retry.next();
    const exhausted = reconnect.mode === 'never' || (reconnect.maxRetries >= 0 && fwd.retry.attempt > reconnect.maxRetries);
    let cancelled = false;
    if (!exhausted) {
      this.host.events.emit('reconnectAttempt', {
        kind: 'forward', host: this.host.config.host, port: this.host.config.port, forwardId: fwd.config.id,
        retryCount: fwd.retry.attempt,
        retriesRemaining: reconnect.maxRetries < 0 ? -1 : reconnect.maxRetries - fwd.retry.attempt,
        maxRetries: reconnect.maxRetries, delayMs, lastError: fwd.lastError,
        cancel: () => { cancelled = true; },
      });
    }
    if (this.host.config.exitOnForwardFailure) {
      this.setState(fwd, 'refused');
      this.host.log('error', `${fwd.lastError.message} exitOnForwardFailure is set: the session fails.`, { code: fwd.lastError.code });
      this.host.fail(new EdgeError('EDGE_ERR_FORWARD_REFUSED', `${fwd.lastError.message} (exitOnForwardFailure)`, { details: fwd.lastError.details, retryable: false }));
      return;
    }
    if (exhausted || cancelled) {
      this.setState(fwd, 'refused');
      this.host.log('error', fwd.lastError.message, { code: fwd.lastError.code });
      return;
    }
    this.setState(fwd, 'retrying');
    this.host.log('warn', `${fwd.lastError.message} Retrying in ${delayMs} ms.`, { code: fwd.lastError.code });
    fwd.retry.schedule(delayMs, () => this.request(fwd));
  }

  async cancelOnServer(fwd: ForwardRuntime): Promise<void> {
    fwd.retry.cancel();
    const wasUp = fwd.state === 'up';
    const remotePort = fwd.remotePort;
    this.setState(fwd, 'stopped');
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

  setState(fwd: ForwardRuntime, state: ForwardRuntime['state']): void {
    if (fwd.state === state) return;
    fwd.state = state;
    this.host.events.emit('forward', fwd.status());
    this.host.wake();
  }
}
