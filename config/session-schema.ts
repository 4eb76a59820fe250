// THE declaration of sessions, forwards and their defaults: the assignment document's JSON
// Schema as a TypeScript constant. Everything else derives from it — the published
// config/assignment.schema.json (`npm run schema`, checked by test/unit/config-schema.test.ts),
// the TypeScript types (config/types.ts, json-schema-to-ts: types only, nothing at run time),
// the validator (config/json-schema.ts) and every default a loaded session carries
// (schemaDefaults in config/schema-defaults.ts). Change a default here and nowhere else.
// Pure data (its one import is types only): session worker threads load it too.
import type { FromSchema } from 'json-schema-to-ts';

/**
 * The two defaults a schema `default` cannot say because they depend on another key (a filled-in
 * default would look like a given value): a session's port only without `hosts`, a remote
 * forward's bind only without `remoteSocket`. Applied with the others by fillSessionDefaults.
 */
export const SESSION_PORT_DEFAULT = 22;
export const FORWARD_BIND_DEFAULT = 'localhost';

/** Milliseconds, as far as a Node.js timer reaches; the _OR_ZERO one lets 0 mean "off". */
const TIMER_MS = { type: 'integer', minimum: 1, maximum: 2147483647 } as const;
const TIMER_MS_OR_ZERO = { type: 'integer', minimum: 0, maximum: 2147483647 } as const;

const ALGORITHM_NAMES = { $ref: '#/$defs/algorithmNames' } as const;

/** Keys local (-L) and dynamic (-D) forwards share: declared once, spread into both. */
const LISTENER_ADDRESS = {
  id: {
    $ref: '#/$defs/id',
    description: 'Unique within the session (across forwards, localForwards and dynamicForwards), stable across revisions.',
  },
  bind: {
    description: 'Device address to listen on: "localhost" (127.0.0.1 and ::1), "127.0.0.1", "::1"; with allowRelay also "0.0.0.0", "::", "" (all) or another address. Must be in the local policy.allowedLocalBindAddresses.',
    type: 'string',
    maxLength: 255,
    default: 'localhost',
  },
  port: { description: 'Device port; 0 = any free port (reported as localPort in status).', type: 'integer', minimum: 0, maximum: 65535 },
} as const;

const LISTENER_LIMITS = {
  allowRelay: {
    description: 'Let other machines use the listener (Tectia allow-relay, ssh -g); required for any bind address that is not loopback.',
    type: 'boolean',
    default: false,
  },
  maxChannels: {
    description: 'Connections open at once (including those waiting for their channel); more are closed at once.',
    type: 'integer',
    minimum: 1,
    maximum: 1000000,
    default: 1024,
  },
  idleTimeoutMs: { description: 'Close a connection idle this long; 0 = never.', ...TIMER_MS_OR_ZERO, default: 0 },
  sessionWaitMs: {
    description: 'A connection arriving while the SSH session is down waits this long for it, then is closed cleanly; 0 = closed at once.',
    ...TIMER_MS_OR_ZERO,
    default: 10000,
  },
  openTimeoutMs: {
    description: 'The SSH host must confirm the channel (direct-tcpip) within this, else the connection is closed.',
    ...TIMER_MS,
    default: 15000,
  },
} as const;

export const ASSIGNMENT_SCHEMA = 
{
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'urn:ssh-edge-agent:assignment:v1',
  title: 'ssh-edge-agent assignment document',
  description: 'The sessions and forwards a fleet endpoint assigns to one agent. The same session shape is used by the agent config file\'s `sessions` array. Credentials never travel in a document: a session names a credential defined in the agent\'s local config, and the agent\'s local policy bounds every target and bind address. Beyond this schema the agent also checks: unique session ids, unique forward ids within a session, target URL syntax, host key fingerprint syntax, allowOrigins CIDR syntax, allowDestinations pattern syntax, proxy URL syntax, that a non-loopback local/dynamic listener sets allowRelay, that host keys are configured, and that a forward has exactly one of port and remoteSocket, exactly one of host and hosts, and the local policy (allowedTargets, allowedBindAddresses, allowedRemoteSockets, allowedLocalBindAddresses; in documents also the local-only keys and HTTP ceilings: algorithms, insecureAcceptAny, insecureSkipVerify, caFile, knownHostsFile, allowedSshHosts, maxHttp*).',
  type: 'object',
  additionalProperties: false,
  required: ['revision', 'sessions'],
  properties: {
    revision: {
      description: 'Monotonic revision, a safe integer (0 to 2^53-1); a document with a lower or equal revision than the revision floor (the running or last applied one, kept in the agent\'s state dir across restarts) is ignored.',
      type: 'integer',
      minimum: 0,
      maximum: 9007199254740991,
    },
    expires: {
      description: 'Optional RFC 3339 time (e.g. 2026-12-31T00:00:00Z) after which the document must not be applied (freeze attacks: an old signed document replayed later); the running document keeps running.',
      type: 'string',
      pattern: '^\\d{4}-\\d{2}-\\d{2}[Tt ]\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?([Zz]|[+-]\\d{2}:\\d{2})$',
    },
    sessions: { $ref: '#/$defs/sessions' },
  },
  $defs: {
    id: {
      description: 'Stable identifier: letters, digits, \'.\', \'_\' and \'-\', starting with a letter or digit, at most 64 characters.',
      type: 'string',
      pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
    },
    envName: { description: 'Name of an environment variable on the agent\'s host.', type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
    sessions: { type: 'array', items: { $ref: '#/$defs/session' } },
    session: {
      description: 'One SSH connection to one SSH host, with all its forwards.',
      type: 'object',
      additionalProperties: false,
      required: ['id', 'username', 'credential'],
      properties: {
        id: { $ref: '#/$defs/id', description: 'Unique among the agent\'s sessions, stable across revisions.' },
        host: { description: 'SSH host name or IP address. Exactly one of host and hosts. In an assignment document only hosts matching the local policy.allowedSshHosts.', type: 'string', minLength: 1, maxLength: 1024 },
        port: { description: 'SSH port (22 when absent). Only with host.', type: 'integer', minimum: 1, maximum: 65535 },
        hosts: {
          description: 'Several gateways, most preferred first, instead of host/port: "host[:port]" (port 22 when absent; IPv6 as "[2001:db8::1]:22"). In an assignment document each must match the local policy.allowedSshHosts.',
          type: 'array',
          minItems: 1,
          maxItems: 16,
          items: { type: 'string', minLength: 1, maxLength: 1100 },
        },
        strategy: {
          description: 'With hosts: failover (default) = forwards on one gateway, the next one when it is lost, back to a preferred one after failbackAfterMs; all = one connection per gateway, each holding every forward.',
          enum: ['failover', 'all'],
        },
        failbackAfterMs: {
          description: 'With hosts and strategy failover: how long a preferred gateway must have been connected again before the forwards move back to it (default 60000).',
          type: 'integer',
          minimum: 0,
          maximum: 86400000,
        },
        username: { description: 'SSH user name.', type: 'string', minLength: 1, maxLength: 256 },
        credential: { $ref: '#/$defs/id', description: 'Name of a credential in the agent\'s local `credentials`.' },
        hostKeys: { $ref: '#/$defs/hostKeys', default: {} },
        keepalive: { $ref: '#/$defs/keepalive', default: {} },
        reconnect: { $ref: '#/$defs/reconnect', default: {} },
        connectTimeoutMs: { description: 'TCP connect timeout to the SSH host.', ...TIMER_MS, default: 15000 },
        handshakeTimeoutMs: { description: 'From TCP connected to authenticated.', ...TIMER_MS, default: 30000 },
        forwards: { type: 'array', items: { $ref: '#/$defs/forward' }, default: [] },
        localForwards: {
          description: 'Local forwards (ssh -L): listeners on the device whose connections go to host:hostPort as reached from the SSH host.',
          type: 'array',
          items: { $ref: '#/$defs/localForward' },
          default: [],
        },
        dynamicForwards: {
          description: 'Dynamic forwards (ssh -D): SOCKS4/4a/5 servers on the device whose connections go out from the SSH host.',
          type: 'array',
          items: { $ref: '#/$defs/dynamicForward' },
          default: [],
        },
        proxy: {
          description: 'How the SSH host is reached: "" directly; "http://[user:pass@]host:port" (HTTP CONNECT), "socks5://…", "socks5h://…" (the proxy resolves the name), "socks4://…", "socks4a://…"; "env" = HTTPS_PROXY, else ALL_PROXY, hosts in NO_PROXY reached directly. Credentials are masked in status, logs and errors. In an assignment document a proxy URL\'s host:port must match the local policy.allowedSshHosts.',
          type: 'string',
          maxLength: 2048,
          default: '',
        },
        exitOnForwardFailure: {
          description: 'A forward that cannot be set up (a local/dynamic listener that cannot be opened, a remote forward the SSH host refuses) fails the whole session instead of being retried.',
          type: 'boolean',
          default: false,
        },
        sshdNoDelayExec: {
          type: 'boolean',
          default: false,
          description: 'Right after connecting, run `true` on the SSH host so that OpenSSH ≤ 10.0 sets TCP_NODELAY (avoids ~40 ms request tails); off by default because it runs a command on the host.',
        },
        ciphers: {
          type: 'array',
          items: { type: 'string', minLength: 1, maxLength: 100 },
          minItems: 1,
          maxItems: 32,
          description: 'Ciphers to offer, in order; default: decided once from this CPU (AES-GCM first with AES instructions, else chacha20-poly1305).',
        },
        algorithms: {
          type: 'object',
          additionalProperties: false,
          description: 'LEGACY HOSTS ONLY, local config only (refused in assignment documents): SSH algorithm names added after the secure defaults, per category, e.g. {"kex": ["diffie-hellman-group14-sha1"], "serverHostKey": ["ssh-rsa"]}.',
          properties: { kex: ALGORITHM_NAMES, serverHostKey: ALGORITHM_NAMES, cipher: ALGORITHM_NAMES, hmac: ALGORITHM_NAMES, compress: ALGORITHM_NAMES },
        },
      },
    },
    hostKeys: {
      description: 'How the SSH host\'s key is verified; at least one of knownHostsFile, fingerprints, certificateAuthorities or insecureAcceptAny: true is required.',
      type: 'object',
      additionalProperties: false,
      properties: {
        knownHostsFile: {
          description: 'known_hosts file path(s) on the agent\'s host; "" = none. In an assignment document only paths matching the local policy.allowedKnownHostsFiles.',
          type: ['string', 'array'],
          items: { type: 'string', minLength: 1 },
        },
        fingerprints: {
          description: 'Pinned host key fingerprints, e.g. "SHA256:…" as printed by ssh-keygen -lf.',
          type: 'array',
          items: { type: 'string', minLength: 1 },
        },
        insecureAcceptAny: { description: 'Accept any host key (logs a warning on every connect; testing only). In an assignment document only with the local policy.allowInsecureAcceptAny.', type: 'boolean' },
        certificateAuthorities: {
          description: 'CA public keys ("ssh-ed25519 AAAA…") whose host certificates are trusted for this session\'s host, like an @cert-authority known_hosts line.',
          type: 'array',
          items: { type: 'string', minLength: 1 },
        },
      },
    },
    keepalive: {
      type: 'object',
      additionalProperties: false,
      properties: {
        intervalMs: {
          description: 'Keepalive interval while the server is silent; 0 disables.',
          ...TIMER_MS_OR_ZERO,
          default: 30000,
        },
        countMax: {
          description: 'Unanswered keepalives before the session is declared dead.',
          type: 'integer',
          minimum: 1,
          maximum: 1000000,
          default: 5,
        },
      },
    },
    algorithmNames: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 100 }, maxItems: 32 },
    reconnect: {
      type: 'object',
      additionalProperties: false,
      properties: {
        mode: { enum: ['never', 'after-connect', 'always'], default: 'always' },
        retryIntervalMs: {
          description: 'First retry delay ceiling (exponential backoff with full jitter).',
          ...TIMER_MS,
          default: 5000,
        },
        maxRetryIntervalMs: { description: 'Retry delay cap; at least retryIntervalMs.', ...TIMER_MS, default: 60000 },
        maxRetries: { description: '-1 = unlimited.', type: 'integer', minimum: -1, maximum: 2147483647, default: -1 },
        stableAfterMs: { description: 'A link up this long resets the backoff.', ...TIMER_MS_OR_ZERO, default: 60000 },
        authRetryIntervalMs: {
          description: 'Authentication and host key failures are retried (mode always) no sooner than this apart, plus up to 25 % jitter; keys and known_hosts are read again each time.',
          ...TIMER_MS,
          default: 60000,
        },
      },
    },
    forward: {
      description: 'One remote forward: where the SSH host listens — bind address and port (tcpip-forward), or a unix socket path (remoteSocket, streamlocal-forward@openssh.com) — and the target inside the device\'s network. Exactly one of port and remoteSocket.',
      type: 'object',
      additionalProperties: false,
      required: ['id', 'target'],
      properties: {
        id: { $ref: '#/$defs/id', description: 'Unique within the session, stable across revisions.' },
        bind: {
          description: 'Bind address on the SSH host: "localhost" (the default when absent), "127.0.0.1", "::1", "0.0.0.0", "::", "" (all). Not with remoteSocket.',
          type: 'string',
          maxLength: 255,
        },
        port: {
          description: 'Port on the SSH host; 0 lets the SSH host choose. Required unless remoteSocket is given.',
          type: 'integer',
          minimum: 0,
          maximum: 65535,
        },
        remoteSocket: {
          description: 'Listen on this unix socket path on the SSH host instead of bind/port (OpenSSH streamlocal forwarding, ssh -R /path:host:port). Absolute; with sshd\'s StreamLocalBindUnlink yes a stale socket is replaced on reconnect. Must match the local policy.allowedRemoteSockets.',
          type: 'string',
          minLength: 2,
          maxLength: 107,
          pattern: '^/',
        },
        target: {
          description: 'tcp://host:port, unix:/path, http://host[:port], https://host[:port] or http+unix:/path (HTTP over a unix socket).',
          type: 'string',
          minLength: 1,
          maxLength: 2048,
        },
        allowOrigins: {
          description: 'CIDR ranges or addresses allowed to connect; empty = anyone the SSH host lets in.',
          type: 'array',
          items: { type: 'string' },
          default: [],
        },
        maxChannels: { description: 'Open channels allowed at once on this forward.', type: 'integer', minimum: 1, maximum: 1000000, default: 1024 },
        idleTimeoutMs: { description: 'Close a channel idle this long; 0 = never.', ...TIMER_MS_OR_ZERO, default: 0 },
        maxBytesPerSecond: { description: 'Bandwidth cap for the forward; 0 = none.', type: 'integer', minimum: 0, maximum: 9007199254740991, default: 0 },
        targetConnectTimeoutMs: { description: 'Timeout for connecting to the target.', ...TIMER_MS, default: 10000 },
        http: {
          description: 'HTTP-aware handling for http://, https:// and http+unix: targets (ignored for tcp:// and unix:).',
          type: 'object',
          additionalProperties: false,
          properties: {
            headersTimeoutMs: {
              ...TIMER_MS_OR_ZERO,
              description: 'Time the service may take to start answering; 0 = no limit.',
              default: 60000,
            },
            bodyTimeoutMs: {
              ...TIMER_MS_OR_ZERO,
              description: 'Longest silence within a response body; 0 = no limit.',
              default: 300000,
            },
            keepAliveTimeoutMs: {
              ...TIMER_MS_OR_ZERO,
              description: 'Idle client keep-alive connections are closed after this; 0 = never.',
              default: 5000,
            },
            maxConnections: { type: 'integer', minimum: 1, maximum: 100000, description: 'Connections the agent keeps to the service. In an assignment document at most the local policy.maxHttpConnectionsPerForward.', default: 64 },
            pipelining: { type: 'integer', minimum: 1, maximum: 100, description: 'Requests in flight per connection to the service. In an assignment document at most the local policy.maxHttpPipelining.', default: 1 },
            maxConcurrentRequests: {
              type: 'integer',
              minimum: 1,
              maximum: 1000000,
              description: 'Requests served at once by this forward; more get 503. In an assignment document at most the local policy.maxHttpConcurrentRequestsPerForward.',
              default: 512,
            },
            maxRequestBodyBytes: { type: 'integer', minimum: 0, maximum: 9007199254740991, description: 'Largest request body; 0 = no limit.', default: 0 },
            maxRequestHeaderBytes: { type: 'integer', minimum: 1024, maximum: 1048576, description: 'Largest request head; larger gets 431. In an assignment document at most the local policy.maxHttpRequestHeaderBytes.', default: 16384 },
            trustForwardedHeaders: { type: 'boolean', description: 'Keep and extend the client\'s X-Forwarded-* / Forwarded headers.', default: false },
            trustTraceparent: { type: 'boolean', description: 'Continue the client\'s W3C trace context.', default: false },
            hostHeader: { type: 'string', maxLength: 261, description: 'Host sent to the service; "" = the client\'s.', default: '' },
            caFile: { type: 'string', maxLength: 4096, description: 'PEM CA file for an https:// service. In an assignment document only a path matching the local policy.allowedCaFiles.', default: '' },
            insecureSkipVerify: { type: 'boolean', description: 'Do not verify the https:// service\'s certificate (logs a warning). In an assignment document only with the local policy.allowInsecureSkipVerify.', default: false },
          },
        },
      },
    },
    localForward: {
      description: 'One local forward (ssh -L).',
      type: 'object',
      additionalProperties: false,
      required: ['id', 'port', 'host', 'hostPort'],
      properties: {
        ...LISTENER_ADDRESS,
        host: {
          description: 'Destination host, resolved by the SSH host ("localhost" = the SSH host itself).',
          type: 'string',
          minLength: 1,
          maxLength: 1024,
        },
        hostPort: { description: 'Destination port.', type: 'integer', minimum: 1, maximum: 65535 },
        ...LISTENER_LIMITS,
      },
    },
    dynamicForward: {
      description: 'One dynamic forward (ssh -D): a SOCKS4/4a/5 server on the device.',
      type: 'object',
      additionalProperties: false,
      required: ['id', 'port'],
      properties: {
        ...LISTENER_ADDRESS,
        allowDestinations: {
          description: 'Destinations SOCKS clients may reach: host:port patterns ("*.lan:443", "10.0.0.0/8:*", "[::1]:22", "*:*"). Names are matched as written, not resolved. Empty (the default) = every request is refused.',
          type: 'array',
          items: { type: 'string', minLength: 1, maxLength: 1100 },
          default: [],
        },
        username: {
          description: 'With passwordEnv: SOCKS5 username/password authentication is required (SOCKS4 is then refused).',
          type: 'string',
          minLength: 1,
          maxLength: 255,
        },
        passwordEnv: { $ref: '#/$defs/envName', description: 'Environment variable on the agent\'s host holding the SOCKS password.' },
        ...LISTENER_LIMITS,
      },
    },
    credentials: {
      description: 'Agent-local only (config file `credentials`), never in an assignment document: named credentials sessions refer to.',
      type: 'object',
      propertyNames: { $ref: '#/$defs/id' },
      additionalProperties: { $ref: '#/$defs/credential' },
    },
    credential: {
      description: 'Where the agent finds a secret; never the secret itself.',
      type: 'object',
      additionalProperties: false,
      properties: {
        privateKeyFile: { description: 'Path of an OpenSSH or PEM private key.', type: 'string', minLength: 1 },
        certificateFile: {
          description: 'Path of the private key\'s OpenSSH user certificate (ssh-keygen -s output, KEY-cert.pub); read again at every connection attempt.',
          type: 'string',
          minLength: 1,
        },
        passphraseEnv: { $ref: '#/$defs/envName', description: 'Environment variable holding the key\'s passphrase.' },
        passwordEnv: { $ref: '#/$defs/envName', description: 'Environment variable holding a password.' },
        agent: {
          description: 'true = the ssh-agent at $SSH_AUTH_SOCK; a string = an agent socket path.',
          type: ['boolean', 'string'],
          minLength: 1,
        },
      },
    },
  },
} as const;

type Defs = typeof ASSIGNMENT_SCHEMA['$defs'];
export type SchemaDefName = keyof Defs & string;

/** A `$defs` entry as loaded: every key with a schema default is present. */
export type SchemaDef<K extends SchemaDefName> = FromSchema<{ $defs: Defs; $ref: `#/$defs/${K}` }>;

/** A `$defs` entry as written: keys with a schema default may be left out. */
export type SchemaDefInput<K extends SchemaDefName> = FromSchema<{ $defs: Defs; $ref: `#/$defs/${K}` }, { keepDefaultedPropertiesOptional: true }>;

/** The whole document as loaded (defaults filled in). */
export type AssignmentDocumentSchema = FromSchema<typeof ASSIGNMENT_SCHEMA>;
