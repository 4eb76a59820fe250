// The built-in gateway: a small SSH server (ssh2's Server) that accepts agents' reverse
// forwards. For demos, tests, labs and small deployments; production keeps OpenSSH sshd.
//
// What it does, in the order a connection meets it:
//   TCP accept   allowedClients (CIDR), perSourceMaxStartups, maxStartups (random early drop
//                of unauthenticated connections, src/gateway/max-startups.ts) and
//                maxConnections are checked before any SSH byte; TCP_NODELAY on; the login
//                grace timer starts (admission.ts)
//   SSH          host key (loaded or generated), keepalive to clients after login; the
//                algorithm offer is src/ssh-algorithms.ts's (no SHA-1, no NIST kex, no
//                pre-auth zlib, strict kex) unless `algorithms` widens it for legacy clients
//   auth         publickey against authorized_keys (re-read each time; options honoured:
//                from=, restrict, no-port-forwarding, permitlisten, permitopen, expiry-time),
//                optional passwords per user; maxAuthAttempts failures end the connection
//                (authenticator.ts)
//   forwards     tcpip-forward / cancel-tcpip-forward under the listen policy; one
//                forwarded-tcpip channel per incoming connection. A held port belongs to the
//                identity that holds it (key fingerprint, src/gateway/client-identity.ts): a
//                new connection of the same identity takes it over only if the old connection
//                fails a keepalive probe (ping-before-takeover); anyone else is refused
//                (forward-registry.ts)
//   sockets      with socketDir: streamlocal-forward / cancel-streamlocal-forward for sockets
//                directly in that directory named after the client (src/gateway/socket-policy.ts),
//                held and taken over like ports; one forwarded-streamlocal channel per connection
//   refusals     session channels (shell, exec, subsystem, pty), direct-tcpip unless enabled,
//                streamlocal without socketDir: refused, with a reason, logged (channel-policy.ts)
// This file composes them: server lifecycle, connection wiring, status.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import ssh2, { type AuthContext, type Connection, type ClientInfo } from 'ssh2';
import { EdgeError } from '../errors.js';
import { resolveAlgorithms, weakAlgorithmsIn, type AlgorithmLists } from '../ssh-algorithms.js';
import { createOriginAllowList } from '../grammar/origin-allow-list.js';
import { SshSocketGate } from '../net/ssh-socket-gate.js';
import { VERSION } from '../version.js';
import { startAdminServer, type AdminServer } from './admin-status.js';
import { AuthorizedKeysFile } from './authorized-keys.js';
import { unmapAddress } from '../grammar/host-name.js';
import type { GatewayLog, GatewayLogLevel } from './forward-listener.js';
import { loadOrCreateHostKey, type HostKey } from './host-key.js';
import { DEFAULT_MAX_STARTUPS, formatMaxStartups, parseMaxStartups } from './max-startups.js';
import { Admission } from './admission.js';
import { Authenticator } from './authenticator.js';
import { ForwardRegistry } from './forward-registry.js';
import { ChannelPolicy } from './channel-policy.js';
import { resolveSocketDir } from './socket-policy.js';
import { END_GRACE_MS, dropConnection, formatHostPort, who, type Conn, type GatewayCore } from './gateway-connection.js';
import type { GatewayEvents, GatewayOptions, GatewayStartInfo, GatewayStatus, GatewayConnectionStatus, RefusalStage } from './gateway-types.js';
import { loadHostCertificate } from './host-certificate.js';
import { installServerHostCertificate } from '../ssh2/server-host-certificate.js';
import { UserCertificateAuth, describeCertificateLogin } from './user-certificate-auth.js';
import { classifyErrno, listenErrorReason } from '../lifecycle/errno.js';
import { systemClock, type Clock } from '../lifecycle/clock.js';
import { until } from '../lifecycle/until.js';

const { Server: SshServer } = ssh2; // CommonJS: named exports are not visible to Node's ESM loader

/** Our SSH identification string (ssh2 prefixes "SSH-2.0-"). */
export const GATEWAY_IDENT = `ssh-edge-agent-gateway_${VERSION}`;

export type { GatewayOptions, GatewayStartInfo, GatewayConnectionStatus, GatewayStatus, RefusalStage, GatewayEvents } from './gateway-types.js';
export { formatHostPort } from './gateway-connection.js';

/** Bytes queued on one client's SSH socket above which forwarded sockets stop being read. */
const MAX_SSH_SOCKET_BUFFER = 4 * 1024 * 1024;
const KEEPALIVE_OFF = 2 ** 31 - 1; // ssh2 has no "off": an interval of ~24.8 days is never reached

export class Gateway extends EventEmitter<GatewayEvents> {
  private readonly opts: Required<Omit<GatewayOptions, 'allowPassword' | 'adminListen' | 'log' | 'clock' | 'algorithms' | 'maxStartups' | 'userCertificates' | 'hostCertificateFile' | 'socketDir'>> & Pick<GatewayOptions, 'allowPassword' | 'adminListen' | 'socketDir'>;
  private readonly admission: Admission;
  private readonly core: GatewayCore;
  private readonly algorithms: AlgorithmLists;
  private readonly log: GatewayLog;
  private readonly authorizedKeys: AuthorizedKeysFile;
  private readonly conns = new Map<number, Conn>();
  private readonly bySocket = new Map<string, Conn>();
  private readonly forwards: ForwardRegistry;
  private readonly channels: ChannelPolicy;
  private readonly totals = { accepted: 0, refused: 0, authFailures: 0, takeovers: 0, channels: 0, droppedStartups: 0 };
  private hostKey: HostKey | undefined;
  private server: net.Server | undefined;
  private ssh: InstanceType<typeof SshServer> | undefined;
  private admin: AdminServer | undefined;
  private listenAddress: { host: string; port: number } | null = null;
  private startedAt: Date | null = null;
  private nextId = 1;
  private starting: Promise<GatewayStartInfo> | undefined;
  private closing: Promise<void> | undefined;
  private readonly userCertificates: UserCertificateAuth | undefined;
  private readonly authenticator: Authenticator;
  private readonly hostCertificateFile: string | undefined;
  /** Aborted by destroy(): a drain in progress stops waiting. */
  private readonly stopNow = new AbortController();
  private readonly clock: Clock;

  constructor(options: GatewayOptions) {
    super();
    const bad = (key: string, msg: string) => new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: ${msg}`);
    const int = (key: string, value: number | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) => {
      const v = value ?? fallback;
      if (!Number.isInteger(v) || v < min || v > max) throw bad(key, `must be an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`} (got ${String(value)}).`);
      return v;
    };
    if (!options.listen || typeof options.listen.host !== 'string' || options.listen.host === '') throw bad('listen.host', 'an address to listen on is required (e.g. 127.0.0.1).');
    int('listen.port', options.listen.port, 0, 0, 65535);
    if (!options.hostKeyFile) throw bad('hostKeyFile', 'a host key file is required (it is generated when missing).');
    if (!options.authorizedKeysFile) throw bad('authorizedKeysFile', 'an authorized_keys file is required.');
    if (options.adminListen) int('adminListen.port', options.adminListen.port, 0, 0, 65535);
    for (const [user, pw] of Object.entries(options.allowPassword ?? {})) {
      if (typeof pw !== 'string' || pw === '') throw bad(`allowPassword.${user}`, 'must be a non-empty string.');
    }
    this.clock = options.clock ?? systemClock;
    this.opts = {
      listen: { ...options.listen },
      hostKeyFile: options.hostKeyFile,
      authorizedKeysFile: options.authorizedKeysFile,
      allowPassword: options.allowPassword ? { ...options.allowPassword } : undefined,
      maxConnections: int('maxConnections', options.maxConnections, 1000, 1),
      allowedClients: [...(options.allowedClients ?? [])],
      maxAuthAttempts: int('maxAuthAttempts', options.maxAuthAttempts, 6, 1),
      perSourceMaxStartups: int('perSourceMaxStartups', options.perSourceMaxStartups, 10, 0),
      loginGraceTimeoutMs: int('loginGraceTimeoutMs', options.loginGraceTimeoutMs, 20_000, 0),
      keepaliveIntervalMs: int('keepaliveIntervalMs', options.keepaliveIntervalMs, 15_000, 0, KEEPALIVE_OFF),
      keepaliveCountMax: int('keepaliveCountMax', options.keepaliveCountMax, 3, 0),
      idleTimeoutMs: int('idleTimeoutMs', options.idleTimeoutMs, 0, 0),
      takeoverProbeTimeoutMs: int('takeoverProbeTimeoutMs', options.takeoverProbeTimeoutMs, 3_000, 1, 60_000),
      allowDirectTcpip: options.allowDirectTcpip ?? false,
      adminListen: options.adminListen ? { ...options.adminListen } : undefined,
      socketDir: options.socketDir,
    };
    if (options.socketDir !== undefined && (typeof options.socketDir !== 'string' || options.socketDir === '')) throw bad('socketDir', 'must be a directory path.');
    const allowedClients = createOriginAllowList(this.opts.allowedClients, 'allowedClients');
    this.algorithms = resolveAlgorithms(options.algorithms, 'algorithms');
    const maxStartups = options.maxStartups === undefined ? { ...DEFAULT_MAX_STARTUPS }
      : typeof options.maxStartups === 'string' ? parseMaxStartups(options.maxStartups)
        : parseMaxStartups(formatMaxStartups(options.maxStartups));
    this.userCertificates = options.userCertificates ? new UserCertificateAuth(options.userCertificates) : undefined;
    this.hostCertificateFile = options.hostCertificateFile;
    const log = options.log;
    this.log = log ? (level, msg, fields) => { try { log(level, msg, fields); } catch { /* a logger must not break the gateway */ } } : () => {};
    this.core = {
      log: this.log,
      totals: this.totals,
      events: this,
      refuse: (stage, message, info, level) => this.refuse(stage, message, info, level),
      closing: () => this.closing !== undefined,
    };
    const { maxConnections, perSourceMaxStartups, loginGraceTimeoutMs } = this.opts;
    this.admission = new Admission(this.core, { maxConnections, maxStartups, perSourceMaxStartups, loginGraceTimeoutMs, allowedClients });
    this.forwards = new ForwardRegistry(this.core, { idleTimeoutMs: this.opts.idleTimeoutMs, takeoverProbeTimeoutMs: this.opts.takeoverProbeTimeoutMs });
    this.channels = new ChannelPolicy(this.core, { allowDirectTcpip: this.opts.allowDirectTcpip, idleTimeoutMs: this.opts.idleTimeoutMs });
    this.authorizedKeys = new AuthorizedKeysFile(this.opts.authorizedKeysFile, (errors) => {
      for (const e of errors) this.log('warn', `gateway: ${this.opts.authorizedKeysFile} line ${e.line} skipped: ${e.message}`, { event: 'authorized-keys', line: e.line });
    });
    this.authenticator = new Authenticator(this.core, {
      allowPassword: this.opts.allowPassword, maxAuthAttempts: this.opts.maxAuthAttempts, authorizedKeys: this.authorizedKeys, userCertificates: this.userCertificates,
    });
  }

  /** Loads the host key and authorized_keys, then listens. Idempotent. */
  start(): Promise<GatewayStartInfo> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<GatewayStartInfo> {
    if (this.closing) throw new EdgeError('EDGE_ERR_CLOSED', 'The gateway was closed before it started.');
    const hostKey = await loadOrCreateHostKey(this.opts.hostKeyFile);
    this.hostKey = hostKey;
    if (hostKey.generated) this.log('info', `gateway: generated a new ${hostKey.keyType} host key in ${this.opts.hostKeyFile} (${hostKey.fingerprint})`, { event: 'host-key', fingerprint: hostKey.fingerprint });
    if (hostKey.warning) this.log('warn', `gateway: ${hostKey.warning}`, { event: 'host-key' });
    await this.userCertificates?.check();
    if (this.opts.socketDir !== undefined) this.forwards.socketDir = await resolveSocketDir(this.opts.socketDir);
    const keys = await this.authorizedKeys.load();
    if (keys.length === 0) this.log('warn', `gateway: ${this.opts.authorizedKeysFile} holds no usable key yet; no key can log in until one is added`, { event: 'authorized-keys' });

    const hostKeyAlgorithms = this.algorithms.serverHostKey.filter((a) => hostKeyCanSign(hostKey.keyType, a));
    if (hostKeyAlgorithms.length === 0) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `algorithms.serverHostKey: none of ${this.algorithms.serverHostKey.join(', ')} can be used with the ${hostKey.keyType} host key in ${this.opts.hostKeyFile}.`);
    }
    const weak = weakAlgorithmsIn(this.algorithms);
    if (weak.length > 0) this.log('warn', `gateway: algorithms widened for legacy clients; offering weak ${weak.join(', ')}`, { event: 'weak-algorithms', algorithms: weak });
    const keepalive = this.opts.keepaliveIntervalMs === 0 ? KEEPALIVE_OFF : this.opts.keepaliveIntervalMs;
    const ssh = new SshServer({
      hostKeys: [hostKey.privateKey],
      // ssh2 appends kex-strict-s-v00@openssh.com itself (strict kex stays on).
      algorithms: {
        kex: this.algorithms.kex as never,
        serverHostKey: hostKeyAlgorithms as never,
        cipher: this.algorithms.cipher as never,
        hmac: this.algorithms.hmac as never,
        compress: this.algorithms.compress as never,
      },
      ident: GATEWAY_IDENT,
      keepaliveInterval: keepalive,
      keepaliveCountMax: this.opts.keepaliveCountMax,
    });
    const hostCert = this.hostCertificateFile ? loadHostCertificate(this.hostCertificateFile, hostKey.privateKey) : undefined;
    if (hostCert) this.log('info', `gateway: presenting ${hostCert.description}`, { event: 'host-certificate', keyId: hostCert.cert.keyId, serial: hostCert.cert.serial.toString() });
    ssh.on('connection', (client: Connection, info: ClientInfo) => {
      if (hostCert && !installServerHostCertificate(client, hostCert.key)) this.log('warn', 'gateway: ssh2 internals changed: the host certificate is not offered; see src/ssh2/server-host-certificate.ts');
      this.onSshClient(client, info);
    });
    ssh.on('error', (err: Error) => this.log('error', `gateway: SSH server error: ${err.message}`));
    this.ssh = ssh;

    const server = net.createServer({ noDelay: true }, (socket) => this.onSocket(socket));
    const { host, port } = this.opts.listen;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, backlog: 1024 }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      throw new EdgeError('EDGE_ERR_LISTEN_FAILED', `listen: the gateway cannot listen on ${formatHostPort(host, port)} (${classifyErrno(err.code) === 'other' ? (err.code ?? err.message) : `${err.code}: ${listenErrorReason(err)}`}).`, { cause: err, details: { host, port } });
    });
    server.on('error', (err) => this.log('error', `gateway: listener error: ${err.message}`));
    this.server = server;
    const bound = (server.address() as net.AddressInfo).port;
    this.listenAddress = { host, port: bound };
    this.startedAt = new Date();

    if (this.opts.adminListen) {
      try {
        this.admin = await startAdminServer(this.opts.adminListen, () => this.status());
      } catch (err) {
        server.close();
        const e = err as NodeJS.ErrnoException;
        throw new EdgeError('EDGE_ERR_LISTEN_FAILED', `adminListen: cannot listen on ${formatHostPort(this.opts.adminListen.host, this.opts.adminListen.port)} (${e.code ?? e.message}).`, { cause: err });
      }
    }
    this.log('info', `gateway: listening on ${formatHostPort(host, bound)}, host key ${hostKey.fingerprint}${this.admin ? `, admin on ${formatHostPort(this.opts.adminListen!.host, this.admin.port)}` : ''}`, {
      event: 'listening', host, port: bound, fingerprint: hostKey.fingerprint, ...(this.admin ? { adminPort: this.admin.port } : {}),
    });
    return { port: bound, fingerprint: hostKey.fingerprint, hostPublicKey: hostKey.publicKey, ...(this.admin ? { adminPort: this.admin.port } : {}) };
  }

  status(): GatewayStatus {
    return {
      version: VERSION,
      listen: this.listenAddress ? { ...this.listenAddress } : null,
      hostKeyFingerprint: this.hostKey?.fingerprint ?? null,
      startedAt: this.startedAt?.toISOString() ?? null,
      totals: { ...this.totals },
      unauthenticated: this.admission.unauthenticated,
      limits: this.admission.status(),
      connections: [...this.conns.values()].map((c) => this.connectionStatus(c)),
      ports: this.forwards.ports(),
      socketDir: this.forwards.socketDir ?? null,
      sockets: this.forwards.sockets(),
    };
  }

  private connectionStatus(c: Conn): GatewayConnectionStatus {
    const forwards = [...c.forwards].map((f) => f.status());
    let bytesIn = c.closedBytes.in;
    let bytesOut = c.closedBytes.out;
    for (const f of forwards) {
      bytesIn += f.bytesIn;
      bytesOut += f.bytesOut;
    }
    return {
      id: c.id,
      user: c.authenticated ? c.user ?? null : null,
      authenticated: c.authenticated,
      authMethod: c.authenticated ? c.authMethod ?? null : null,
      keyFingerprint: c.authenticated ? c.key?.fingerprint ?? null : null,
      identity: c.authenticated ? c.identity ?? null : null,
      certificate: c.authenticated ? c.certificate ?? null : null,
      remoteAddress: c.remoteAddress,
      remotePort: c.remotePort,
      since: c.since.toISOString(),
      clientVersion: c.clientVersion ?? null,
      forwards,
      bytesIn,
      bytesOut,
    };
  }

  /**
   * Stops listening (SSH and every forward), lets open forwarded connections finish for up to
   * `drainTimeoutMs` (default 0), then ends every client. Idempotent.
   */
  close(drainTimeoutMs = 0): Promise<void> {
    this.closing ??= this.doClose(drainTimeoutMs);
    return this.closing;
  }

  /** Abrupt stop: listeners, forwarded connections and clients end now. Idempotent. */
  destroy(): Promise<void> {
    this.stopNow.abort();
    const closing = this.close();
    if (this.server) {
      this.forwards.removeAll('shutdown');
      for (const conn of [...this.conns.values()]) {
        conn.endReason ??= 'the gateway was stopped';
        conn.socket.destroy();
      }
    }
    return closing;
  }

  private async doClose(drainTimeoutMs: number): Promise<void> {
    await this.starting?.catch(() => {});
    const server = this.server;
    const serverClosed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    if (server) this.log('info', 'gateway: shutting down', { event: 'shutdown', connections: this.conns.size });
    this.forwards.stopListening();
    // No polling: each channel close / client disconnect re-checks; destroy() ends the wait.
    const wait = { clock: this.clock, signal: this.stopNow.signal };
    if (drainTimeoutMs > 0 && this.forwards.openChannels() > 0) {
      this.log('info', `gateway: letting ${this.forwards.openChannels()} open connections finish (up to ${drainTimeoutMs} ms)`, { event: 'drain' });
      await until(this, ['channelClose'], () => this.forwards.openChannels() === 0, { ...wait, timeoutMs: drainTimeoutMs });
    }
    this.forwards.removeAll('shutdown');
    for (const conn of [...this.conns.values()]) dropConnection(conn, 'the gateway is shutting down');
    await until(this, ['disconnect'], () => this.conns.size === 0, { ...wait, timeoutMs: END_GRACE_MS + 500 });
    for (const conn of [...this.conns.values()]) conn.socket.destroy();
    await Promise.all([serverClosed, this.admin?.close()]);
  }

  // ---------------------------------------------------------------- accept

  private onSocket(socket: net.Socket): void {
    socket.on('error', () => {}); // ssh2 reports socket errors on the client; nothing to add
    socket.setNoDelay(true);
    const remoteAddress = unmapAddress(socket.remoteAddress ?? '');
    const remotePort = socket.remotePort ?? 0;
    if (this.closing || !this.ssh) {
      socket.destroy();
      return;
    }
    if (!this.admission.admit(socket, remoteAddress, remotePort, this.conns.size)) return;
    const conn: Conn = {
      id: this.nextId++,
      socket,
      socketKey: `${socket.remoteAddress}|${socket.remotePort}`,
      remoteAddress,
      remotePort,
      since: new Date(),
      authenticated: false,
      preAuth: true,
      authFailures: 0,
      forwards: new Set(),
      closedBytes: { in: 0, out: 0 },
      closed: false,
    };
    this.totals.accepted += 1;
    this.conns.set(conn.id, conn);
    this.bySocket.set(conn.socketKey, conn);
    this.admission.enterPreAuth(conn);
    socket.once('close', () => this.onSocketClose(conn));
    // Once our side has ended, a peer that never closes its side must not hold the slot.
    socket.once('finish', () => setTimeout(() => socket.destroy(), END_GRACE_MS * 2).unref());
    this.log('debug', `gateway: connection #${conn.id} from ${remoteAddress}:${remotePort}`, { event: 'accept', id: conn.id, remoteAddress, remotePort });
    this.emit('connection', { id: conn.id, remoteAddress, remotePort });
    this.ssh.injectSocket(socket);
  }

  private onSshClient(client: Connection, info: ClientInfo): void {
    const conn = this.bySocket.get(`${info.ip}|${info.port}`);
    if (!conn || conn.closed) {
      client.on('error', () => {});
      client.end();
      return;
    }
    conn.client = client;
    conn.clientVersion = info.header?.identRaw;
    client.on('error', (err: Error & { level?: string }) => this.onClientError(conn, err));
    client.on('authentication', (ctx: AuthContext) => {
      this.authenticator.authenticate(conn, ctx).catch((err: unknown) => {
        this.log('error', `gateway: authentication of connection #${conn.id} crashed: ${String(err)}`, { id: conn.id });
        try { ctx.reject(); } catch { /* connection gone */ }
      });
    });
    client.on('ready', () => this.onReady(conn));
  }

  private onClientError(conn: Conn, err: Error & { level?: string }): void {
    if (err.level === 'client-timeout') {
      conn.endReason = `keepalive timeout (${this.opts.keepaliveCountMax} keepalives every ${this.opts.keepaliveIntervalMs} ms unanswered)`;
      this.log('warn', `gateway: ${who(conn)} stopped answering keepalives; closing the connection`, { event: 'keepalive-timeout', id: conn.id, user: conn.user });
      conn.socket.destroy();
    } else if (err.level === 'socket') {
      conn.endReason ??= `socket error: ${(err as NodeJS.ErrnoException).code ?? err.message}`;
    } else {
      conn.endReason ??= `protocol error: ${err.message}`;
      this.log('info', `gateway: ${who(conn)}: SSH protocol error: ${err.message}`, { event: 'protocol-error', id: conn.id });
    }
  }

  private onSocketClose(conn: Conn): void {
    if (conn.closed) return;
    conn.closed = true;
    this.admission.leavePreAuth(conn);
    this.conns.delete(conn.id);
    if (this.bySocket.get(conn.socketKey) === conn) this.bySocket.delete(conn.socketKey);
    this.forwards.removeConnection(conn);
    const durationMs = Date.now() - conn.since.getTime();
    const reason = conn.endReason ?? (conn.client ? 'closed by the client' : conn.socket.bytesRead > 0 ? 'no valid SSH identification (not an SSH client?)' : 'closed before the SSH handshake');
    if (conn.authenticated) {
      this.log('info', `gateway: ${who(conn)} disconnected (${reason}) after ${durationMs} ms`, { event: 'disconnect', id: conn.id, user: conn.user, remoteAddress: conn.remoteAddress, reason, durationMs });
    } else {
      this.log(conn.client ? 'info' : 'debug', `gateway: connection #${conn.id} from ${conn.remoteAddress}:${conn.remotePort} closed without logging in (${reason})`, { event: 'disconnect', id: conn.id, remoteAddress: conn.remoteAddress, reason, durationMs });
    }
    this.emit('disconnect', { id: conn.id, user: conn.authenticated ? conn.user ?? null : null, remoteAddress: conn.remoteAddress, reason, durationMs });
  }

  private onReady(conn: Conn): void {
    const client = conn.client!;
    conn.authenticated = true;
    this.admission.leavePreAuth(conn);
    conn.gate = new SshSocketGate(conn.socket, MAX_SSH_SOCKET_BUFFER);
    const keyText = conn.certificate ? ` (${describeCertificateLogin(conn.certificate)})`
      : conn.key ? ` (publickey ${conn.key.keyType} ${conn.key.fingerprint}, authorized_keys line ${conn.key.line}${conn.key.comment ? ` "${conn.key.comment}"` : ''})` : ' (password)';
    this.log('info', `gateway: user "${conn.user}" logged in from ${conn.remoteAddress}:${conn.remotePort}${keyText}, connection #${conn.id}`, {
      event: 'login', id: conn.id, user: conn.user, remoteAddress: conn.remoteAddress, remotePort: conn.remotePort, method: conn.authMethod,
      ...(conn.key ? { fingerprint: conn.key.fingerprint, keyLine: conn.key.line } : {}), ...(conn.certificate ? { keyId: conn.certificate.keyId, serial: conn.certificate.serial, ca: conn.certificate.ca } : {}), clientVersion: conn.clientVersion,
    });
    this.emit('authenticated', { id: conn.id, user: conn.user!, method: conn.authMethod!, keyFingerprint: conn.key?.fingerprint ?? null, remoteAddress: conn.remoteAddress, remotePort: conn.remotePort });

    this.channels.attach(conn, client);
    client.on('request', (accept, reject, name, info) => this.forwards.onRequest(conn, name, info, accept, reject));
  }

  // ---------------------------------------------------------------- plumbing

  private refuse(stage: RefusalStage, message: string, info: { id?: number; user?: string; remoteAddress: string; [k: string]: unknown }, level: GatewayLogLevel): void {
    this.totals.refused += 1;
    this.log(level, `gateway: ${message}`, { event: 'refused', stage, ...info });
    this.emit('refused', { stage, reason: message, remoteAddress: info.remoteAddress, ...(info.id !== undefined ? { id: info.id } : {}), ...(info.user !== undefined ? { user: info.user } : {}) });
  }
}

/** Whether a host key of this type signs with that host-key algorithm (RSA: SHA-2 or, if asked, SHA-1). */
function hostKeyCanSign(keyType: string, algorithm: string): boolean {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'].includes(algorithm) : keyType === algorithm;
}
