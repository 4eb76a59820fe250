// ReverseTunnel: the seed's SSHReverseTunnel component in TypeScript idiom, for applications
// that embed the tunnel. Both seed modes: with a `target`, each channel is piped to that
// service by the session core; without one (event mode) the application sees each channel
// open request, accepts or rejects it, and reads/writes the channel's data itself.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { EdgeError } from './errors.js';
import type { SshChannel } from './net/channel-pipe.js';
import type { ForwardStatus } from './session/forward-runtime.js';
import type { HostKeyPolicy } from './session/host-keys/host-key-verifier.js';
import type { AuthConfig, ForwardConfigInput, KeepaliveConfig, ReconnectConfig } from './session/session-config.js';
import { TunnelSession, type ChannelClosedInfo, type ChannelInfo, type IncomingChannel, type LogLevel, type ReconnectAttemptInfo, type SessionStatus } from './session/tunnel-session.js';

export interface ReverseTunnelOptions {
  host: string;
  port?: number;
  username: string;
  /** Private key contents (OpenSSH or PEM). */
  privateKey?: string | Buffer;
  /** Or a path to read it from. */
  privateKeyFile?: string;
  passphrase?: string;
  /** The key's OpenSSH user certificate (KEY-cert.pub); read again at every connection attempt. */
  certificateFile?: string;
  /** ssh-agent socket path; `true` uses $SSH_AUTH_SOCK. */
  agent?: string | boolean;
  password?: string;
  hostKeys: HostKeyPolicy;
  keepalive?: Partial<KeepaliveConfig>;
  reconnect?: Partial<ReconnectConfig>;
  connectTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  /** Names the session in logs and status. */
  id?: string;
}

export interface ForwardingRequest {
  /** Bind address on the SSH host; default 'localhost'. */
  address?: string;
  /** 0 lets the SSH host choose; the chosen port is returned. */
  port: number;
  /** tcp://host:port, unix:/path; omit for event mode. */
  target?: string;
  id?: string;
  allowOrigins?: string[];
  maxChannels?: number;
  idleTimeoutMs?: number;
}

/** Seed SSHChannelOpenRequest: accepted unless a listener calls reject(). */
export interface ChannelOpenRequest {
  channelId: number;
  service: 'forwarded-tcpip';
  forwardId: string;
  connectedAddress: string;
  connectedPort: number;
  originAddress: string;
  originPort: number;
  accept(): void;
  reject(): void;
}

export interface ReverseTunnelEvents {
  connected: [info: { serverBanner: string }];
  disconnected: [error: EdgeError];
  serverAuthentication: [info: { fingerprint: string; keyType: string; verifiedBy: string }];
  reconnectAttempt: [info: ReconnectAttemptInfo];
  channelOpenRequest: [request: ChannelOpenRequest];
  channelOpened: [info: ChannelInfo];
  channelData: [channelId: number, data: Buffer];
  channelEOF: [channelId: number];
  channelReadyToSend: [channelId: number];
  channelClosed: [info: ChannelClosedInfo];
  forward: [status: ForwardStatus];
  error: [error: EdgeError];
  log: [level: LogLevel, message: string];
}

export class ReverseTunnel extends EventEmitter<ReverseTunnelEvents> {
  private readonly session: TunnelSession;
  private readonly appChannels = new Map<number, SshChannel>();
  private nextForwardId = 1;

  constructor(options: ReverseTunnelOptions) {
    super();
    this.session = new TunnelSession({
      id: options.id,
      host: options.host,
      port: options.port,
      auth: resolveAuth(options),
      hostKeys: options.hostKeys,
      keepalive: options.keepalive,
      reconnect: options.reconnect,
      connectTimeoutMs: options.connectTimeoutMs,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
    }, { onIncomingChannel: (channel) => this.onIncoming(channel) });

    const s = this.session;
    s.on('connected', (info) => {
      this.emit('serverAuthentication', { fingerprint: info.hostKeyFingerprint, keyType: info.hostKeyType, verifiedBy: info.hostKeyVerifiedBy });
      this.emit('connected', { serverBanner: info.serverBanner });
    });
    s.on('disconnected', (error) => this.emit('disconnected', error));
    s.on('reconnectAttempt', (info) => this.emit('reconnectAttempt', info));
    s.on('forward', (status) => this.emit('forward', status));
    s.on('channelOpen', (info) => this.emit('channelOpened', info));
    s.on('channelClose', (info) => this.emit('channelClosed', info));
    s.on('log', (level, message) => this.emit('log', level, message));
    s.on('state', (state, error) => {
      // 'error' only reaches listeners that asked for it: an unhandled one must not crash the host app.
      if (state === 'failed' && error && this.listenerCount('error') > 0) this.emit('error', error);
    });
  }

  /** Connects and authenticates; resolves when the session is up. */
  async logon(): Promise<void> {
    this.session.start();
    await this.session.waitUntilConnected();
  }

  /** Asks the SSH host to listen; resolves with the port it listens on. */
  async requestForwarding(request: ForwardingRequest): Promise<{ id: string; port: number }> {
    const input: ForwardConfigInput = {
      id: request.id ?? `forward-${this.nextForwardId++}`,
      bind: request.address ?? 'localhost',
      port: request.port,
      target: request.target,
      allowOrigins: request.allowOrigins,
      maxChannels: request.maxChannels,
      idleTimeoutMs: request.idleTimeoutMs,
    };
    const { id } = this.session.addForward(input);
    try {
      return { id, port: await this.session.waitForForward(id) };
    } catch (err) {
      await this.session.removeForward(id).catch(() => {});
      throw err;
    }
  }

  /** Stops a listener, by the same address and port given to requestForwarding (or the assigned port). */
  async cancelForwarding(address: string, port: number): Promise<void> {
    const fwd = this.session.status().forwards.find((f) => f.bind === address && (f.port === port || f.remotePort === port));
    if (!fwd) throw new EdgeError('EDGE_ERR_UNKNOWN_FORWARD', `No forward on ${address || '*'}:${port} to cancel.`);
    await this.session.removeForward(fwd.id);
  }

  /** Writes to an event-mode channel; false means wait for 'channelReadyToSend'. */
  sendChannelData(channelId: number, data: Buffer | string): boolean {
    return this.appChannel(channelId).write(data);
  }

  /** Half-closes an event-mode channel (no more data from us). */
  sendChannelEOF(channelId: number): void {
    this.appChannel(channelId).end();
  }

  closeChannel(channelId: number): void {
    this.appChannel(channelId).close();
  }

  status(): SessionStatus {
    return this.session.status();
  }

  /** Graceful: cancels forwards, lets channels finish up to the deadline, disconnects (false = some were cut). */
  logoff(drainTimeoutMs = 10_000): Promise<boolean> {
    return this.session.close(drainTimeoutMs);
  }

  destroy(): void {
    this.session.destroy();
  }

  private appChannel(channelId: number): SshChannel {
    const channel = this.appChannels.get(channelId);
    if (!channel) throw new EdgeError('EDGE_ERR_UNKNOWN_CHANNEL', `No open event-mode channel ${channelId}.`);
    return channel;
  }

  private onIncoming(incoming: IncomingChannel): void {
    let rejected = false;
    const request: ChannelOpenRequest = {
      channelId: incoming.id,
      service: 'forwarded-tcpip',
      forwardId: incoming.forwardId,
      connectedAddress: incoming.connectedAddress,
      connectedPort: incoming.connectedPort,
      originAddress: incoming.originAddress,
      originPort: incoming.originPort,
      accept: () => { rejected = false; },
      reject: () => { rejected = true; },
    };
    this.emit('channelOpenRequest', request);
    if (rejected) return incoming.reject();
    const channel = incoming.accept();
    const id = incoming.id;
    this.appChannels.set(id, channel);
    channel.on('data', (data: Buffer) => this.emit('channelData', id, data));
    channel.on('end', () => this.emit('channelEOF', id));
    channel.on('drain', () => this.emit('channelReadyToSend', id));
    channel.on('error', () => {});
    channel.once('close', () => this.appChannels.delete(id));
  }
}

function resolveAuth(options: ReverseTunnelOptions): AuthConfig {
  const privateKeys: NonNullable<AuthConfig['privateKeys']> = [];
  const cert = options.certificateFile ? { certificateFile: options.certificateFile } : {};
  if (options.privateKey !== undefined) privateKeys.push({ key: options.privateKey, passphrase: options.passphrase, source: 'privateKey option', ...cert });
  if (options.privateKeyFile) {
    let key: Buffer;
    try {
      key = readFileSync(options.privateKeyFile);
    } catch (err) {
      throw new EdgeError('EDGE_ERR_KEY_INVALID', `privateKeyFile ${options.privateKeyFile} could not be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}.`);
    }
    // certificateFile belongs to the first key given (privateKey, else privateKeyFile).
    privateKeys.push({ key, passphrase: options.passphrase, source: options.privateKeyFile, file: options.privateKeyFile, ...(options.privateKey === undefined ? cert : {}) });
  }
  const agent = options.agent === true ? process.env.SSH_AUTH_SOCK : options.agent || undefined;
  if (options.agent === true && !agent) {
    throw new EdgeError('EDGE_ERR_INVALID_CONFIG', 'agent: true needs SSH_AUTH_SOCK to name the ssh-agent socket, and it is not set.');
  }
  return { username: options.username, privateKeys, agent, password: options.password };
}
