// The agent's configuration as the rest of the program sees it, after loading and validation.
// Shapes follow /work/shared/design/contract.md ("Configuration", "Session and forward").
import type { LogFormat, LogLevel } from '../src/log.js';
import type { AlgorithmWidening } from '../src/ssh-algorithms.js';
import type { HttpForwardConfig, KeepaliveConfig, LocalListenerConfig, ReconnectConfig } from '../src/session/session-config.js';

/** A named local credential. Secrets are never stored here: only where to find them. */
export interface CredentialConfig {
  /** Path of an OpenSSH or PEM private key. */
  privateKeyFile?: string;
  /** Path of the key's OpenSSH user certificate; read again at every connection attempt (renewal). */
  certificateFile?: string;
  /** Name of the environment variable holding the key's passphrase. */
  passphraseEnv?: string;
  /** Name of the environment variable holding a password (password + keyboard-interactive auth). */
  passwordEnv?: string;
  /** `true` = the ssh-agent at $SSH_AUTH_SOCK; a string = that agent socket path. */
  agent?: boolean | string;
}

/** Local bounds on what any session (static or remotely assigned) may ask for. */
export interface Policy {
  /** `host:port` patterns (`*` wildcards, `[v6]:port`, port ranges `8000-8999`), `unix:/path`, `unix:/dir/`, `unix:/dir/*`, `unix:*`. */
  allowedTargets: string[];
  /** Exact bind addresses; `*` allows any. */
  allowedBindAddresses: string[];
  /**
   * Device addresses local (-L) and dynamic (-D) forwards may listen on; exact addresses, `*`
   * allows any. Absent = loopback only (DEFAULT_ALLOWED_LOCAL_BIND_ADDRESSES).
   */
  allowedLocalBindAddresses?: string[];
  /** Most sessions (static + assigned). Absent = DEFAULT_MAX_SESSIONS. */
  maxSessions?: number;
  /** Most forwards + localForwards + dynamicForwards per session. Absent = DEFAULT_MAX_FORWARDS_PER_SESSION. */
  maxForwardsPerSession?: number;
  /**
   * Unix socket paths on the SSH host remote forwards may listen on (`remoteSocket`): `*` globs
   * ("/run/edge/*.sock"). Absent = any (DEFAULT_ALLOWED_REMOTE_SOCKETS): the socket lives on the
   * gateway, reachable only by its local users, and the gateway's sshd decides what it allows.
   */
  allowedRemoteSockets?: string[];
}

export interface ForwardSpec {
  id: string;
  /** 'localhost' when absent (filled in by validation); absent for a remoteSocket forward. */
  bind: string;
  /** 0 asks the SSH host to choose; absent (0) for a remoteSocket forward. */
  port: number;
  /** A unix socket path on the SSH host to listen on instead of bind/port. */
  remoteSocket?: string;
  /** tcp://host:port, unix:/path, http(s)://host[:port] */
  target: string;
  allowOrigins: string[];
  maxChannels: number;
  idleTimeoutMs: number;
  /** 0 = no cap. */
  maxBytesPerSecond: number;
  targetConnectTimeoutMs: number;
  /** HTTP-aware settings for http(s):// and http+unix: targets. */
  http?: Partial<HttpForwardConfig>;
}

/** Settings shared by local and dynamic forwards (listeners on the device). */
export type ListenerSpecBase = LocalListenerConfig;

/** A local forward (ssh -L). */
export interface LocalForwardSpec extends ListenerSpecBase {
  host: string;
  hostPort: number;
}

/** A dynamic forward (ssh -D): SOCKS4/4a/5. */
export interface DynamicForwardSpec extends ListenerSpecBase {
  allowDestinations: string[];
  username?: string;
  /** Name of the environment variable holding the SOCKS password. */
  passwordEnv?: string;
}

export interface HostKeysSpec {
  /** "" (or an empty list) = none. */
  knownHostsFile?: string | string[];
  fingerprints?: string[];
  insecureAcceptAny?: boolean;
  /** CA public keys trusted to sign this host's certificate. */
  certificateAuthorities?: string[];
}

/** A validated session from config `sessions[]` or an assignment document, defaults filled in. */
export interface SessionSpec {
  id: string;
  /** Absent when `hosts` is given. */
  host: string;
  /** 22 when absent; never with `hosts`. */
  port?: number;
  /** Several gateways, most preferred first ("host[:port]"), instead of host/port. */
  hosts?: string[];
  strategy?: 'failover' | 'all';
  failbackAfterMs?: number;
  username: string;
  /** Name of an entry in the local `credentials`. */
  credential: string;
  hostKeys: HostKeysSpec;
  keepalive: KeepaliveConfig;
  reconnect: ReconnectConfig;
  connectTimeoutMs: number;
  handshakeTimeoutMs: number;
  forwards: ForwardSpec[];
  /** Filled in ([]) by validation; optional for code that builds specs by hand. */
  localForwards?: LocalForwardSpec[];
  dynamicForwards?: DynamicForwardSpec[];
  /** '' (direct), 'env', or a proxy URL (may carry credentials: mask before showing). */
  proxy?: string;
  exitOnForwardFailure?: boolean;
  /** Run `true` on the SSH host after connecting so OpenSSH ≤ 10.0 sets TCP_NODELAY. */
  sshdNoDelayExec?: boolean;
  /** Ciphers to offer, in order (default: chosen once for this CPU). */
  ciphers?: string[];
  /** Legacy hosts only, local config only: SSH algorithms added after the defaults (src/ssh-algorithms.ts). */
  algorithms?: AlgorithmWidening;
}

export interface AssignmentDocument {
  revision: number;
  /** RFC 3339; a document past it is not applied. */
  expires?: string;
  sessions: SessionSpec[];
}

export type TelemetryExporter = 'otlp' | 'console' | 'none';

export interface AgentConfig {
  agent: {
    id: string; drainTimeoutMs: number; logLevel: LogLevel; logFormat: LogFormat;
    /** "" = the default state directory (see resolveStateDir). */
    stateDir: string;
    /** V8 heap limits of each session worker thread. */
    workerMaxHeapMb: number;
    workerMaxYoungHeapMb: number;
  };
  /** `listen` is "host:port" or "" (admin server disabled). */
  admin: { listen: string };
  credentials: Record<string, CredentialConfig>;
  policy: Policy;
  sessions: SessionSpec[];
  assignments: {
    /** "" = static sessions only. */
    url: string;
    tokenEnv: string;
    caFile: string;
    pollIntervalMs: number;
    cacheFile: string;
    signingPublicKey: string;
    /** Where status reports are POSTed; "" = no reports. */
    reportUrl: string;
    reportIntervalMs: number;
  };
  telemetry: { exporter: TelemetryExporter };
}

/** What a session is validated against: both come from the local config only, never from a remote document. */
export interface ValidationContext {
  credentials: Record<string, CredentialConfig>;
  policy: Policy;
}
