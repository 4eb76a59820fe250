// Loads the agent's configuration: schema defaults, then the config file (options.file, else
// $EDGE_AGENT_CONFIG), then the whole config as JSON from $EDGE_AGENT_CONFIG_JSON (serverless:
// no files), then options.argsJson, then the individual EDGE_AGENT_<PATH> env vars, which
// override everything before them. Every problem — file, JSON, convict, JSON Schema, semantic —
// is collected and thrown at once as EdgeError('EDGE_ERR_INVALID_CONFIG') with
// details.errors: string[], each naming its key. Secrets never appear in messages: only file
// paths and environment variable NAMES are configured, and values of sensitive keys are not echoed.
import { readFileSync } from 'node:fs';
import { EdgeError } from '../src/errors.js';
import type { LogFormat, LogLevel } from '../src/log.js';
import { normaliseSession, type AuthConfig, type DynamicForwardConfigInput, type ForwardConfigInput, type SessionConfigInput } from '../src/session/session-config.js';
import type { MultiGatewayConfigInput } from '../src/session/multi-gateway-session.js';
import type { AlgorithmWidening } from '../src/ssh-algorithms.js';
import { parseGatewayList } from '../src/session/gateway-list.js';
import { proxyEnvFrom } from '../src/session/proxy/proxy-connect.js';
import { redactCredentials } from '../src/grammar/redact.js';
import { describeValue } from './formats.js';
import { appendKey } from './json-schema.js';
import { buildConfigSchema, createConvictConfig, schemaLeaves, type RawAgentConfig, type SchemaLeaf } from './schema.js';
import type { AgentConfig, CredentialConfig, DynamicForwardSpec, Policy, SessionSpec, TelemetryExporter } from './types.js';
import { checkBudget } from './policy.js';
import { parseSessions, sessionHost, validateCredentials, validatePolicy } from './validate-sessions.js';
import { fileErrorReason } from '../src/lifecycle/errno.js';

export type { AgentConfig, AssignmentDocument, CredentialConfig, DynamicForwardSpec, ForwardSpec, HostKeysSpec, LocalForwardSpec, Policy, SessionSpec, TelemetryExporter, ValidationContext } from './types.js';

/** Names the config file. */
export const CONFIG_FILE_ENV = 'EDGE_AGENT_CONFIG';
/** Holds the whole config as JSON (for runtimes without files). */
export const CONFIG_JSON_ENV = 'EDGE_AGENT_CONFIG_JSON';

export interface LoadConfigOptions {
  /** Config file path; default $EDGE_AGENT_CONFIG; neither = defaults + env only. */
  file?: string;
  /** Environment to read EDGE_AGENT_* (and nothing else) from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The whole config as a JSON string (e.g. from a flag or a function runtime's event), applied after the file and EDGE_AGENT_CONFIG_JSON. */
  argsJson?: string;
}

/** Where a loaded config came from (non-enumerable on LoadedConfig: JSON.stringify/structuredClone skip it). */
export interface ConfigOrigin {
  /** The config file read, if any. */
  file?: string;
  /** Where values came from, in order of precedence (last wins): "defaults", "file PATH", "EDGE_AGENT_CONFIG_JSON", "argsJson", env var names. */
  sources: string[];
}

/** The validated AgentConfig itself, plus a non-enumerable `origin` (so it can be re-serialized as config). */
export interface LoadedConfig extends AgentConfig {
  readonly origin: ConfigOrigin;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const errors: string[] = [];
  const sources = ['defaults'];
  const schema = buildConfigSchema();
  const leaves = schemaLeaves(schema);

  // 1. Documents: file, EDGE_AGENT_CONFIG_JSON, argsJson.
  const docs: Array<{ label: string; doc: Obj }> = [];
  const file = options.file ?? (env[CONFIG_FILE_ENV] ? env[CONFIG_FILE_ENV] : undefined);
  if (file !== undefined) {
    const doc = readConfigFile(file, errors);
    if (doc) {
      docs.push({ label: '', doc });
      sources.push(`file ${file}`);
    }
  }
  const jsonEnv = env[CONFIG_JSON_ENV];
  if (jsonEnv !== undefined && jsonEnv.trim() !== '') {
    const doc = parseJsonObject(jsonEnv, CONFIG_JSON_ENV, errors);
    if (doc) {
      docs.push({ label: CONFIG_JSON_ENV, doc });
      sources.push(CONFIG_JSON_ENV);
    }
  }
  if (options.argsJson !== undefined) {
    const doc = parseJsonObject(options.argsJson, 'argsJson (config JSON)', errors);
    if (doc) {
      docs.push({ label: 'argsJson', doc });
      sources.push('argsJson');
    }
  }

  // 2. Shape checks convict cannot survive (it walks into mismatched objects), unknown keys.
  const cleanDocs = docs.map(({ label, doc }) => sanitizeDoc(doc, schema as unknown as Obj, '', label, errors));
  const cleanEnv = sanitizeEnv(env, leaves, errors);
  const fromEnv = new Map<string, string>();
  for (const leaf of leaves) {
    if (cleanEnv[leaf.env] !== undefined) {
      fromEnv.set(leaf.key, leaf.env);
      sources.push(leaf.env);
    }
  }

  // 3. convict: merge (env vars last) and validate every scalar.
  let raw: RawAgentConfig | undefined;
  try {
    const cfg = createConvictConfig(cleanEnv);
    for (const doc of cleanDocs) cfg.load(doc);
    try {
      cfg.validate({ allowed: 'strict', output: () => {} });
    } catch (err) {
      for (const line of String((err as Error).message).split('\n')) {
        if (line.trim() !== '') errors.push(convictMessage(line, fromEnv, leaves));
      }
    }
    raw = cfg.getProperties();
  } catch (err) {
    errors.push(`configuration: ${(err as Error).message}`);
  }

  // 4. JSON Schema + semantic checks of credentials, policy and sessions.
  let sessions: SessionSpec[] = [];
  if (raw) {
    const credErrors = isObj(raw.credentials) ? validateCredentials(raw.credentials) : [];
    errors.push(...credErrors.map((m) => withSource(m, 'credentials', fromEnv)));
    errors.push(...validatePolicy(raw.policy).map((m) => withSource(m, /^policy\.\w+/.exec(m)?.[0] ?? 'policy', fromEnv)));
    if (Array.isArray(raw.sessions)) {
      const credentials = isObj(raw.credentials) ? (raw.credentials as Record<string, CredentialConfig>) : {};
      const parsed = parseSessions(raw.sessions, { credentials, policy: raw.policy as Policy });
      errors.push(...parsed.errors.map((m) => withSource(m, 'sessions', fromEnv)));
      // The budget binds static sessions too: a config over it does not start.
      if (parsed.errors.length === 0) errors.push(...checkBudget(parsed.sessions, raw.policy as Policy, 'sessions').map((m) => withSource(m, 'sessions', fromEnv)));
      sessions = parsed.sessions;
    }
  }

  if (errors.length > 0 || !raw) {
    const unique = [...new Set(errors)];
    const where = file !== undefined ? ` (config file ${file})` : '';
    throw new EdgeError(
      'EDGE_ERR_INVALID_CONFIG',
      unique.length === 1
        ? `Invalid configuration${where}: ${unique[0]}`
        : `Invalid configuration${where}: ${unique.length} problems: ${unique.join('; ')}`,
      { details: { errors: unique, sources } },
    );
  }

  const config: AgentConfig = {
    agent: {
      id: raw.agent.id,
      drainTimeoutMs: raw.agent.drainTimeoutMs,
      logLevel: raw.agent.logLevel as LogLevel,
      logFormat: raw.agent.logFormat as LogFormat,
      stateDir: raw.agent.stateDir,
      workerMaxHeapMb: raw.agent.workerMaxHeapMb,
      workerMaxYoungHeapMb: raw.agent.workerMaxYoungHeapMb,
    },
    admin: { listen: raw.admin.listen },
    credentials: raw.credentials as Record<string, CredentialConfig>,
    policy: {
      allowedTargets: raw.policy.allowedTargets, allowedBindAddresses: raw.policy.allowedBindAddresses, allowedLocalBindAddresses: raw.policy.allowedLocalBindAddresses,
      allowedRemoteSockets: raw.policy.allowedRemoteSockets, maxSessions: raw.policy.maxSessions, maxForwardsPerSession: raw.policy.maxForwardsPerSession,
      maxChannelsPerForward: raw.policy.maxChannelsPerForward,
      allowInsecureAcceptAny: raw.policy.allowInsecureAcceptAny, allowInsecureSkipVerify: raw.policy.allowInsecureSkipVerify,
      allowedCaFiles: raw.policy.allowedCaFiles, allowedKnownHostsFiles: raw.policy.allowedKnownHostsFiles, allowedSshHosts: raw.policy.allowedSshHosts,
      maxHttpConnectionsPerForward: raw.policy.maxHttpConnectionsPerForward, maxHttpPipelining: raw.policy.maxHttpPipelining,
      maxHttpConcurrentRequestsPerForward: raw.policy.maxHttpConcurrentRequestsPerForward, maxHttpRequestHeaderBytes: raw.policy.maxHttpRequestHeaderBytes,
    },
    sessions,
    assignments: { ...raw.assignments },
    telemetry: { exporter: raw.telemetry.exporter as TelemetryExporter },
  };
  const origin: ConfigOrigin = file !== undefined ? { file, sources } : { sources };
  return Object.defineProperty(config, 'origin', { value: origin, enumerable: false, writable: false }) as LoadedConfig;
}

function readConfigFile(file: string, errors: string[]): Obj | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const why = fileErrorReason(err);
    errors.push(`config file ${file}: cannot read it (${why})`);
    return undefined;
  }
  return parseJsonObject(text, `config file ${file}`, errors);
}

function parseJsonObject(text: string, label: string, errors: string[]): Obj | undefined {
  const body = text.replace(/^\uFEFF/, '');
  if (body.trim() === '') {
    errors.push(`${label}: is empty (expected a JSON object; use {} for all defaults)`);
    return undefined;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    errors.push(`${label}: invalid JSON: ${jsonErrorWithLine((err as Error).message, body)}`);
    return undefined;
  }
  if (!isObj(doc)) {
    errors.push(`${label}: must contain a JSON object (got ${describeValue(doc)})`);
    return undefined;
  }
  return doc;
}

function jsonErrorWithLine(message: string, text: string): string {
  const m = /at position (\d+)/.exec(message);
  if (!m || /line \d+/.test(message)) return message;
  const before = text.slice(0, Number(m[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `${message} (line ${line}, column ${column})`;
}

/** Copy of `doc` holding only keys the schema knows, with the JSON type each leaf needs. */
function sanitizeDoc(doc: Obj, schemaNode: Obj, prefix: string, label: string, errors: string[]): Obj {
  const out: Obj = {};
  const from = label ? ` (from ${label})` : '';
  for (const [k, v] of Object.entries(doc)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (prefix === '' && k === '$schema') {
      // Editors' pointer to config/config.schema.json; not configuration.
      if (typeof v !== 'string') errors.push(`$schema: must be a string (the JSON Schema's URL or path) (got ${describeValue(v)})${from}`);
      continue;
    }
    const node = Object.prototype.hasOwnProperty.call(schemaNode, k) ? (schemaNode[k] as Obj) : undefined;
    if (!node) {
      const known = Object.keys(schemaNode).join(', ');
      errors.push(`${appendKey(prefix, k)}: unknown key${prefix ? ` (known keys in ${prefix}: ${known})` : ` (known top-level keys: ${known})`}${from}`);
      continue;
    }
    if (!('default' in node)) {
      if (!isObj(v)) {
        errors.push(`${key}: must be an object (got ${describeValue(v)})${from}`);
        continue;
      }
      out[k] = sanitizeDoc(v, node, key, label, errors);
      continue;
    }
    const kind = node.format === Object ? 'object' : Array.isArray(node.default) ? 'array' : 'scalar';
    const ok = kind === 'object' ? isObj(v) : kind === 'array' ? Array.isArray(v) : v === null || typeof v !== 'object';
    if (!ok) {
      const want = kind === 'object' ? 'an object' : kind === 'array' ? 'an array' : typeof node.default === 'number' ? 'a number' : 'a string';
      errors.push(`${key}: must be ${want} (got ${node.sensitive ? 'a value of the wrong type' : describeValue(v)})${from}`);
      continue;
    }
    out[k] = v;
  }
  return out;
}

/** Copy of `env` without EDGE_AGENT_* JSON values that do not parse as the JSON type their key needs. */
function sanitizeEnv(env: NodeJS.ProcessEnv, leaves: SchemaLeaf[], errors: string[]): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  for (const leaf of leaves) {
    const value = env[leaf.env];
    if (value === undefined || leaf.kind === 'scalar' || leaf.key.startsWith('policy.')) continue;
    const want = leaf.kind === 'object' ? 'a JSON object' : 'a JSON array';
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch (err) {
      errors.push(`${leaf.key}: ${leaf.env} must hold ${want} (${(err as Error).message})`);
      delete out[leaf.env];
      continue;
    }
    if (leaf.kind === 'object' ? !isObj(parsed) : !Array.isArray(parsed)) {
      errors.push(`${leaf.key}: ${leaf.env} must hold ${want}`);
      delete out[leaf.env];
    }
  }
  return out;
}

/** Rewrites one line of convict's validation error into `key: reason (from ENV)`. */
function convictMessage(line: string, fromEnv: Map<string, string>, leaves: SchemaLeaf[]): string {
  const undeclared = /^configuration param '(.+)' not declared in the schema$/.exec(line);
  if (undeclared) return `${undeclared[1]}: unknown key`;
  const missing = /^configuration param '(.+)' missing from config, did you override its parent\?$/.exec(line);
  if (missing) return `${missing[1]}: is missing (its parent was replaced by a value that is not an object)`;
  let msg = line;
  const valueWas = /: value was (.*)$/.exec(msg);
  if (valueWas) {
    msg = msg.slice(0, valueWas.index);
    if (!msg.includes('(got ')) msg += ` (got ${valueWas[1]})`;
  }
  const key = /^([A-Za-z0-9_.]+): /.exec(msg)?.[1];
  if (key && leaves.some((l) => l.key === key && l.sensitive)) msg = redactCredentials(msg);
  return key ? withSource(msg, key, fromEnv) : msg;
}

function withSource(message: string, key: string, fromEnv: Map<string, string>): string {
  const envName = fromEnv.get(key);
  return envName && message.startsWith(key) ? `${message} (from ${envName})` : message;
}

// --------------------------------------------------------------------------------------------
// From a validated session spec to what TunnelSession takes.

/** A forward as the session core takes it. */
export type ResolvedForward = ForwardConfigInput;

/** A session as the supervisor runs it: normalised and deep-frozen (normaliseSession). */
export type ResolvedSession = ReturnType<typeof normaliseSession<SessionConfigInput & Partial<Pick<MultiGatewayConfigInput, 'hosts' | 'strategy' | 'failbackAfterMs'>>>>;

/**
 * Turns a validated session spec into TunnelSession's input: reads the credential's private
 * key file, looks up the passphrase/password env vars and the ssh-agent socket, fills defaults.
 * Throws EdgeError naming the credential key (`credentials.NAME.privateKeyFile`, …); secrets
 * are never part of a message.
 */
export function resolveSession(spec: SessionSpec, config: Pick<AgentConfig, 'credentials'>, env: NodeJS.ProcessEnv = process.env): ResolvedSession {
  const name = spec.credential;
  const credential = Object.prototype.hasOwnProperty.call(config.credentials, name) ? config.credentials[name] : undefined;
  const credKey = appendKey('credentials', name);
  if (!credential) {
    const known = Object.keys(config.credentials);
    throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `Session "${spec.id}": credential "${name}" is not defined (known: ${known.length ? known.join(', ') : 'none'}); add it under credentials in the local config.`, {
      details: { key: credKey, session: spec.id },
    });
  }
  const auth: AuthConfig = { username: spec.username };

  if (credential.privateKeyFile !== undefined) {
    const file = credential.privateKeyFile;
    let key: Buffer;
    try {
      key = readFileSync(file);
    } catch (err) {
      const why = fileErrorReason(err);
      throw new EdgeError('EDGE_ERR_KEY_INVALID', `${credKey}.privateKeyFile: cannot read the private key file ${file} (${why}); session "${spec.id}" uses this credential.`, {
        details: { key: `${credKey}.privateKeyFile`, file, session: spec.id },
      });
    }
    let passphrase: string | undefined;
    if (credential.passphraseEnv !== undefined) passphrase = requireEnv(env, credential.passphraseEnv, `${credKey}.passphraseEnv`, spec.id);
    // The session reads the key file (`file`) and the certificate again at every connection
    // attempt (src/session/credentials.ts): a key or certificate renewed on disk is picked up.
    const cert = credential.certificateFile !== undefined ? { certificateFile: credential.certificateFile } : {};
    auth.privateKeys = [passphrase === undefined ? { key, source: file, file, ...cert } : { key, passphrase, source: file, file, ...cert }];
  }

  if (credential.agent === true) {
    const sock = env.SSH_AUTH_SOCK;
    if (!sock) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${credKey}.agent is true but SSH_AUTH_SOCK is not set; set it to the ssh-agent socket, or set ${credKey}.agent to the socket path.`, {
        details: { key: `${credKey}.agent`, session: spec.id },
      });
    }
    auth.agent = sock;
  } else if (typeof credential.agent === 'string' && credential.agent !== '') {
    auth.agent = credential.agent;
  }

  if (credential.passwordEnv !== undefined) {
    auth.password = requireEnv(env, credential.passwordEnv, `${credKey}.passwordEnv`, spec.id);
  }

  const hk = spec.hostKeys ?? {};
  const knownHosts = (Array.isArray(hk.knownHostsFile) ? hk.knownHostsFile : hk.knownHostsFile ? [hk.knownHostsFile] : []).filter((f) => f.trim() !== '');
  const hostKeys: SessionConfigInput['hostKeys'] = {};
  if (knownHosts.length) hostKeys.knownHostsFile = knownHosts.length === 1 ? knownHosts[0]! : knownHosts;
  if (hk.fingerprints?.length) hostKeys.fingerprints = [...hk.fingerprints];
  if (hk.insecureAcceptAny === true) hostKeys.insecureAcceptAny = true;
  if (hk.certificateAuthorities?.length) hostKeys.certificateAuthorities = [...hk.certificateAuthorities];

  const gateways = spec.hosts ? parseGatewayList(spec.hosts, `sessions[${spec.id}].hosts`) : undefined;
  // The spec carries every default already (validation filled them in from the schema); this
  // only maps it, and normaliseSession freezes the result.
  return normaliseSession({
    id: spec.id,
    host: gateways ? gateways[0]!.host : sessionHost(spec.host),
    port: gateways ? gateways[0]!.port : spec.port,
    // Several gateways: the worker runs a MultiGatewaySession (src/session/multi-gateway-session.ts).
    ...(gateways ? { hosts: gateways, strategy: spec.strategy ?? 'failover', ...(spec.failbackAfterMs !== undefined ? { failbackAfterMs: spec.failbackAfterMs } : {}) } : {}),
    auth,
    hostKeys,
    keepalive: spec.keepalive,
    reconnect: spec.reconnect,
    connectTimeoutMs: spec.connectTimeoutMs,
    handshakeTimeoutMs: spec.handshakeTimeoutMs,
    forwards: spec.forwards,
    localForwards: spec.localForwards,
    dynamicForwards: spec.dynamicForwards.map((f) => resolveDynamicForward(f, spec.id, env)),
    proxy: spec.proxy,
    // "env" is read here, in the main thread: the session's worker gets the values themselves.
    ...(spec.proxy === 'env' ? { proxyEnv: proxyEnvFrom(env) } : {}),
    exitOnForwardFailure: spec.exitOnForwardFailure,
    sshdNoDelayExec: spec.sshdNoDelayExec,
    ...(spec.ciphers ? { ciphers: spec.ciphers } : {}),
    ...(spec.algorithms ? { algorithms: spec.algorithms as AlgorithmWidening } : {}),
  });
}

/** The SOCKS password is looked up here; a missing variable names its key. */
function resolveDynamicForward(f: DynamicForwardSpec, session: string, env: NodeJS.ProcessEnv): DynamicForwardConfigInput {
  const { passwordEnv, username, ...rest } = f;
  return username !== undefined && passwordEnv !== undefined ? { ...rest, username, password: requireEnv(env, passwordEnv, `dynamicForwards[${f.id}].passwordEnv`, session) } : rest;
}

function requireEnv(env: NodeJS.ProcessEnv, name: string, key: string, session: string): string {
  const value = env[name];
  if (value === undefined) {
    throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: environment variable ${name} is not set (session "${session}" uses this credential).`, {
      details: { key, env: name, session },
    });
  }
  return value;
}
