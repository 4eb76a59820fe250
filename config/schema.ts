// The convict schema of the agent's config file (contract.md "Configuration"). Every key has a
// doc string, a default, a format and an env var EDGE_AGENT_<PATH> (camelCase → SNAKE_CASE:
// agent.drainTimeoutMs → EDGE_AGENT_AGENT_DRAIN_TIMEOUT_MS). `credentials` and `sessions` are
// checked here only for their JSON type; their contents are validated with the JSON Schema in
// assignment.schema.json (see validate-sessions.ts). Only config/ imports convict.
import os from 'node:os';
import convict from 'convict';
import { checkAssignmentsUrl, ENV_NAME_PATTERN, MAX_TIMER_MS, parseListenAddress, parseSigningPublicKey } from './formats.js';
import { DEFAULT_ALLOWED_BIND_ADDRESSES, DEFAULT_ALLOWED_LOCAL_BIND_ADDRESSES, DEFAULT_ALLOWED_REMOTE_SOCKETS, DEFAULT_ALLOWED_TARGETS, DEFAULT_MAX_CHANNELS_PER_FORWARD, DEFAULT_MAX_FORWARDS_PER_SESSION, DEFAULT_MAX_SESSIONS, MAX_CHANNELS_PER_FORWARD_LIMIT, MAX_SESSIONS_LIMIT } from './policy.js';
import { DEFAULT_WORKER_MAX_HEAP_MB, DEFAULT_WORKER_MAX_YOUNG_HEAP_MB } from '../src/supervisor/worker-limits.js';
import { DEFAULT_ALLOWED_CA_FILES, DEFAULT_ALLOWED_KNOWN_HOSTS_FILES, HTTP_CEILINGS } from './document-policy.js';
import { DEFAULT_ALLOWED_SSH_HOSTS } from './ssh-host-policy.js';

/** The config as convict holds it, before the JSON-Schema checks of `credentials` and `sessions`. */
export interface RawAgentConfig {
  agent: { id: string; drainTimeoutMs: number; logLevel: string; logFormat: string; stateDir: string; workerMaxHeapMb: number; workerMaxYoungHeapMb: number };
  admin: { listen: string };
  credentials: Record<string, unknown>;
  policy: {
    allowedTargets: string[]; allowedBindAddresses: string[]; allowedLocalBindAddresses: string[]; allowedRemoteSockets: string[]; maxSessions: number; maxForwardsPerSession: number; maxChannelsPerForward: number;
    allowInsecureAcceptAny: boolean; allowInsecureSkipVerify: boolean; allowedCaFiles: string[]; allowedKnownHostsFiles: string[]; allowedSshHosts: string[];
    maxHttpConnectionsPerForward: number; maxHttpPipelining: number; maxHttpConcurrentRequestsPerForward: number; maxHttpRequestHeaderBytes: number;
  };
  sessions: unknown[];
  assignments: { url: string; tokenEnv: string; caFile: string; pollIntervalMs: number; cacheFile: string; signingPublicKey: string; reportUrl: string; reportIntervalMs: number };
  telemetry: { exporter: string };
}

// --- custom formats (convict's registry is global; names are prefixed to avoid clashes)

/** Integers from env vars: only all-digit strings are converted, so "10s" stays a (rejected) string instead of parseInt's 10. */
function coerceInt(value: string): unknown {
  return /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
}

/** JSON from env vars; an unparsable value is left as a string for validation to reject. */
function coerceJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** Lists from env vars: a JSON array, or comma-separated. */
function coerceList(value: string): unknown {
  // A JSON array starts '[' then '"' or ']'; "[::1]:22,gw" is a comma list whose first entry is an IPv6 pattern.
  if (/^\s*\[\s*(?:["\]]|$)/.test(value)) return coerceJson(value);
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v.length > 60 ? v.slice(0, 57) + '...' : v) : Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v === 'object' ? 'an object' : String(v));

/** The integer formats of config keys: name → [min, max] (config-schema.ts publishes them too). */
export const INTEGER_FORMATS: Readonly<Record<string, readonly [number, number]>> = {
  'edge-ms': [0, MAX_TIMER_MS],
  'edge-positive-ms': [1, MAX_TIMER_MS],
  'edge-max-sessions': [1, MAX_SESSIONS_LIMIT],
  'edge-max-forwards': [1, 4096],
  'edge-max-channels': [1, MAX_CHANNELS_PER_FORWARD_LIMIT],
  'edge-heap-mb': [16, 4096],
  'edge-young-heap-mb': [1, 256],
  // The HTTP ceilings of documents: any value the schema allows a forward (config/document-policy.ts).
  ...Object.fromEntries(HTTP_CEILINGS.map((c) => [`edge-http-${c.http}`, [c.min, c.max] as const])),
};

let formatsAdded = false;

export function addConfigFormats(): void {
  if (formatsAdded) return;
  formatsAdded = true;
  const intFormat = (name: string, min: number, max: number) =>
    convict.addFormat({
      name,
      coerce: coerceInt,
      validate(value: unknown) {
        if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
          throw new Error(`must be an integer from ${min} to ${max} (got ${show(value)})`);
        }
      },
    });
  for (const [name, [min, max]] of Object.entries(INTEGER_FORMATS)) intFormat(name, min, max);

  convict.addFormat({
    name: 'edge-agent-id',
    validate(value: unknown) {
      if (typeof value !== 'string' || value === '' || value.length > 128 || /[\s\x00-\x1f\x7f]/.test(value)) {
        throw new Error(`must be a non-empty string of at most 128 characters without spaces (got ${show(value)})`);
      }
    },
  });
  convict.addFormat({
    name: 'edge-listen-address',
    validate(value: unknown) {
      if (value === '') return;
      if (typeof value !== 'string') throw new Error(`must be "host:port" or "" to disable (got ${show(value)})`);
      try {
        parseListenAddress(value);
      } catch (err) {
        throw new Error(`must be "host:port" (e.g. 127.0.0.1:9480, [::1]:9480) or "" to disable: ${(err as Error).message}`);
      }
    },
  });
  convict.addFormat({
    name: 'edge-url',
    validate(value: unknown) {
      if (typeof value !== 'string') throw new Error('must be a string: an https:// URL or "" for static sessions only');
      checkAssignmentsUrl(value);
    },
  });
  convict.addFormat({
    name: 'edge-env-name',
    validate(value: unknown) {
      if (typeof value !== 'string' || !ENV_NAME_PATTERN.test(value)) {
        throw new Error(`must be an environment variable name (letters, digits and "_", not starting with a digit) (got ${show(value)})`);
      }
    },
  });
  convict.addFormat({
    name: 'edge-path',
    validate(value: unknown) {
      if (typeof value !== 'string' || value.includes('\0')) throw new Error(`must be a file path or "" (got ${show(value)})`);
    },
  });
  convict.addFormat({
    name: 'edge-signing-key',
    validate(value: unknown) {
      if (value === '') return;
      if (typeof value !== 'string') throw new Error(`must be an ed25519 public key or "" (got ${show(value)})`);
      try {
        parseSigningPublicKey(value);
      } catch (err) {
        throw new Error(`must be an ed25519 public key (PEM, "ssh-ed25519 AAAA…" or 32 bytes of base64) or "": ${(err as Error).message}`);
      }
    },
  });
  convict.addFormat({
    name: 'edge-string-list',
    coerce: coerceList,
    validate(value: unknown) {
      if (!Array.isArray(value)) throw new Error(`must be a list of strings (got ${show(value)})`);
      const bad = value.findIndex((v) => typeof v !== 'string');
      if (bad !== -1) throw new Error(`must be a list of strings (item [${bad}] is ${show(value[bad])})`);
    },
  });
  convict.addFormat({
    name: 'edge-boolean',
    coerce: (value: string) => (value.trim() === 'true' ? true : value.trim() === 'false' ? false : value),
    validate(value: unknown) {
      if (typeof value !== 'boolean') throw new Error(`must be true or false (got ${show(value)})`);
    },
  });
  convict.addFormat({
    name: 'edge-json-array',
    coerce: coerceJson,
    validate(value: unknown) {
      if (!Array.isArray(value)) throw new Error(`must be an array (got ${show(value)})`);
    },
  });
}

/**
 * The JSON type a leaf holds. convict merges objects key by key and would walk into a value
 * whose shape does not match the schema, so load-config checks these types before handing a
 * document to convict.
 */
export type LeafKind = 'object' | 'array' | 'scalar';

/** Builds the schema definition (agent.id's default is read from os.hostname() now). */
export function buildConfigSchema(): convict.Schema<RawAgentConfig> {
  addConfigFormats();
  return {
    agent: {
      id: {
        doc: 'This agent\'s id, reported in /status and telemetry. Default: the host name.',
        format: 'edge-agent-id',
        default: os.hostname() || 'edge-agent',
        env: 'EDGE_AGENT_AGENT_ID',
      },
      drainTimeoutMs: {
        doc: 'On SIGTERM/SIGINT, how long open channels may finish before the agent stops anyway.',
        format: 'edge-ms',
        default: 10_000,
        env: 'EDGE_AGENT_AGENT_DRAIN_TIMEOUT_MS',
      },
      logLevel: {
        doc: 'Log level: error, warn, info or debug.',
        format: ['error', 'warn', 'info', 'debug'],
        default: 'info',
        env: 'EDGE_AGENT_AGENT_LOG_LEVEL',
      },
      logFormat: {
        doc: 'Log format on stderr: json (one object per line) or text.',
        format: ['json', 'text'],
        default: 'json',
        env: 'EDGE_AGENT_AGENT_LOG_FORMAT',
      },
      stateDir: {
        doc: 'Directory for the agent\'s state (the cached assignment document, which is also the revision floor that survives restarts); "" = $STATE_DIRECTORY (systemd StateDirectory=, first path), else /var/lib/edge-agent for root, else $XDG_STATE_HOME/edge-agent or ~/.local/state/edge-agent. Created 0700.',
        format: 'edge-path',
        default: '',
        env: 'EDGE_AGENT_AGENT_STATE_DIR',
      },
      workerMaxHeapMb: {
        doc: 'V8 old-generation heap limit of each session worker thread, in MB (16-4096). A worker that reaches it dies alone and is restarted with backoff (EDGE_ERR_WORKER_CRASHED).',
        format: 'edge-heap-mb',
        default: DEFAULT_WORKER_MAX_HEAP_MB,
        env: 'EDGE_AGENT_AGENT_WORKER_MAX_HEAP_MB',
      },
      workerMaxYoungHeapMb: {
        doc: 'V8 young-generation heap limit of each session worker thread, in MB (1-256).',
        format: 'edge-young-heap-mb',
        default: DEFAULT_WORKER_MAX_YOUNG_HEAP_MB,
        env: 'EDGE_AGENT_AGENT_WORKER_MAX_YOUNG_HEAP_MB',
      },
    },
    admin: {
      listen: {
        doc: 'Admin HTTP server (/healthz, /readyz, /status, /metrics) address, host:port ([::1]:9480 for IPv6); "" disables it.',
        format: 'edge-listen-address',
        default: '127.0.0.1:9480',
        env: 'EDGE_AGENT_ADMIN_LISTEN',
      },
    },
    credentials: {
      doc: 'Named credentials sessions refer to: { "NAME": { privateKeyFile?, certificateFile?, passphraseEnv?, passwordEnv?, agent? } }. Never sent by the fleet endpoint. Env var: JSON.',
      format: Object,
      default: {},
      env: 'EDGE_AGENT_CREDENTIALS',
      sensitive: true,
    },
    policy: {
      allowedTargets: {
        doc: 'Targets any session may use: host:port patterns with * wildcards ("127.0.0.1:*", "db.lan:5432", "[::1]:*", ports "8000-8999"); unix sockets only when listed: "unix:/run/app.sock" (that path), "unix:/run/app/" (anything under that directory), "unix:/run/app/*.sock" (glob), "unix:*" (any, not recommended). Default: loopback TCP only. Local only: assignments cannot widen it. Env var: comma-separated or a JSON array.',
        format: 'edge-string-list',
        default: DEFAULT_ALLOWED_TARGETS,
        env: 'EDGE_AGENT_POLICY_ALLOWED_TARGETS',
      },
      allowedBindAddresses: {
        doc: 'Bind addresses on the SSH host any forward may ask for ("*" = any, "" = all interfaces). Local only. Env var: comma-separated or a JSON array.',
        format: 'edge-string-list',
        default: DEFAULT_ALLOWED_BIND_ADDRESSES,
        env: 'EDGE_AGENT_POLICY_ALLOWED_BIND_ADDRESSES',
      },
      allowedLocalBindAddresses: {
        doc: 'Device addresses local (-L) and dynamic (-D) forwards may listen on ("*" = any, "" = all interfaces); default loopback only. A non-loopback one also needs the forward\'s allowRelay. Local only. Env var: comma-separated or a JSON array.',
        format: 'edge-string-list',
        default: DEFAULT_ALLOWED_LOCAL_BIND_ADDRESSES,
        env: 'EDGE_AGENT_POLICY_ALLOWED_LOCAL_BIND_ADDRESSES',
      },
      maxSessions: {
        doc: `Most sessions (static and assigned together) the agent runs; each is a worker thread. A document asking for more is rejected whole (EDGE_ERR_POLICY_BUDGET). 1-${MAX_SESSIONS_LIMIT}. Local only.`,
        format: 'edge-max-sessions',
        default: DEFAULT_MAX_SESSIONS,
        env: 'EDGE_AGENT_POLICY_MAX_SESSIONS',
      },
      maxForwardsPerSession: {
        doc: 'Most forwards one session may have (forwards + localForwards + dynamicForwards). A document asking for more is rejected whole (EDGE_ERR_POLICY_BUDGET). Local only.',
        format: 'edge-max-forwards',
        default: DEFAULT_MAX_FORWARDS_PER_SESSION,
        env: 'EDGE_AGENT_POLICY_MAX_FORWARDS_PER_SESSION',
      },
      maxChannelsPerForward: {
        doc: `Most channels one forward (forwards, localForwards, dynamicForwards) may hold open: a forward that leaves maxChannels out gets this as its default; one asking for more is over budget and its document is rejected whole (EDGE_ERR_POLICY_BUDGET). 1-${MAX_CHANNELS_PER_FORWARD_LIMIT}; the default is the schema maximum. Local only.`,
        format: 'edge-max-channels',
        default: DEFAULT_MAX_CHANNELS_PER_FORWARD,
        env: 'EDGE_AGENT_POLICY_MAX_CHANNELS_PER_FORWARD',
      },
      allowedRemoteSockets: {
        doc: 'Unix socket paths on the SSH host that remote forwards may listen on (forwards[].remoteSocket), "*" globs ("/run/edge/*.sock"); default any ("*"): the socket is on the gateway, where only its local users reach it and its sshd bounds where it may be created. Local only. Env var: comma-separated or a JSON array.',
        format: 'edge-string-list',
        default: DEFAULT_ALLOWED_REMOTE_SOCKETS,
        env: 'EDGE_AGENT_POLICY_ALLOWED_REMOTE_SOCKETS',
      },
      allowInsecureAcceptAny: {
        doc: 'Let assignment documents set hostKeys.insecureAcceptAny: true (no SSH host key check); false = such a document is rejected whole (EDGE_ERR_POLICY_LOCAL_ONLY). Static sessions in this file may always set it. Local only.',
        format: 'edge-boolean',
        default: false,
        env: 'EDGE_AGENT_POLICY_ALLOW_INSECURE_ACCEPT_ANY',
      },
      allowInsecureSkipVerify: {
        doc: 'Let assignment documents set a forward\'s http.insecureSkipVerify: true (no TLS check of the https:// service); false = such a document is rejected whole (EDGE_ERR_POLICY_LOCAL_ONLY). Static sessions in this file may always set it. Local only.',
        format: 'edge-boolean',
        default: false,
        env: 'EDGE_AGENT_POLICY_ALLOW_INSECURE_SKIP_VERIFY',
      },
      allowedCaFiles: {
        doc: 'Local CA files an assignment document\'s http.caFile may name: "/etc/edge-agent/ca/" (anything below), "/etc/edge-agent/*.pem" (glob), an exact path, "*" (any); default none: a document naming one is rejected whole (EDGE_ERR_POLICY_LOCAL_ONLY). Static sessions are not bound by it. Local only. Env var: comma-separated or a JSON array.',
        format: 'edge-string-list',
        default: DEFAULT_ALLOWED_CA_FILES,
        env: 'EDGE_AGENT_POLICY_ALLOWED_CA_FILES',
      },
      allowedKnownHostsFiles: {
        doc: 'Local known_hosts files an assignment document\'s hostKeys.knownHostsFile may name (same patterns as allowedCaFiles); default any ("*"). Static sessions are not bound by it. Local only. Env var: comma-separated or a JSON array.',
        format: 'edge-string-list',
        default: DEFAULT_ALLOWED_KNOWN_HOSTS_FILES,
        env: 'EDGE_AGENT_POLICY_ALLOWED_KNOWN_HOSTS_FILES',
      },
      allowedSshHosts: {
        doc: 'SSH hosts an assignment document may point a session at (host, hosts[], and a proxy URL\'s host): "host" or "host:port" patterns with * wildcards, IPv4 CIDR, IPv6 in brackets ("gw.example.com", "*.gw.example.com:22", "10.0.0.0/8", "[2001:db8::1]:2222"); names matched as written, not resolved. Default any ("*"): narrow it to your gateways, else a document can send this device\'s credentials to, and offer its allowed targets to, any host. Outside it the document is rejected whole (EDGE_ERR_POLICY_LOCAL_ONLY). Static sessions are not bound by it. Local only. Env var: comma-separated or a JSON array.',
        format: 'edge-string-list',
        default: DEFAULT_ALLOWED_SSH_HOSTS,
        env: 'EDGE_AGENT_POLICY_ALLOWED_SSH_HOSTS',
      },
      ...Object.fromEntries(HTTP_CEILINGS.map((c) => [c.policy, {
        doc: `Ceiling of an assignment document forward's http.${c.http} (written or default): a larger value is lowered to it, logged and listed in /status assignments.clampedValues. Static sessions keep what this file says. Up to ${c.max}. Local only.`,
        format: `edge-http-${c.http}`,
        default: c.fallback,
        env: envVarFor(`policy.${c.policy}`),
      }])) as unknown as Record<(typeof HTTP_CEILINGS)[number]['policy'], convict.SchemaObj<number>>,
    },
    sessions: {
      doc: 'Static sessions, same shape as in an assignment document (see config/assignment.schema.json). Env var: JSON array.',
      format: 'edge-json-array',
      default: [],
      env: 'EDGE_AGENT_SESSIONS',
    },
    assignments: {
      url: {
        doc: 'Fleet endpoint serving assignment documents (https://…); "" = static sessions only.',
        format: 'edge-url',
        default: '',
        env: 'EDGE_AGENT_ASSIGNMENTS_URL',
        sensitive: true,
      },
      tokenEnv: {
        doc: 'Name of the environment variable holding the bearer token for the fleet endpoint.',
        format: 'edge-env-name',
        default: 'EDGE_AGENT_TOKEN',
        env: 'EDGE_AGENT_ASSIGNMENTS_TOKEN_ENV',
      },
      caFile: {
        doc: 'PEM file of CA certificates trusted for the fleet endpoint; "" = the system CAs.',
        format: 'edge-path',
        default: '',
        env: 'EDGE_AGENT_ASSIGNMENTS_CA_FILE',
      },
      pollIntervalMs: {
        doc: 'How often the fleet endpoint is polled (jittered).',
        format: 'edge-positive-ms',
        default: 30_000,
        env: 'EDGE_AGENT_ASSIGNMENTS_POLL_INTERVAL_MS',
      },
      cacheFile: {
        doc: 'Where the last good assignment document is kept for offline boots; "" = no cache.',
        format: 'edge-path',
        default: '',
        env: 'EDGE_AGENT_ASSIGNMENTS_CACHE_FILE',
      },
      signingPublicKey: {
        doc: 'ed25519 public key (PEM, "ssh-ed25519 AAAA…" or base64) that assignment documents must be signed with; "" = unsigned documents accepted.',
        format: 'edge-signing-key',
        default: '',
        env: 'EDGE_AGENT_ASSIGNMENTS_SIGNING_PUBLIC_KEY',
      },
      reportUrl: {
        doc: 'Where the agent POSTs its status report (https://…; same tokenEnv and caFile as url) on every change and every reportIntervalMs; "" = no reports.',
        format: 'edge-url',
        default: '',
        env: 'EDGE_AGENT_ASSIGNMENTS_REPORT_URL',
        sensitive: true,
      },
      reportIntervalMs: {
        doc: 'How often the status report is sent when nothing changes (jittered).',
        format: 'edge-positive-ms',
        default: 60_000,
        env: 'EDGE_AGENT_ASSIGNMENTS_REPORT_INTERVAL_MS',
      },
    },
    telemetry: {
      exporter: {
        doc: 'Where spans and metrics go: otlp (OTLP/HTTP, standard OTEL_* env vars), console, or none.',
        format: ['otlp', 'console', 'none'],
        default: 'otlp',
        env: 'EDGE_AGENT_TELEMETRY_EXPORTER',
      },
    },
  };
}

export interface SchemaLeaf {
  /** Dotted key, e.g. `agent.drainTimeoutMs`. */
  key: string;
  env: string;
  kind: LeafKind;
  sensitive: boolean;
  doc: string;
}

/** Every leaf of the schema with its env var and JSON kind. */
export function schemaLeaves(schema: object = buildConfigSchema()): SchemaLeaf[] {
  const out: SchemaLeaf[] = [];
  const walk = (node: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(node)) {
      const key = prefix ? `${prefix}.${k}` : k;
      const item = v as Record<string, unknown>;
      if ('default' in item) {
        const kind: LeafKind = item.format === Object ? 'object' : Array.isArray(item.default) ? 'array' : 'scalar';
        out.push({ key, env: String(item.env), kind, sensitive: item.sensitive === true, doc: String(item.doc) });
      } else {
        walk(item, key);
      }
    }
  };
  walk(schema as Record<string, unknown>, '');
  return out;
}

/** The env var for a key path: EDGE_AGENT_ + camelCase/dots → SNAKE_CASE. */
export function envVarFor(key: string): string {
  return 'EDGE_AGENT_' + key.split('.').map((part) => part.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

export function createConvictConfig(env: NodeJS.ProcessEnv): convict.Config<RawAgentConfig> {
  return convict(buildConfigSchema(), { env, args: [] });
}
