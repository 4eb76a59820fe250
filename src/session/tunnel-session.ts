// One SSH session and all its remote forwards: connect → verify host key → authenticate →
// request every forward → serve channels → on loss, reconnect with backoff and request every
// forward again. This is the unit a worker thread runs; it knows nothing of config files,
// supervisors or telemetry exporters, and reports everything through events and status().
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { asEdgeError, EdgeError, isEdgeError } from '../errors.js';
import { Backoff } from '../lifecycle/backoff.js';
import { busyRetryDelayMs, credentialRetryDelayMs, isCredentialFailure, isGatewayBusy, reconnectGiveUp, reconnectPolicy } from './backoff.js';
import { credentialsForAttempt, loadCredentials } from './credentials.js';
import type { AuthIdentity } from './auth.js';
import { CertificateExpiryWarning } from './certificate-expiry.js';
import type { ChannelCloseReason } from '../net/channel-pipe.js';
import type { ForwardStatus } from './forward-runtime.js';
import { createHostKeyVerifier } from './host-keys/host-key-verifier.js';
import { ConditionWaiters } from './condition-waiters.js';
import { LocalForwarding } from './device/local-forwarding.js';
import { maskProxyUrl } from '../grammar/proxy-url.js';
import { resolveProxyRoute } from './proxy/proxy-connect.js';
import { dynamicForwardWithDefaults, forwardWithDefaults, localForwardWithDefaults, sessionWithDefaults, type DynamicForwardConfigInput, type ForwardConfigInput, type LocalForwardConfigInput, type SessionConfig, type SessionConfigInput } from './session-config.js';
import { openSshConnection, sessionError, type SshConnection } from './ssh-connect.js';
import { installForwardRouting } from '../ssh2/forward-routing.js';
import { SshSocketGate } from '../net/ssh-socket-gate.js';
import { HttpForwardCache } from './targets/http-forward-cache.js';
import { ChannelRouter } from './channel-router.js';
import { RemoteForwards } from './remote-forwards.js';
import { checkUniqueIds, validateSession } from './session-validation.js';
import type { LogLevel, SessionState, SessionStatus, TunnelSessionEvents, TunnelSessionOptions } from './session-types.js';
export type { SessionState, LogLevel, ChannelInfo, ChannelClosedInfo, ReconnectAttemptInfo, IncomingChannel, SessionStatus, TunnelSessionEvents, TunnelSessionOptions } from './session-types.js';

export class TunnelSession extends EventEmitter<TunnelSessionEvents> {
  readonly config: SessionConfig;
  private readonly verifyHostKey: ReturnType<typeof createHostKeyVerifier>;
  /** The remote forwards (-R) and their lifecycle on the SSH host (remote-forwards.ts). */
  private readonly remote: RemoteForwards;
  /** Routes, admits and serves every channel of the remote forwards (channel-router.ts). */
  private readonly router: ChannelRouter;
  private readonly stopController = new AbortController();
  /** The HTTP side of each forward with an HTTP target (targets/http-forward-cache.ts). */
  private readonly httpForwards: HttpForwardCache;
  private conn: (SshConnection & { gate: SshSocketGate }) | undefined;
  private stateValue: SessionState = 'idle';
  private lastError: EdgeError | null = null;
  private attempt = 0;
  private nextChannelId: number;
  private running: Promise<void> | undefined;
  private closing: Promise<boolean> | undefined;
  private readonly stateWaiters = new ConditionWaiters();
  private readonly backoffOptions: NonNullable<TunnelSessionOptions['backoff']>;
  /** Ends the current backoff wait early (retryNow). */
  private wakeBackoff: (() => void) | undefined;
  /** Local (-L) and dynamic (-D) forwards: listeners on the device. */
  private readonly local: LocalForwarding;
  /** The route of the last connection attempt (masked), for status. */
  private proxyRoute: string | null = null;
  /** How the last successful connection logged in. */
  private lastAuth: AuthIdentity | null = null;
  /** Fires the "certificate expires soon" warning while connected. */
  private readonly expiryWarning: CertificateExpiryWarning;

  /** Validates the whole configuration (throws EdgeError) before anything touches the network. */
  constructor(input: SessionConfigInput | SessionConfig, options: TunnelSessionOptions = {}) {
    super();
    this.config = sessionWithDefaults(input);
    this.nextChannelId = options.firstChannelId ?? 1;
    this.backoffOptions = options.backoff ?? {};
    this.expiryWarning = new CertificateExpiryWarning(this.config.id, (message, fields) => this.log('warn', message, fields));
    validateSession(this.config);
    this.httpForwards = new HttpForwardCache(this.config.id, (level, message, fields) => this.log(level, message, fields));
    this.remote = new RemoteForwards({
      config: this.config,
      httpForwards: this.httpForwards,
      events: this,
      connection: () => this.conn,
      proxyRoute: () => this.proxyRoute,
      wake: () => this.stateWaiters.wake(),
      fail: (error) => this.fail(error),
      log: (level, message, fields) => this.log(level, message, fields),
    });
    this.router = new ChannelRouter({
      sessionId: this.config.id,
      forwards: this.remote.forwards,
      bindProbes: this.remote.bindProbes,
      httpForwards: this.httpForwards,
      events: this,
      onIncomingChannel: options.onIncomingChannel,
      channelTraceContext: options.channelTraceContext,
      nextChannelId: () => this.nextChannelId++,
      connection: () => this.conn,
      stopped: () => this.stateValue === 'stopped',
      log: (level, message, fields) => this.log(level, message, fields),
    });
    this.verifyHostKey = createHostKeyVerifier(this.config.hostKeys, this.config.host, this.config.port,
      (level, message) => this.log(level, message));
    // Loaded here once so a bad key or certificate file fails at startup (an expired certificate
    // may be renewed before the first attempt); every attempt loads them again (run()).
    try { loadCredentials(this.config.auth); } catch (err) { if (!isEdgeError(err, 'EDGE_ERR_CERT_EXPIRED')) throw err; }
    if ((this.config.auth.privateKeys ?? []).length === 0 && !this.config.auth.agent && this.config.auth.password === undefined) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `Session ${this.config.id} has no credentials: configure a private key, an ssh-agent socket or a password.`);
    }
    for (const fwd of this.config.forwards) this.remote.add(fwd);
    this.local = new LocalForwarding({
      sessionId: this.config.id,
      reconnect: () => this.config.reconnect,
      exitOnForwardFailure: () => this.config.exitOnForwardFailure,
      nextChannelId: () => this.nextChannelId++,
      channelOpen: (info) => this.emit('channelOpen', info),
      channelClose: (info) => this.emit('channelClose', info),
      channelRejected: (info) => this.emit('channelRejected', info),
      status: (status) => { this.emit('localForward', status); this.stateWaiters.wake(); },
      log: (level, message, fields) => this.log(level, message, fields),
      fatal: (error) => this.fail(error),
    }, this.config.localForwards, this.config.dynamicForwards);
    // An 'error'-less emitter would crash the process on emit('error'); we never emit it.
  }

  get state(): SessionState {
    return this.stateValue;
  }

  /** Starts connecting (and reconnecting) in the background. Idempotent. */
  start(): this {
    if (!this.running) {
      this.local.start();
      this.running = this.run().catch((err) => {
        const error = asEdgeError(err, `session ${this.config.id}'s connect loop`);
        this.log('error', `session ${this.config.id} loop crashed: ${error.message}`, { code: error.code });
        this.lastError = error;
        this.setState('failed', error);
      });
    }
    return this;
  }

  /**
   * Ends a backoff wait now (admin `POST /sessions/<id>/reconnect`): the next attempt starts at
   * once, with keys and known_hosts read again. Returns false when the session was not waiting
   * (connecting, connected, failed or stopped), which changes nothing.
   */
  retryNow(): boolean {
    if (this.stateValue !== 'backoff' || !this.wakeBackoff) return false;
    this.log('info', `session ${this.config.id}: retrying now on request`);
    this.wakeBackoff();
    return true;
  }

  /** Resolves once connected; rejects when the session fails or is closed first. */
  async waitUntilConnected(): Promise<void> {
    await this.stateWaiters.waitFor(() => {
      if (this.stateValue === 'connected') return true;
      if (this.stateValue === 'failed' || this.stateValue === 'stopped') {
        throw this.lastError ?? new EdgeError('EDGE_ERR_CLOSED', `Session ${this.config.id} is ${this.stateValue}.`);
      }
      return false;
    });
  }

  /** Resolves with the server-side port once the forward is up; rejects on its first refusal. */
  waitForForward(id: string): Promise<number> {
    return this.stateWaiters.waitFor(() => {
      const fwd = this.remote.forwards.get(id);
      if (!fwd) throw new EdgeError('EDGE_ERR_UNKNOWN_FORWARD', `No forward "${id}" on session ${this.config.id}.`);
      if (fwd.state === 'up') return fwd.remotePort ?? 0; // 0: a remote socket forward
      if (fwd.state === 'retrying' || fwd.state === 'refused') throw fwd.lastError!;
      if (this.stateValue === 'failed' || this.stateValue === 'stopped') {
        throw this.lastError ?? new EdgeError('EDGE_ERR_CLOSED', `Session ${this.config.id} is ${this.stateValue}.`);
      }
      return false;
    });
  }

  /** Adds a forward; requested at once when connected, else on the next connect. */
  addForward(input: ForwardConfigInput): ForwardStatus {
    return this.remote.addNew(forwardWithDefaults(input, this.remote.forwards.size)).status();
  }

  /** Cancels a forward on the SSH host. Its open channels keep running until they end. */
  removeForward(id: string): Promise<void> {
    return this.remote.remove(id);
  }

  /** Applies a new forward list in place: unchanged forwards and their channels are untouched. */
  setForwards(inputs: ForwardConfigInput[]): Promise<void> {
    return this.remote.setAll(inputs.map((f, i) => forwardWithDefaults(f, i)));
  }

  /** Applies a new local-forward (-L) list in place, like setForwards (listeners of unchanged forwards stay open). */
  async setLocalForwards(inputs: LocalForwardConfigInput[]): Promise<void> {
    await this.setListenerForwards({ localForwards: inputs });
  }

  /** Applies a new dynamic-forward (-D) list in place. */
  async setDynamicForwards(inputs: DynamicForwardConfigInput[]): Promise<void> {
    await this.setListenerForwards({ dynamicForwards: inputs });
  }

  /** Both device-listener lists at once (an absent one is kept); validated whole before anything changes. */
  async setListenerForwards(lists: { localForwards?: LocalForwardConfigInput[]; dynamicForwards?: DynamicForwardConfigInput[] }): Promise<void> {
    const local = lists.localForwards ? lists.localForwards.map(localForwardWithDefaults) : this.config.localForwards;
    const dynamic = lists.dynamicForwards ? lists.dynamicForwards.map(dynamicForwardWithDefaults) : this.config.dynamicForwards;
    checkUniqueIds([...this.remote.forwards.keys()], local.map((f) => f.id), dynamic.map((f) => f.id));
    await this.local.setAll(local, dynamic);
    this.config.localForwards = local;
    this.config.dynamicForwards = dynamic;
  }

  status(): SessionStatus {
    const listeners = this.local.status();
    return {
      id: this.config.id,
      state: this.stateValue,
      host: this.config.host,
      port: this.config.port,
      attempt: this.attempt,
      serverBanner: this.conn?.serverBanner ?? null,
      hostKeyFingerprint: this.conn?.hostKey.fingerprint ?? null,
      lastError: this.lastError ? { code: this.lastError.code, message: this.lastError.message } : null,
      forwards: [...this.remote.forwards.values()].map((f) => f.status()),
      localForwards: listeners.localForwards,
      dynamicForwards: listeners.dynamicForwards,
      proxy: this.config.proxy === '' ? null : { configured: maskProxyUrl(this.config.proxy), route: this.proxyRoute },
      crypto: this.conn ? { ...this.conn.crypto } : null,
      auth: this.lastAuth,
    };
  }

  /** Open channels right now (all forwards, including cancelled ones still finishing). */
  get openChannelCount(): number {
    return this.router.openChannels + this.local.openConnections;
  }

  /**
   * Graceful stop: cancel every forward on the SSH host (no new channels), let open channels
   * finish for up to `drainTimeoutMs`, then end the rest and disconnect. Idempotent. Resolves
   * true when every channel finished in time, false when some had to be cut at the deadline.
   */
  close(drainTimeoutMs = 10_000): Promise<boolean> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      this.stopController.abort();
      this.setState('draining', null);
      this.local.stopListening(); // no new local connections; open ones drain like channels
      await this.remote.cancelAllOnServer();
      // HTTP keep-alive connections never end by themselves: end them between requests.
      this.httpForwards.drain();
      if (this.openChannelCount > 0) {
        const deadline = new AbortController();
        await Promise.race([
          new Promise<void>((resolve) => {
            const check = () => {
              if (this.openChannelCount > 0) return;
              this.off('channelClose', check);
              this.off('channelRejected', check);
              resolve();
            };
            this.on('channelClose', check);
            this.on('channelRejected', check);
          }),
          sleep(drainTimeoutMs, undefined, { signal: deadline.signal }).catch(() => {}), // aborted: drained first
        ]);
        deadline.abort();
      }
      const drained = this.openChannelCount === 0;
      this.teardown('drain');
      this.setState('stopped', null);
      await this.running;
      return drained;
    })();
    return this.closing;
  }

  /** Abrupt stop: every channel and the SSH connection end now. Idempotent. */
  destroy(): void {
    if (this.stateValue === 'stopped') return;
    this.stopController.abort();
    this.teardown('destroyed');
    this.setState('stopped', null);
    if (!this.closing) this.closing = Promise.resolve(this.router.openChannels === 0);
  }

  /**
   * Fails the session for good (exitOnForwardFailure): no more reconnects, every channel and
   * listener ends, state `failed` with `error`.
   */
  private fail(error: EdgeError): void {
    if (this.stateValue === 'failed' || this.stateValue === 'stopped' || this.stopping) return;
    this.lastError = error;
    this.stopController.abort();
    this.teardown('destroyed');
    this.setState('failed', error);
  }

  // ---------------------------------------------------------------- connection loop

  private async run(): Promise<void> {
    const { reconnect } = this.config;
    let everConnected = false;
    let failuresSinceLoss = Infinity; // connect failures since a session that was up was lost
    const backoff = new Backoff(reconnectPolicy(reconnect), this.backoffOptions);
    const random = this.backoffOptions.random;
    while (!this.stopping) {
      this.attempt += 1;
      this.setState('connecting', this.lastError);
      let error: EdgeError;
      try {
        if (this.config.proxy !== '') {
          this.proxyRoute = resolveProxyRoute(this.config, this.config.host, this.config.port).description;
          this.log('debug', `session ${this.config.id}: reaching ${this.where} via ${this.proxyRoute}`);
        }
        const keys = credentialsForAttempt(this.config.auth); // key files and certificates read again: a fixed or renewed file is picked up
        const conn = await openSshConnection(this.config, { verifyHostKey: this.verifyHostKey, keys, signal: this.stopController.signal, log: (level, message) => this.log(level, message) });
        everConnected = true;
        failuresSinceLoss = 0;
        const connectedAt = backoff.clock.now();
        this.lastAuth = conn.auth;
        this.expiryWarning.watch(keys, conn.auth);
        error = await this.serve(conn);
        this.expiryWarning.stop();
        if (backoff.clock.now() - connectedAt >= reconnect.stableAfterMs) backoff.reset();
      } catch (err) {
        error = asEdgeError(err, `session ${this.config.id}'s connection attempt`);
        if (this.stopping) break;
        this.lastError = error;
        failuresSinceLoss += 1;
        this.log('warn', `session ${this.config.id}: attempt ${this.attempt} failed: ${error.message}`, { code: error.code });
        this.emit('connectFailed', { attempt: this.attempt, error });
      }
      if (this.stopping) break;
      this.lastError = error;

      const credentialFailure = isCredentialFailure(error);
      const giveUp = reconnectGiveUp(error, reconnect, { sessionId: this.config.id, everConnected, retries: backoff.attempt });
      if (giveUp) {
        this.lastError = giveUp;
        this.setState('failed', giveUp);
        return;
      }

      const backoffMs = backoff.next(); // counts the retry (maxRetries) whichever pace applies
      const retries = backoff.attempt;
      const delayMs = credentialFailure ? credentialRetryDelayMs(reconnect, random) : isGatewayBusy(error, failuresSinceLoss) ? busyRetryDelayMs(reconnect, random) : backoffMs;
      let cancelled = false;
      this.emit('reconnectAttempt', {
        kind: 'ssh', host: this.config.host, port: this.config.port,
        retryCount: retries,
        retriesRemaining: reconnect.maxRetries < 0 ? -1 : reconnect.maxRetries - retries,
        maxRetries: reconnect.maxRetries, delayMs, lastError: error,
        cancel: () => { cancelled = true; },
      });
      if (cancelled) {
        this.lastError = new EdgeError('EDGE_ERR_RECONNECT_CANCELLED', `Reconnecting session ${this.config.id} was cancelled by a reconnectAttempt listener; last error: ${error.message}`);
        this.setState('failed', this.lastError);
        return;
      }
      this.setState('backoff', error);
      this.log('info', `session ${this.config.id}: retry ${retries} in ${delayMs} ms${credentialFailure ? ' (authentication/host key failure: reconnect.authRetryIntervalMs)' : ''}`, { code: error.code });
      const wake = new AbortController();
      this.wakeBackoff = () => wake.abort();
      await backoff.wait(delayMs, AbortSignal.any([this.stopController.signal, wake.signal]));
      this.wakeBackoff = undefined;
    }
  }

  private get stopping(): boolean {
    return this.stopController.signal.aborted;
  }

  /** Serves one established connection; resolves with why it ended. */
  private serve(conn: SshConnection): Promise<EdgeError> {
    const { client } = conn;
    const gate = new SshSocketGate(conn.socket, this.config.maxSshSocketBuffer);
    this.conn = { ...conn, gate };
    let endError: EdgeError | undefined;

    installForwardRouting(client, (destIP, destPort) => {
      const fwd = this.router.route(destIP, destPort);
      if (!fwd) this.log('warn', `session ${this.config.id}: rejected a channel for ${destIP}:${destPort}, which matches no forward that is up`);
      return fwd?.remotePort ?? undefined;
    });
    client.on('tcp connection', (details, accept, reject) => this.router.onChannel(details, accept, reject));
    client.on('unix connection', (info, accept, reject) => this.router.onChannel({ destIP: info.socketPath, destPort: 0, srcIP: '', srcPort: 0 }, accept, reject, this.router.routeSocket(info.socketPath)));
    client.on('error', (err: Error & { level?: string; code?: string }) => { endError = sessionError(err, this.where, this.config.keepalive); });

    this.lastError = null;
    this.local.setLink({ client, gate });
    this.setState('connected', null);
    this.emit('connected', {
      attempt: this.attempt, serverBanner: conn.serverBanner,
      hostKeyFingerprint: conn.hostKey.fingerprint, hostKeyType: conn.hostKey.keyType, hostKeyVerifiedBy: conn.hostKey.how,
    });
    this.log('info', `session ${this.config.id}: connected to ${this.where}${this.proxyRoute !== null ? ` via ${this.proxyRoute}` : ''} (${conn.serverBanner || 'unknown server'}), host key ${conn.hostKey.keyType} ${conn.hostKey.fingerprint} verified by ${conn.hostKey.how}${conn.auth?.certificate ? `, logged in with certificate "${conn.auth.certificate.keyId}" serial ${conn.auth.certificate.serial}` : ''}`);
    this.remote.requestAll();

    return new Promise((resolve) => {
      client.once('close', () => {
        this.conn = undefined;
        this.local.setLink(undefined);
        this.remote.connectionLost();
        const error = endError ?? new EdgeError('EDGE_ERR_CONNECTION_LOST', `SSH host ${this.where} closed the session.`);
        if (!this.stopping) {
          this.log('warn', `session ${this.config.id}: disconnected: ${error.message}`, { code: error.code });
          this.emit('disconnected', error);
        }
        resolve(error);
      });
    });
  }

  private get where(): string {
    return `${this.config.host}:${this.config.port}`;
  }

  // ---------------------------------------------------------------- plumbing

  private teardown(reason: ChannelCloseReason): void {
    this.expiryWarning.stop();
    this.router.destroyAll(reason);
    this.local.destroy(reason);
    // Every pool closes with the session (their channels were just ended).
    this.httpForwards.destroyAll(reason);
    this.remote.stopAll();
    const conn = this.conn;
    if (conn) {
      conn.client.end();
      // A server that does not answer our disconnect must not hold the process open.
      setTimeout(() => conn.socket.destroy(), 1000).unref();
    }
  }

  private setState(state: SessionState, error: EdgeError | null): void {
    if (this.stateValue === 'stopped') return;
    const changed = this.stateValue !== state;
    this.stateValue = state;
    // A session that failed for good takes its device listeners (and waiting connections) with it.
    if (state === 'failed') this.local.destroy('destroyed');
    if (changed) this.emit('state', state, error);
    this.stateWaiters.wake();
  }

  private log(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    this.emit('log', level, message, fields);
  }

}
