// The agent's configuration as the rest of the program sees it, after loading and validation.
// Shapes follow /work/shared/design/contract.md ("Configuration", "Session and forward"). The
// session, forward and credential types are derived from their schema (config/session-schema.ts),
// the one declaration of their keys and defaults.
import type { LogFormat, LogLevel } from '../src/log.js';
import type { AssignmentDocumentSchema, SchemaDef } from './session-schema.js';

/** A named local credential. Secrets are never stored here: only where to find them. */
export type CredentialConfig = SchemaDef<'credential'>;

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
   * Most channels any one forward may hold open (its maxChannels): an omitted maxChannels gets
   * this ceiling, a larger one written in a document or the config is over budget. Absent =
   * DEFAULT_MAX_CHANNELS_PER_FORWARD (the schema maximum).
   */
  maxChannelsPerForward?: number;
  /**
   * Unix socket paths on the SSH host remote forwards may listen on (`remoteSocket`): `*` globs
   * ("/run/edge/*.sock"). Absent = any (DEFAULT_ALLOWED_REMOTE_SOCKETS): the socket lives on the
   * gateway, reachable only by its local users, and the gateway's sshd decides what it allows.
   */
  allowedRemoteSockets?: string[];
  // What an assignment document may set beyond targets and binds (config/document-policy.ts);
  // the local config's own sessions are not bound by these. Absent = false / none / any / the
  // documented ceilings (HTTP_CEILINGS).
  /** A document may set hostKeys.insecureAcceptAny: true. */
  allowInsecureAcceptAny?: boolean;
  /** A document may set a forward's http.insecureSkipVerify: true. */
  allowInsecureSkipVerify?: boolean;
  /** Local paths a document's http.caFile may name: "/dir/", "/dir/*.pem", "/exact.pem", "*". Absent = none. */
  allowedCaFiles?: string[];
  /** Local paths a document's hostKeys.knownHostsFile may name (same patterns). Absent = any. */
  allowedKnownHostsFiles?: string[];
  /** SSH hosts (and proxies) a document's session may connect to: "host" / "host:port" patterns (config/ssh-host-policy.ts). Absent = any. */
  allowedSshHosts?: string[];
  /** Ceilings a document's http.maxConnections / pipelining / maxConcurrentRequests / maxRequestHeaderBytes are lowered to. */
  maxHttpConnectionsPerForward?: number;
  maxHttpPipelining?: number;
  maxHttpConcurrentRequestsPerForward?: number;
  maxHttpRequestHeaderBytes?: number;
}

/**
 * A validated remote forward of a config `sessions[]` entry or an assignment document, defaults
 * filled in: `bind` ('localhost' unless remoteSocket) always, `port` absent only with remoteSocket.
 */
export type ForwardSpec = Omit<SchemaDef<'forward'>, 'bind' | 'port'> & { bind: string; port: number };

/** A local forward (ssh -L). */
export type LocalForwardSpec = SchemaDef<'localForward'>;

/** A dynamic forward (ssh -D): SOCKS4/4a/5; `passwordEnv` names the variable holding the SOCKS password. */
export type DynamicForwardSpec = SchemaDef<'dynamicForward'>;

/** Settings shared by local and dynamic forwards (listeners on the device). */
export type ListenerSpecBase = Omit<LocalForwardSpec, 'host' | 'hostPort'>;

export type HostKeysSpec = SchemaDef<'hostKeys'>;

/**
 * A validated session from config `sessions[]` or an assignment document, defaults filled in
 * (fillSessionDefaults). `host` is absent when `hosts` is given; `port` is 22 without `hosts`.
 */
export type SessionSpec = Omit<SchemaDef<'session'>, 'host' | 'forwards'> & { host: string; forwards: ForwardSpec[] };

export type AssignmentDocument = Omit<AssignmentDocumentSchema, 'sessions'> & { sessions: SessionSpec[] };

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
