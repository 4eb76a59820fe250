// The built-in gateway: a small SSH server (ssh2's Server) that accepts agents' reverse
// forwards. For demos, tests, labs and small deployments; production keeps OpenSSH sshd.
//
// What it does, in the order a connection meets it:
//   TCP accept   allowedClients (CIDR), perSourceMaxStartups, maxStartups (random early drop
//                of unauthenticated connections, src/gateway/max-startups.ts) and
//                maxConnections are checked before any SSH byte; TCP_NODELAY on; the login
//                grace timer starts
//   SSH          host key (loaded or generated), keepalive to clients after login; the
//                algorithm offer is src/ssh-algorithms.ts's (no SHA-1, no NIST kex, no
//                pre-auth zlib, strict kex) unless `algorithms` widens it for legacy clients
//   auth         publickey against authorized_keys (re-read each time; options honoured:
//                from=, restrict, no-port-forwarding, permitlisten, permitopen, expiry-time),
//                optional passwords per user; maxAuthAttempts failures end the connection
//   forwards     tcpip-forward / cancel-tcpip-forward under the listen policy; one
//                forwarded-tcpip channel per incoming connection. A held port belongs to the
//                identity that holds it (key fingerprint, src/gateway/client-identity.ts): a
//                new connection of the same identity takes it over only if the old connection
//                fails a keepalive probe (ping-before-takeover); anyone else is refused
//   sockets      with socketDir: streamlocal-forward / cancel-streamlocal-forward for sockets
//                directly in that directory named after the client (src/gateway/socket-policy.ts),
//                held and taken over like ports; one forwarded-streamlocal channel per connection
//   refusals     session channels (shell, exec, subsystem, pty), direct-tcpip unless enabled,
//                streamlocal without socketDir: refused, with a reason, logged
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import ssh2, { type AuthContext, type Connection, type ClientInfo, type SocketBindInfo, type TcpipBindInfo, type TcpipRequestInfo } from 'ssh2';
import { EdgeError } from '../errors.js';
import { resolveAlgorithms, weakAlgorithmsIn, type AlgorithmLists } from '../ssh-algorithms.js';
import { pipeChannel, type SshChannel } from '../session/channel-pipe.js';
import { createOriginAllowList } from '../session/origin-allow-list.js';
import { SshSocketGate } from '../session/ssh-socket-gate.js';
import { VERSION } from '../version.js';
import { startAdminServer, type AdminServer } from './admin-status.js';
import { AuthorizedKeysFile, unmapAddress } from './authorized-keys.js';
import { ForwardListener, ListenError, type GatewayLog, type GatewayLogLevel } from './forward-listener.js';
import { loadOrCreateHostKey, type HostKey } from './host-key.js';
import { sameIdentity } from './client-identity.js';
import { bindSockets, bindsOverlap, checkListenPolicy } from './listen-policy.js';
import { probeClientAlive } from './liveness-probe.js';
import { DEFAULT_MAX_STARTUPS, formatMaxStartups, parseMaxStartups } from './max-startups.js';
import { Admission } from './admission.js';
import { Authenticator } from './authenticator.js';
import { END_GRACE_MS, describeForward, dropConnection, formatHostPort, holderFields, holderText, sleep, who, type Conn, type GatewayCore, type Registered } from './gateway-connection.js';
import type { GatewayEvents, GatewayOptions, GatewayStartInfo, GatewayStatus, GatewayConnectionStatus, RefusalStage } from './gateway-types.js';
import { checkSocketRequest } from './socket-policy.js';
import { installChannelOpenPolicy, type ChannelOpenRequest } from '../ssh2/channel-open-refusal.js';
import { enableHalfClose } from '../ssh2/server-channel-half-close.js';
import { loadHostCertificate } from './host-certificate.js';
import { installServerHostCertificate } from '../ssh2/server-host-certificate.js';
import { UserCertificateAuth, describeCertificateLogin } from './user-certificate-auth.js';
import { classifyErrno, listenErrorReason } from '../lifecycle/errno.js';

const { Server: SshServer } = ssh2; // CommonJS: named exports are not visible to Node's ESM loader

/** Our SSH identification string (ssh2 prefixes "SSH-2.0-"). */
export const GATEWAY_IDENT = `ssh-edge-agent-gateway_${VERSION}`;

export type { GatewayOptions, GatewayStartInfo, GatewayConnectionStatus, GatewayStatus, RefusalStage, GatewayEvents } from './gateway-types.js';
export { formatHostPort } from './gateway-connection.js';

/** Bytes queued on one client's SSH socket above which forwarded sockets stop being read. */
const MAX_SSH_SOCKET_BUFFER = 4 * 1024 * 1024;
const KEEPALIVE_OFF = 2 ** 31 - 1; // ssh2 has no "off": an interval of ~24.8 days is never reached

export class Gateway extends EventEmitter<GatewayEvents> {
  private readonly opts: Required<Omit<GatewayOptions, 'allowPassword' | 'adminListen' | 'log' | 'algorithms' | 'maxStartups' | 'userCertificates' | 'hostCertificateFile' | 'socketDir'>> & Pick<GatewayOptions, 'allowPassword' | 'adminListen' | 'socketDir'>;
  /** The socket directory's realpath, once started (undefined = socket forwards refused). */
  private socketDir: string | undefined;
  private readonly admission: Admission;
  private readonly core: GatewayCore;
  private readonly algorithms: AlgorithmLists;
  private readonly log: GatewayLog;
  private readonly authorizedKeys: AuthorizedKeysFile;
  private readonly conns = new Map<number, Conn>();
  private readonly bySocket = new Map<string, Conn>();
  private readonly registry = new Set<Registered>();
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
  private warnedInternals = false;
  private readonly userCertificates: UserCertificateAuth | undefined;
  private readonly authenticator: Authenticator;
  private readonly hostCertificateFile: string | undefined;
  private destroyed = false;

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
    if (this.opts.socketDir !== undefined) this.socketDir = await resolveSocketDir(this.opts.socketDir);
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
      ports: [...this.registry].filter((e) => e.conn.forwards.has(e.fwd) && e.fwd.socketPath === undefined).map(({ conn, fwd }) => ({
        bind: fwd.bind, port: fwd.port, connection: conn.id, user: conn.user ?? '', holder: conn.identity ?? null,
      })),
      socketDir: this.socketDir ?? null,
      sockets: [...this.registry].filter((e) => e.conn.forwards.has(e.fwd) && e.fwd.socketPath !== undefined).map(({ conn, fwd }) => ({
        path: fwd.socketPath!, connection: conn.id, user: conn.user ?? '', holder: conn.identity ?? null,
      })),
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
    this.destroyed = true;
    const closing = this.close();
    if (this.server) {
      for (const entry of [...this.registry]) this.removeForward(entry, 'shutdown');
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
    for (const entry of [...this.registry]) entry.fwd.stopListening();
    if (drainTimeoutMs > 0 && this.openChannels() > 0) {
      this.log('info', `gateway: letting ${this.openChannels()} open connections finish (up to ${drainTimeoutMs} ms)`, { event: 'drain' });
      const deadline = Date.now() + drainTimeoutMs;
      while (!this.destroyed && this.openChannels() > 0 && Date.now() < deadline) await sleep(50);
    }
    for (const entry of [...this.registry]) this.removeForward(entry, 'shutdown');
    for (const conn of [...this.conns.values()]) dropConnection(conn, 'the gateway is shutting down');
    const deadline = Date.now() + END_GRACE_MS + 500;
    while (!this.destroyed && this.conns.size > 0 && Date.now() < deadline) await sleep(20);
    for (const conn of [...this.conns.values()]) conn.socket.destroy();
    await Promise.all([serverClosed, this.admin?.close()]);
  }

  private openChannels(): number {
    let n = 0;
    for (const { fwd } of this.registry) n += fwd.channelsOpen;
    return n;
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
    for (const entry of [...this.registry]) if (entry.conn === conn) this.removeForward(entry, 'disconnect');
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

    if (!installChannelOpenPolicy(client, (req) => this.channelPolicy(conn, req)) && !this.warnedInternals) {
      this.warnedInternals = true;
      this.log('warn', 'gateway: ssh2 internals changed: refused channels (session, direct-tcpip) are refused without a reason or a log line; see src/ssh2/channel-open-refusal.ts');
    }
    client.on('request', (accept, reject, name, info) => {
      if (name === 'tcpip-forward') {
        void this.requestForward(conn, info as TcpipBindInfo, accept as ((port?: number) => void) | undefined, reject);
      } else if (name === 'cancel-tcpip-forward') {
        this.cancelForward(conn, info as TcpipBindInfo, accept, reject);
      } else if (name === 'streamlocal-forward@openssh.com') {
        void this.requestSocketForward(conn, String((info as unknown as SocketBindInfo).socketPath ?? ''), accept, reject);
      } else if (name === 'cancel-streamlocal-forward@openssh.com') {
        this.cancelSocketForward(conn, String((info as unknown as SocketBindInfo).socketPath ?? ''), accept, reject);
      } else {
        this.refuse('forward', `${who(conn)}: ${String(name)} refused: not supported`, { id: conn.id, user: conn.user, remoteAddress: conn.remoteAddress }, 'info');
        reject?.();
      }
    });
    if (this.opts.allowDirectTcpip) {
      client.on('tcpip', (accept, reject, info) => this.directTcpip(conn, accept as () => SshChannel, reject, info));
    }
  }

  // ---------------------------------------------------------------- channels the client opens

  /** Refusal reason for a channel the client wants to open, or undefined to let it through. */
  private channelPolicy(conn: Conn, req: ChannelOpenRequest): string | undefined {
    const refuse = (reason: string) => {
      this.refuse('channel', `${who(conn)}: ${req.type} channel refused: ${reason}`, { id: conn.id, user: conn.user, remoteAddress: conn.remoteAddress }, 'info');
      return reason;
    };
    switch (req.type) {
      case 'session':
        return refuse('this gateway only accepts port forwarding (ssh -N -R …): no shell, exec, subsystem or pty');
      case 'direct-tcpip': {
        if (!this.opts.allowDirectTcpip) return refuse('direct-tcpip (local forwarding, ssh -L) is disabled on this gateway');
        const options = conn.key?.options;
        if (options && !options.localForwarding) return refuse(`port forwarding is disabled for this key (${options.restrict ? 'restrict' : 'no-port-forwarding'})`);
        const host = String(req.data.destIP ?? '').toLowerCase();
        const port = Number(req.data.destPort);
        if (options && options.permitOpen.length > 0 && !options.permitOpen.some((p) => (p.host === '*' || p.host === host) && (p.port === '*' || p.port === port))) {
          return refuse(`${host}:${port} is not in this key's permitopen`);
        }
        return undefined;
      }
      default:
        return refuse(`channel type ${req.type} is not supported`);
    }
  }

  private directTcpip(conn: Conn, accept: () => SshChannel, reject: () => void, info: TcpipRequestInfo): void {
    const dest = `${info.destIP}:${info.destPort}`;
    const socket = net.connect({ host: info.destIP, port: info.destPort, allowHalfOpen: true, noDelay: true });
    const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), 10_000);
    socket.once('error', (err) => {
      clearTimeout(timer);
      if (socket.connecting || !socket.remoteAddress) {
        this.log('info', `gateway: ${who(conn)}: direct-tcpip to ${dest} failed: ${err.message}`, { event: 'direct-tcpip-failed', id: conn.id, user: conn.user, dest });
        reject();
      }
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      if (conn.closed) return void socket.destroy();
      let channel: SshChannel;
      try {
        channel = accept();
      } catch {
        return void socket.destroy();
      }
      enableHalfClose(channel);
      const openedAt = Date.now();
      this.log('debug', `gateway: ${who(conn)}: direct-tcpip to ${dest}`, { event: 'direct-tcpip', id: conn.id, user: conn.user, dest });
      pipeChannel(channel, socket, {
        idleTimeoutMs: this.opts.idleTimeoutMs,
        gate: conn.gate!,
        onClose: (reason, stats) => this.log('info', `gateway: ${who(conn)}: direct-tcpip to ${dest} closed (${reason}), ${stats.bytesIn} bytes sent, ${stats.bytesOut} bytes received, ${Date.now() - openedAt} ms`, {
          event: 'direct-tcpip-close', id: conn.id, user: conn.user, dest, bytesIn: stats.bytesIn, bytesOut: stats.bytesOut, durationMs: Date.now() - openedAt, reason,
        }),
      });
    });
  }

  // ---------------------------------------------------------------- forwards

  private async requestForward(conn: Conn, info: TcpipBindInfo, accept: ((port?: number) => void) | undefined, reject: (() => void) | undefined): Promise<void> {
    const bind = String(info.bindAddr ?? '');
    const port = Number(info.bindPort);
    const where = formatHostPort(bind === '' ? '*' : bind, port);
    const user = conn.user!;
    const refuse = (reason: string, level: GatewayLogLevel = 'warn') => {
      this.refuse('forward', `${who(conn)}: forward ${where} refused: ${reason}`, { id: conn.id, user, remoteAddress: conn.remoteAddress, bind, port }, level);
      reject?.();
    };
    if (this.closing) return refuse('the gateway is shutting down', 'info');
    if (!Number.isInteger(port) || port < 0 || port > 65535) return refuse(`${port} is not a TCP port`);
    const decision = checkListenPolicy(conn.key?.options, { bind, port });
    if (!decision.allowed) return refuse(decision.reason);
    if (!bindSockets(bind)) return refuse(`bind address "${bind}" is not supported (use "", 0.0.0.0, ::, localhost or an IP address)`);

    const fwd = this.newForwardListener(conn, { bind, requestedPort: port });
    fwd.port = port;
    const entry: Registered = { conn, fwd };
    const reserve = () => this.registry.add(entry); // the port, against concurrent requests while binding
    let tookOver = false;
    if (port === 0) {
      reserve();
    } else {
      const claim = await this.claimHeld(conn, 'port', () => [...this.registry].filter((e) => e.fwd.socketPath === undefined && e.fwd.port === port && bindsOverlap(e.fwd.bind, bind)), reserve);
      if (!claim.ok) return refuse(claim.reason, claim.level);
      tookOver = claim.tookOver;
    }
    let actual: number | undefined;
    for (let attempt = 0; actual === undefined; attempt++) {
      try {
        actual = await fwd.listen();
      } catch (err) {
        // Just taken over: the old listener's socket may need a moment to let go.
        if (tookOver && err instanceof ListenError && err.code === 'EADDRINUSE' && attempt < 20 && !conn.closed) {
          await sleep(50);
          continue;
        }
        this.registry.delete(entry);
        return refuse(err instanceof Error ? err.message : String(err));
      }
    }
    if (conn.closed || this.closing || !this.registry.has(entry)) {
      fwd.destroy();
      this.registry.delete(entry);
      return reject?.();
    }
    conn.forwards.add(fwd);
    accept?.(actual);
    this.log('info', `gateway: user "${user}" (connection #${conn.id}, ${holderText(conn)}) forwards ${formatHostPort(bind === '' ? '*' : bind, actual)}${port === 0 ? ' (port chosen by the gateway)' : ''}`, {
      event: 'forward', id: conn.id, user, bind, port: actual, requestedPort: port, ...holderFields(conn),
    });
    this.emit('forward', { id: conn.id, user, bind, port: actual, requestedPort: port });
  }

  /**
   * A port or socket someone may hold: the holder keeps it unless it is this very identity's
   * connection that fails a keepalive probe (ping-before-takeover); that one is dropped and its
   * forwards there removed. `clashing` lists the registered forwards in the way, asked afresh;
   * `reserve` registers the new forward in the same tick as the check that found it free (an
   * await in between would let a concurrent request take it too).
   */
  private async claimHeld(conn: Conn, noun: 'port' | 'socket', clashing: () => Registered[], reserve: () => void): Promise<{ ok: true; tookOver: boolean } | { ok: false; reason: string; level: GatewayLogLevel }> {
    const user = conn.user!;
    let tookOver = false;
    for (;;) {
      const held = clashing();
      if (held.length === 0) {
        reserve();
        return { ok: true, tookOver };
      }
      if (held.some((e) => e.conn === conn)) return { ok: false, reason: `this session already forwards that ${noun}`, level: 'info' };
      const foreign = held.find((e) => !e.conn.identity || !conn.identity || !sameIdentity(e.conn.identity, conn.identity));
      if (foreign) {
        return { ok: false, reason: `${noun} in use by another client (held by connection #${foreign.conn.id}, ${holderText(foreign.conn)}; this connection: ${holderText(conn)})`, level: 'warn' };
      }
      const old = held[0]!.conn;
      old.probe ??= probeClientAlive(old.client!, old.socket, this.opts.takeoverProbeTimeoutMs).finally(() => { old.probe = undefined; });
      const probe = await old.probe;
      if (conn.closed || this.closing) return { ok: false, reason: 'the connection or the gateway closed while the holder was probed', level: 'info' };
      if (probe !== 'dead') {
        if (probe === 'unsupported') this.log('warn', `gateway: ssh2 internals changed: a ${noun} held by a connection of the same key cannot be probed, so it is never taken over; see src/ssh2/server-ping.ts`);
        return { ok: false, reason: `${noun} in use by another client: connection #${old.id} of the same ${holderText(old)} from ${old.remoteAddress}:${old.remotePort} ${probe === 'alive' ? `answered a keepalive probe within ${this.opts.takeoverProbeTimeoutMs} ms and keeps it` : 'could not be probed'}`, level: 'warn' };
      }
      tookOver = true; // (its listener may need a moment to let go of the port)
      if (old.closed && ![...this.registry].some((e) => e.conn === old)) continue; // gone meanwhile: look again
      for (const entry of clashing().filter((e) => e.conn === old)) {
        const { fwd } = entry;
        this.totals.takeovers += 1;
        this.log('warn', `gateway: ${holderText(conn)} reconnected: connection #${conn.id} (user "${user}") takes ${describeForward(fwd)} over from its older connection #${old.id} (from ${old.remoteAddress}:${old.remotePort}, since ${old.since.toISOString()}), which did not answer a keepalive probe within ${this.opts.takeoverProbeTimeoutMs} ms and is closed`, {
          event: 'takeover', user, bind: fwd.bind, port: fwd.port, ...(fwd.socketPath !== undefined ? { socketPath: fwd.socketPath } : {}), from: old.id, to: conn.id, ...holderFields(conn),
        });
        this.emit('takeover', { user, bind: fwd.bind, port: fwd.port, ...(fwd.socketPath !== undefined ? { socketPath: fwd.socketPath } : {}), from: old.id, to: conn.id });
        this.removeForward(entry, 'takeover');
      }
      dropConnection(old, `replaced by connection #${conn.id} of the same ${holderText(old)} (forward takeover after a failed keepalive probe)`);
    }
  }

  /** streamlocal-forward@openssh.com: a unix socket in the socket directory, named after the owner. */
  private async requestSocketForward(conn: Conn, requested: string, accept: (() => void) | undefined, reject: (() => void) | undefined): Promise<void> {
    const user = conn.user!;
    const refuse = (reason: string, level: GatewayLogLevel = 'warn') => {
      this.refuse('forward', `${who(conn)}: socket forward ${JSON.stringify(requested)} refused: ${reason}`, { id: conn.id, user, remoteAddress: conn.remoteAddress, socketPath: requested }, level);
      reject?.();
    };
    if (this.closing) return refuse('the gateway is shutting down', 'info');
    if (this.socketDir === undefined) return refuse('unix socket forwarding is off on this gateway (no socket directory configured: --socket-dir)', 'info');
    const decision = checkSocketRequest(this.socketDir, requested, conn.identity, conn.user, conn.key?.options);
    if (!decision.allowed) return refuse(decision.reason);
    const socketPath = decision.path;
    const fwd = this.newForwardListener(conn, { bind: '', requestedPort: 0, socketPath });
    const entry: Registered = { conn, fwd };
    // Reserved (against concurrent requests while binding) in the same tick as the last check.
    const claim = await this.claimHeld(conn, 'socket', () => [...this.registry].filter((e) => e.fwd.socketPath === socketPath), () => this.registry.add(entry));
    if (!claim.ok) return refuse(claim.reason, claim.level);
    try {
      await fwd.listen();
    } catch (err) {
      this.registry.delete(entry);
      return refuse(err instanceof Error ? err.message : String(err));
    }
    if (conn.closed || this.closing || !this.registry.has(entry)) {
      fwd.destroy();
      this.registry.delete(entry);
      return reject?.();
    }
    conn.forwards.add(fwd);
    accept?.();
    this.log('info', `gateway: user "${user}" (connection #${conn.id}, ${holderText(conn)}) forwards unix socket ${socketPath}`, {
      event: 'forward', id: conn.id, user, socketPath, ...holderFields(conn),
    });
    this.emit('forward', { id: conn.id, user, bind: '', port: 0, requestedPort: 0, socketPath });
  }

  private cancelSocketForward(conn: Conn, requested: string, accept: (() => void) | undefined, reject: (() => void) | undefined): void {
    const socketPath = this.socketDir === undefined ? undefined : path.resolve(this.socketDir, requested);
    const entry = [...this.registry].find((e) => e.conn === conn && conn.forwards.has(e.fwd) && e.fwd.socketPath !== undefined && e.fwd.socketPath === socketPath);
    if (!entry) {
      this.log('info', `gateway: ${who(conn)}: cancel-streamlocal-forward for ${JSON.stringify(requested)} refused: no such forward on this session`, { event: 'cancel-refused', id: conn.id, user: conn.user, socketPath: requested });
      reject?.();
      return;
    }
    this.removeForward(entry, 'cancel');
    accept?.();
  }

  private newForwardListener(conn: Conn, where: { bind: string; requestedPort: number; socketPath?: string }): ForwardListener {
    return new ForwardListener({
      ...where,
      connection: conn.id,
      user: conn.user!,
      idleTimeoutMs: this.opts.idleTimeoutMs,
      gate: conn.gate!,
      openChannel: (boundAddr, boundPort, originAddr, originPort, cb) => {
        if (conn.closed || !conn.client) return cb(new Error('the SSH session is gone'));
        const done = (err: Error | undefined, channel: unknown) => cb(err ?? undefined, channel as SshChannel);
        try {
          if (where.socketPath !== undefined) conn.client.openssh_forwardOutStreamLocal(where.socketPath, done);
          else conn.client.forwardOut(boundAddr, boundPort, originAddr, originPort, done);
        } catch (err) {
          cb(err as Error);
        }
      },
      log: this.log,
      onChannelOpen: (i) => { this.totals.channels += 1; this.emit('channelOpen', i); },
      onChannelClose: (i) => this.emit('channelClose', i),
    });
  }

  private cancelForward(conn: Conn, info: TcpipBindInfo, accept: (() => void) | undefined, reject: (() => void) | undefined): void {
    const bind = String(info.bindAddr ?? '');
    const port = Number(info.bindPort);
    const norm = (b: string) => (b === '*' ? '' : b.toLowerCase());
    const mine = [...this.registry].filter((e) => e.conn === conn && conn.forwards.has(e.fwd) && e.fwd.socketPath === undefined);
    const entry = mine.find((e) => e.fwd.bind === bind && e.fwd.port === port)
      ?? mine.find((e) => norm(e.fwd.bind) === norm(bind) && (e.fwd.port === port || (port === 0 && e.fwd.requestedPort === 0)));
    if (!entry) {
      this.log('info', `gateway: ${who(conn)}: cancel-tcpip-forward for ${formatHostPort(bind === '' ? '*' : bind, port)} refused: no such forward on this session`, { event: 'cancel-refused', id: conn.id, user: conn.user, bind, port });
      reject?.();
      return;
    }
    this.removeForward(entry, 'cancel');
    accept?.();
  }

  /** Unregisters a forward. 'cancel' keeps its open channels running (as sshd does). */
  private removeForward(entry: Registered, reason: 'cancel' | 'disconnect' | 'takeover' | 'shutdown'): void {
    if (!this.registry.delete(entry)) return;
    const { conn, fwd } = entry;
    conn.forwards.delete(fwd);
    if (reason === 'cancel') fwd.stopListening();
    else fwd.destroy(reason === 'shutdown' ? 'drain' : 'destroyed');
    const s = fwd.status();
    conn.closedBytes.in += s.bytesIn;
    conn.closedBytes.out += s.bytesOut;
    const socket = fwd.socketPath !== undefined ? { socketPath: fwd.socketPath } : {};
    this.log('info', `gateway: forward ${describeForward(fwd)} of user "${conn.user}" (connection #${conn.id}) closed (${reason}): ${s.channelsTotal} channels, ${s.bytesIn} bytes in, ${s.bytesOut} bytes out`, {
      event: 'forward-closed', id: conn.id, user: conn.user, bind: fwd.bind, port: fwd.port, ...socket, reason, channelsTotal: s.channelsTotal, bytesIn: s.bytesIn, bytesOut: s.bytesOut,
    });
    this.emit('forwardClosed', { id: conn.id, user: conn.user!, bind: fwd.bind, port: fwd.port, ...socket, reason });
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

/** The socket directory's realpath; it must exist and be a directory. */
async function resolveSocketDir(dir: string): Promise<string> {
  try {
    const real = await realpath(dir);
    if (!(await stat(real)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    return real;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `socketDir: ${dir} is not a usable directory (${e.code ?? e.message}); create it first (e.g. mode 0750, group of the reverse proxy).`, { cause: err });
  }
}
