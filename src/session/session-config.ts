// The shape one SSH session is configured with inside the session core, and normaliseSession,
// the one function that completes it. The config loader (config/), the CLI and the library all
// build it through that function. The forward and setting types are derived from the schema
// (config/session-schema.ts), which also holds every default.
import type { HostKeyPolicy } from './host-keys/host-key-verifier.js';
import type { AlgorithmWidening } from '../ssh-algorithms.js';
import { FORWARD_BIND_DEFAULT, SESSION_PORT_DEFAULT, type SchemaDef } from '../../config/session-schema.js';
import { deepFreeze, schemaDefaults, withSchemaDefaults } from '../../config/schema-defaults.js';

/** Keepalive of the SSH connection: `intervalMs` between keepalives while the server is silent (0 disables), `countMax` unanswered ones tolerated. */
export type KeepaliveConfig = SchemaDef<'keepalive'>;

/**
 * Reconnects: first retry ceiling `retryIntervalMs`, doubling up to `maxRetryIntervalMs` (full
 * jitter); `maxRetries` -1 = unlimited; a link up for `stableAfterMs` resets the backoff;
 * authentication and host-key failures are retried no sooner than `authRetryIntervalMs` apart.
 */
export type ReconnectConfig = SchemaDef<'reconnect'>;
export type ReconnectMode = ReconnectConfig['mode'];

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
 * How an HTTP-aware forward (target http://, https:// or http+unix:) talks HTTP; ignored for
 * tcp:// and unix: targets. Every key has a schema default (DEFAULT_HTTP); the schema's
 * descriptions say what each one does.
 */
export type HttpForwardConfig = NonNullable<SchemaDef<'forward'>['http']>;

/** A remote forward (ssh -R) as the session runs it. */
export type ForwardConfig = Omit<SchemaDef<'forward'>, 'bind' | 'port' | 'remoteSocket' | 'target' | 'http'> & {
  /** Bind address sent in tcpip-forward: '', '0.0.0.0', '::', 'localhost', '127.0.0.1', '::1', or a host ('' with remoteSocket). */
  bind: string;
  /** 0 asks the server to choose (and for a remoteSocket forward). */
  port: number;
  /** A unix socket path on the SSH host to listen on instead of bind:port; '' = a TCP forward. */
  remoteSocket: string;
  /** tcp://host:port, unix:/path, http(s)://… — absent means event mode (the application handles channels). */
  target?: string;
  http: HttpForwardConfig;
};

/** A local forward (ssh -L): each connection to the device listener goes to host:hostPort as seen from the SSH host. */
export type LocalForwardConfig = SchemaDef<'localForward'>;

/** Settings shared by local (-L) and dynamic (-D) forwards: a listener on the device. */
export type LocalListenerConfig = Omit<LocalForwardConfig, 'host' | 'hostPort'>;

/** A dynamic forward (ssh -D): a SOCKS4/4a/5 server on the device; `password` is the resolved passwordEnv. */
export type DynamicForwardConfig = Omit<SchemaDef<'dynamicForward'>, 'passwordEnv'> & { password?: string };

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

// Every default below is the schema's (config/session-schema.ts); only the runtime-only keys a
// config file cannot set (maxSshSocketBuffer, an event-mode forward's id) are stated here.
export const DEFAULT_KEEPALIVE: Readonly<KeepaliveConfig> = deepFreeze(schemaDefaults<KeepaliveConfig>('keepalive'));
export const DEFAULT_RECONNECT: Readonly<ReconnectConfig> = deepFreeze(schemaDefaults<ReconnectConfig>('reconnect'));
export const DEFAULT_HTTP: Readonly<HttpForwardConfig> = deepFreeze(schemaDefaults<HttpForwardConfig>('forward', 'http'));
/** Bytes queued on the SSH socket above which target sockets stop being read. */
export const DEFAULT_MAX_SSH_SOCKET_BUFFER = 4 * 1024 * 1024;

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
/** `port` is required for a TCP forward; a remote socket forward (`remoteSocket`) has none. */
export type ForwardConfigInput = Partial<Omit<ForwardConfig, 'http'>> & ({ port: number } | { remoteSocket: string }) & { http?: Partial<HttpForwardConfig> };

/** A remote forward with every default filled in (deep-frozen). `index` names a forward given without id. */
export function normaliseForward(input: ForwardConfigInput | ForwardConfig, index: number): Readonly<ForwardConfig> {
  if (Object.isFrozen(input)) return input as ForwardConfig;
  const given = stripUndefined(input);
  const filled = withSchemaDefaults('forward', given) as Partial<ForwardConfig>;
  return deepFreeze({
    ...filled,
    id: given.id ?? `forward-${index}`,
    remoteSocket: given.remoteSocket ?? '',
    bind: given.bind ?? FORWARD_BIND_DEFAULT,
    // A socket forward has no port (0 in status); a port given with it is refused by compile().
    port: given.port ?? (given.remoteSocket ? 0 : (given.port as unknown as number)),
    // Kept as given when it is not an object, so that compile() can name the bad key.
    http: given.http === undefined || given.http === null ? DEFAULT_HTTP
      : typeof given.http === 'object' && !Array.isArray(given.http) ? withSchemaDefaults('forward', { http: given.http }).http as HttpForwardConfig
        : given.http as HttpForwardConfig,
  } as ForwardConfig);
}

export function normaliseLocalForward(input: LocalForwardConfigInput, index: number): Readonly<LocalForwardConfig> {
  if (Object.isFrozen(input)) return input as LocalForwardConfig;
  return deepFreeze({ ...withSchemaDefaults('localForward', stripUndefined(input)), id: input.id ?? `local-${index}` } as LocalForwardConfig);
}

export function normaliseDynamicForward(input: DynamicForwardConfigInput, index: number): Readonly<DynamicForwardConfig> {
  if (Object.isFrozen(input)) return input as DynamicForwardConfig;
  return deepFreeze({ ...withSchemaDefaults('dynamicForward', stripUndefined(input)), id: input.id ?? `dynamic-${index}` } as DynamicForwardConfig);
}

/**
 * THE one place a session's defaults are applied, for every way in (config file, assignment
 * document, `edge-agent tunnel` flags, startAgent, ReverseTunnel, createSession): the result is
 * complete and deep-frozen, and nothing downstream fills anything in again. Keys it does not
 * know (e.g. `hosts` of a session with several gateways) are kept. A frozen input is returned
 * as it is.
 */
export function normaliseSession<I extends SessionConfigInput>(input: I): Readonly<SessionConfig & Omit<I, keyof SessionConfig>> {
  type Out = SessionConfig & Omit<I, keyof SessionConfig>;
  if (Object.isFrozen(input)) return input as unknown as Out;
  const given = stripUndefined(input) as SessionConfigInput;
  const filled = withSchemaDefaults('session', {
    keepalive: given.keepalive, reconnect: given.reconnect, connectTimeoutMs: given.connectTimeoutMs, handshakeTimeoutMs: given.handshakeTimeoutMs,
    proxy: given.proxy, exitOnForwardFailure: given.exitOnForwardFailure, sshdNoDelayExec: given.sshdNoDelayExec,
  }) as Pick<SessionConfig, 'keepalive' | 'reconnect' | 'connectTimeoutMs' | 'handshakeTimeoutMs' | 'proxy' | 'exitOnForwardFailure' | 'sshdNoDelayExec'>;
  const port = given.port ?? SESSION_PORT_DEFAULT;
  return deepFreeze({
    ...given,
    ...filled,
    id: given.id ?? `${given.host}:${port}`,
    port,
    hostKeys: given.hostKeys ?? {},
    maxSshSocketBuffer: given.maxSshSocketBuffer ?? DEFAULT_MAX_SSH_SOCKET_BUFFER,
    forwards: (given.forwards ?? []).map(normaliseForward),
    localForwards: (given.localForwards ?? []).map(normaliseLocalForward),
    dynamicForwards: (given.dynamicForwards ?? []).map(normaliseDynamicForward),
  } as Out);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
