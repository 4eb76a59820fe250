// The shape one SSH session is configured with inside the session core. The config loader
// (config/) and the CLI both produce this; defaults follow the seed (keepalive 30 s × 5, retry
// every 5 s, unlimited retries) except where the project chose safer ones (reconnect `always`,
// bind `localhost`).
import type { HostKeyPolicy } from './host-keys/host-key-verifier.js';
import type { AlgorithmWidening } from '../ssh-algorithms.js';

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
  /**
   * Mode `always` (and `after-connect` once connected): authentication and host key failures are
   * retried too, each time re-reading keys and known_hosts, no sooner than this apart (plus up
   * to 25 % jitter). Default 60 s.
   */
  authRetryIntervalMs: number;
}

/** Credentials as the session uses them (already resolved: files read, env vars looked up). */
export interface AuthConfig {
  username: string;
  /**
   * Private keys, tried in order (OpenSSH or PEM; ed25519, ecdsa, rsa). With `file`, the key is
   * read from that file again at every connection attempt (credentials.ts) and `key` is only the
   * copy read at startup. `certificateFile`: the key's OpenSSH user certificate, also read again
   * at every attempt (renewal without restarts); the key is then offered only as that certificate.
   */
  privateKeys?: Array<{ key: Buffer | string; passphrase?: string; source: string; file?: string; certificateFile?: string }>;
  /** Path of an ssh-agent socket (usually $SSH_AUTH_SOCK). */
  agent?: string;
  password?: string;
  /** Answer keyboard-interactive password prompts with `password`. Default true when a password is set. */
  keyboardInteractive?: boolean;
}

/**
 * How an HTTP-aware forward (target http://, https:// or http+unix:) talks HTTP. Ignored for
 * tcp:// and unix: targets. Every key has a default (DEFAULT_HTTP).
 */
export interface HttpForwardConfig {
  /** Time the service may take to send the response head after the request went out; then 504. 0 = no limit. */
  headersTimeoutMs: number;
  /** Longest silence between two chunks of a response body; then 504 (or a cut connection once the head was sent). 0 = no limit. */
  bodyTimeoutMs: number;
  /** An idle keep-alive connection from the outside client is closed after this long (default 5 s, as Node's own servers). 0 = never (idleTimeoutMs still applies). */
  keepAliveTimeoutMs: number;
  /** Connections to the service the forward's pool may open (undici Pool `connections`). */
  maxConnections: number;
  /** Requests in flight per connection to the service (undici `pipelining`; 1 = keep-alive without pipelining). */
  pipelining: number;
  /** Requests of this forward being served at once; more are answered 503. */
  maxConcurrentRequests: number;
  /** Largest request body in bytes; larger ones are answered 413. 0 = no limit. */
  maxRequestBodyBytes: number;
  /** Largest request head (request line + headers) in bytes; larger ones are answered 431. */
  maxRequestHeaderBytes: number;
  /** Keep (and append to) X-Forwarded-For/-Proto/-Host and Forwarded sent by the outside client. Default false: replace them. */
  trustForwardedHeaders: boolean;
  /** Continue an incoming traceparent/tracestate. Default false: the agent starts a new trace. */
  trustTraceparent: boolean;
  /** Host header sent to the service; '' (default) = the client's Host unchanged. */
  hostHeader: string;
  /** PEM file of CA certificates trusted for an https:// service (added to nothing: replaces Node's default roots). '' = Node's default roots. */
  caFile: string;
  /** Do not verify the https:// service's certificate (logs a warning). */
  insecureSkipVerify: boolean;
}

export interface ForwardConfig {
  /** Unique within the session; stable across reconfiguration. */
  id: string;
  /** Bind address sent in tcpip-forward: '', '0.0.0.0', '::', 'localhost', '127.0.0.1', '::1', or a host. */
  bind: string;
  /** 0 asks the server to choose. */
  port: number;
  /**
   * Listen on this unix socket path on the SSH host instead of bind:port (OpenSSH
   * streamlocal-forward, `ssh -R /path:host:port`); '' (default) = a TCP forward on bind:port.
   */
  remoteSocket: string;
  /** tcp://host:port, unix:/path, http(s)://… — absent means event mode (the application handles channels). */
  target?: string;
  /** CIDR list of origin addresses allowed in; empty = anyone the SSH host lets connect. */
  allowOrigins: string[];
  maxChannels: number;
  /** 0 = no idle timeout. */
  idleTimeoutMs: number;
  targetConnectTimeoutMs: number;
  /** Bandwidth cap for the whole forward, each direction, in bytes per second; 0 = none. */
  maxBytesPerSecond: number;
  /** HTTP settings of http://, https:// and http+unix: targets. */
  http: HttpForwardConfig;
}

/** Settings shared by local (-L) and dynamic (-D) forwards: a listener on the device. */
export interface LocalListenerConfig {
  /** Unique within the session (across forwards, localForwards and dynamicForwards). */
  id: string;
  /**
   * Device address to listen on: 'localhost' (default: 127.0.0.1 and ::1), an IP address, or
   * '' / '*' for all interfaces. Anything but loopback needs `allowRelay: true`.
   */
  bind: string;
  /** Device port; 0 = any free port (reported as `localPort` in status). */
  port: number;
  /** Let other machines use the listener (Tectia allow-relay, ssh -g). Default false. */
  allowRelay: boolean;
  /** Connections open (or waiting for their channel) at once; more are closed at once. */
  maxChannels: number;
  /** 0 = no idle timeout. */
  idleTimeoutMs: number;
  /**
   * A connection arriving while the SSH session is down waits this long for it, then is
   * closed (SOCKS: after a "general failure" reply). 0 = closed at once.
   */
  sessionWaitMs: number;
  /** The SSH host must confirm the direct-tcpip channel within this, else the connection is closed. */
  openTimeoutMs: number;
}

/** A local forward (ssh -L): each connection to the device listener goes to host:hostPort as seen from the SSH host. */
export interface LocalForwardConfig extends LocalListenerConfig {
  /** Destination host, resolved by the SSH host ("localhost" is the SSH host itself). */
  host: string;
  hostPort: number;
}

/** A dynamic forward (ssh -D): a SOCKS4/4a/5 server on the device; connections go out from the SSH host. */
export interface DynamicForwardConfig extends LocalListenerConfig {
  /**
   * Destinations SOCKS clients may ask for: host:port patterns ("*.lan:443", "10.0.0.0/8:*",
   * "[::1]:22", "*:*"). Empty (the default) = every request is refused.
   */
  allowDestinations: string[];
  /** With `password`: SOCKS5 username/password authentication is required (SOCKS4 is then refused). */
  username?: string;
  password?: string;
}

/** Proxy settings from the environment, for `proxy: "env"` (default: the thread's process.env). */
export interface ProxyEnv {
  httpsProxy?: string;
  allProxy?: string;
  noProxy?: string;
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
  /**
   * Cipher preference list passed to ssh2. undefined = the order decided in the main thread
   * (src/session/cipher-order.ts: AES-GCM first on CPUs with AES instructions, chacha20-poly1305
   * first otherwise); in a worker thread the supervisor passes that decision down.
   */
  ciphers?: string[];
  /**
   * FOR LEGACY HOSTS ONLY: algorithm names offered in addition to (after) the secure defaults of
   * src/ssh-algorithms.ts, per category (kex, serverHostKey, cipher, hmac, compress). Config key
   * `algorithms` (local config only), CLI `--algorithms CATEGORY=NAME,…`.
   */
  algorithms?: AlgorithmWidening;
  /**
   * Right after connecting, open one session channel and exec `true` on the SSH host, so that
   * OpenSSH's sshd (≤ 10.0) turns on TCP_NODELAY for the connection: without it a forward-only
   * session sees ~40 ms request/response tails through sshd. Opt-in (default false): it runs a
   * command on the host, which some operators audit or forbid. Failures are ignored (logged at
   * debug). Config key `sshdNoDelayExec`, CLI `--sshd-nodelay-exec`.
   */
  sshdNoDelayExec: boolean;
  forwards: ForwardConfig[];
  /** Local forwards (ssh -L). */
  localForwards: LocalForwardConfig[];
  /** Dynamic forwards (ssh -D, SOCKS). */
  dynamicForwards: DynamicForwardConfig[];
  /**
   * How the SSH host is reached: '' = directly; 'http://[user:pass@]host:port' (HTTP CONNECT),
   * 'socks5://…', 'socks5h://…', 'socks4://…', 'socks4a://…'; 'env' = HTTPS_PROXY / ALL_PROXY,
   * bypassed for hosts in NO_PROXY.
   */
  proxy: string;
  /** For `proxy: "env"`: the variables to use instead of the thread's environment. */
  proxyEnv?: ProxyEnv;
  /** A forward that cannot be set up (a local listener, a refused remote forward) fails the whole session. */
  exitOnForwardFailure: boolean;
}

export const DEFAULT_KEEPALIVE: KeepaliveConfig = { intervalMs: 30_000, countMax: 5 };
export const DEFAULT_RECONNECT: ReconnectConfig = {
  mode: 'always',
  retryIntervalMs: 5_000,
  maxRetryIntervalMs: 60_000,
  maxRetries: -1,
  stableAfterMs: 60_000,
  authRetryIntervalMs: 60_000,
};
export const DEFAULT_HTTP: HttpForwardConfig = {
  headersTimeoutMs: 60_000,
  bodyTimeoutMs: 300_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 64,
  pipelining: 1,
  maxConcurrentRequests: 512,
  maxRequestBodyBytes: 0,
  maxRequestHeaderBytes: 16 * 1024,
  trustForwardedHeaders: false,
  trustTraceparent: false,
  hostHeader: '',
  caFile: '',
  insecureSkipVerify: false,
};
export const DEFAULT_FORWARD: Omit<ForwardConfig, 'id' | 'port'> = {
  bind: 'localhost',
  remoteSocket: '',
  allowOrigins: [],
  maxChannels: 1024,
  idleTimeoutMs: 0,
  targetConnectTimeoutMs: 10_000,
  maxBytesPerSecond: 0,
  http: DEFAULT_HTTP,
};

export const DEFAULT_LOCAL_LISTENER: Omit<LocalListenerConfig, 'id' | 'port'> = {
  bind: 'localhost',
  allowRelay: false,
  maxChannels: 1024,
  idleTimeoutMs: 0,
  sessionWaitMs: 10_000,
  openTimeoutMs: 15_000,
};

export type SessionConfigInput = Partial<Omit<SessionConfig, 'keepalive' | 'reconnect' | 'forwards' | 'auth' | 'localForwards' | 'dynamicForwards'>> & {
  host: string;
  auth: AuthConfig;
  keepalive?: Partial<KeepaliveConfig>;
  reconnect?: Partial<ReconnectConfig>;
  forwards?: ForwardConfigInput[];
  localForwards?: LocalForwardConfigInput[];
  dynamicForwards?: DynamicForwardConfigInput[];
};

export type LocalForwardConfigInput = Partial<LocalForwardConfig> & { port: number; host: string; hostPort: number };
export type DynamicForwardConfigInput = Partial<DynamicForwardConfig> & { port: number };

export function localForwardWithDefaults(input: LocalForwardConfigInput, index: number): LocalForwardConfig {
  return { ...DEFAULT_LOCAL_LISTENER, ...stripUndefined(input), id: input.id ?? `local-${index}` } as LocalForwardConfig;
}

export function dynamicForwardWithDefaults(input: DynamicForwardConfigInput, index: number): DynamicForwardConfig {
  return { ...DEFAULT_LOCAL_LISTENER, allowDestinations: [], ...stripUndefined(input), id: input.id ?? `dynamic-${index}` } as DynamicForwardConfig;
}

/** `port` is required for a TCP forward; a remote socket forward (`remoteSocket`) has none. */
export type ForwardConfigInput = Partial<Omit<ForwardConfig, 'http'>> & ({ port: number } | { remoteSocket: string }) & { http?: Partial<HttpForwardConfig> };

export function forwardWithDefaults(input: ForwardConfigInput, index: number): ForwardConfig {
  return {
    ...DEFAULT_FORWARD,
    ...stripUndefined(input),
    // A socket forward has no port (0 in status); a port given with it is refused by compile().
    port: input.port ?? (input.remoteSocket ? 0 : (input.port as unknown as number)),
    id: input.id ?? `forward-${index}`,
    // Kept as given when it is not an object, so that compile() can name the bad key.
    http: input.http === undefined || input.http === null ? DEFAULT_HTTP
      : typeof input.http === 'object' && !Array.isArray(input.http) ? { ...DEFAULT_HTTP, ...stripUndefined(input.http) }
        : input.http as HttpForwardConfig,
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
    ...(input.algorithms ? { algorithms: input.algorithms } : {}),
    sshdNoDelayExec: input.sshdNoDelayExec ?? false,
    forwards: (input.forwards ?? []).map(forwardWithDefaults),
    localForwards: (input.localForwards ?? []).map(localForwardWithDefaults),
    dynamicForwards: (input.dynamicForwards ?? []).map(dynamicForwardWithDefaults),
    proxy: input.proxy ?? '',
    ...(input.proxyEnv ? { proxyEnv: input.proxyEnv } : {}),
    exitOnForwardFailure: input.exitOnForwardFailure ?? false,
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
