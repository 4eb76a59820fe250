// The shape one SSH session is configured with inside the session core. The config loader
// (config/) and the CLI both produce this; defaults follow the seed (keepalive 30 s × 5, retry
// every 5 s, unlimited retries) except where the project chose safer ones (reconnect `always`,
// bind `localhost`).
import type { HostKeyPolicy } from './host-keys/host-key-verifier.js';

export type ReconnectMode = 'never' | 'after-connect' | 'always';

export interface KeepaliveConfig {
  /** Milliseconds between keepalives while the server is silent; 0 disables. Seed default 30 s. */
  intervalMs: number;
  /** Unanswered keepalives tolerated before the session is declared dead. Seed default 5. */
  countMax: number;
}

export interface ReconnectConfig {
  mode: ReconnectMode;
  /** First retry ceiling; later ones double up to maxRetryIntervalMs (full jitter). */
  retryIntervalMs: number;
  maxRetryIntervalMs: number;
  /** -1 = unlimited. */
  maxRetries: number;
  /** A link that stayed up this long resets the backoff to its first step. */
  stableAfterMs: number;
}

/** Credentials as the session uses them (already resolved: files read, env vars looked up). */
export interface AuthConfig {
  username: string;
  /** Private keys, tried in order (OpenSSH or PEM; ed25519, ecdsa, rsa). */
  privateKeys?: Array<{ key: Buffer | string; passphrase?: string; source: string }>;
  /** Path of an ssh-agent socket (usually $SSH_AUTH_SOCK). */
  agent?: string;
  password?: string;
  /** Answer keyboard-interactive password prompts with `password`. Default true when a password is set. */
  keyboardInteractive?: boolean;
}

export interface ForwardConfig {
  /** Unique within the session; stable across reconfiguration. */
  id: string;
  /** Bind address sent in tcpip-forward: '', '0.0.0.0', '::', 'localhost', '127.0.0.1', '::1', or a host. */
  bind: string;
  /** 0 asks the server to choose. */
  port: number;
  /** tcp://host:port, unix:/path, http(s)://… — absent means event mode (the application handles channels). */
  target?: string;
  /** CIDR list of origin addresses allowed in; empty = anyone the SSH host lets connect. */
  allowOrigins: string[];
  maxChannels: number;
  /** 0 = no idle timeout. */
  idleTimeoutMs: number;
  targetConnectTimeoutMs: number;
}

export interface SessionConfig {
  id: string;
  host: string;
  port: number;
  auth: AuthConfig;
  hostKeys: HostKeyPolicy;
  keepalive: KeepaliveConfig;
  reconnect: ReconnectConfig;
  /** TCP connect to the SSH host. */
  connectTimeoutMs: number;
  /** From TCP connected to authenticated. */
  handshakeTimeoutMs: number;
  /** Bytes queued on the SSH socket above which target sockets stop being read (ssh2 ignores socket backpressure). */
  maxSshSocketBuffer: number;
  /** Cipher preference list passed to ssh2; undefined = ssh2's defaults. */
  ciphers?: string[];
  forwards: ForwardConfig[];
}

export const DEFAULT_KEEPALIVE: KeepaliveConfig = { intervalMs: 30_000, countMax: 5 };
export const DEFAULT_RECONNECT: ReconnectConfig = {
  mode: 'always',
  retryIntervalMs: 5_000,
  maxRetryIntervalMs: 60_000,
  maxRetries: -1,
  stableAfterMs: 60_000,
};
export const DEFAULT_FORWARD: Omit<ForwardConfig, 'id' | 'port'> = {
  bind: 'localhost',
  allowOrigins: [],
  maxChannels: 1024,
  idleTimeoutMs: 0,
  targetConnectTimeoutMs: 10_000,
};

export type SessionConfigInput = Partial<Omit<SessionConfig, 'keepalive' | 'reconnect' | 'forwards' | 'auth'>> & {
  host: string;
  auth: AuthConfig;
  keepalive?: Partial<KeepaliveConfig>;
  reconnect?: Partial<ReconnectConfig>;
  forwards?: ForwardConfigInput[];
};

export type ForwardConfigInput = Partial<ForwardConfig> & { port: number };

export function forwardWithDefaults(input: ForwardConfigInput, index: number): ForwardConfig {
  return {
    ...DEFAULT_FORWARD,
    ...stripUndefined(input),
    port: input.port,
    id: input.id ?? `forward-${index}`,
  };
}

export function sessionWithDefaults(input: SessionConfigInput): SessionConfig {
  return {
    id: input.id ?? `${input.host}:${input.port ?? 22}`,
    host: input.host,
    port: input.port ?? 22,
    auth: input.auth,
    hostKeys: input.hostKeys ?? {},
    keepalive: { ...DEFAULT_KEEPALIVE, ...stripUndefined(input.keepalive ?? {}) },
    reconnect: { ...DEFAULT_RECONNECT, ...stripUndefined(input.reconnect ?? {}) },
    connectTimeoutMs: input.connectTimeoutMs ?? 15_000,
    handshakeTimeoutMs: input.handshakeTimeoutMs ?? 30_000,
    maxSshSocketBuffer: input.maxSshSocketBuffer ?? 4 * 1024 * 1024,
    ciphers: input.ciphers,
    forwards: (input.forwards ?? []).map(forwardWithDefaults),
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
