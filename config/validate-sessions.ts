// Validation of sessions (config `sessions[]` and assignment documents): the JSON Schema first,
// then what a schema cannot say — unique ids, known credential names, target/fingerprint/CIDR
// syntax (the session core's own parsers), host keys configured, and the LOCAL policy. Every
// problem is reported at once, each as `path: message`, e.g.
//   sessions[1].forwards[0].port: must be <= 65535 (got 70000)
// The context (credentials, policy) always comes from the local config: a remote document can
// never widen the policy it is checked against.
import { isEdgeError } from '../src/errors.js';
import { parsePinnedFingerprint } from '../src/session/host-keys/fingerprint.js';
import { parseCertificateAuthorities } from '../src/session/host-keys/host-certificate.js';
import { parseDestinationPattern } from '../src/grammar/destination-allow-list.js';
import { isLoopbackBind } from '../src/grammar/bind.js';
import { createOriginAllowList } from '../src/grammar/origin-allow-list.js';
import { checkProxySetting } from '../src/grammar/proxy-url.js';
import { checkHost, formatHost } from '../src/grammar/host-name.js';
import { parseTargetUrl, type ParsedTarget } from '../src/grammar/targets.js';
import { checkSshHostName } from '../src/grammar/host-name.js';
import { checkAlgorithmWidening } from '../src/ssh-algorithms.js';
import { formatAjvErrors, pointerToPath, validators } from './json-schema.js';
import { fillSessionDefaults } from './schema-defaults.js';
import { clampHttpSettings, localOnlyErrors, type ClampedValue } from './document-policy.js';
import { channelCeilingDefaults, checkBindPolicy, checkBudget, checkLocalBindPolicy, checkPolicy, checkRemoteSocketPolicy, checkTargetPolicy } from './policy.js';
import { checkRemoteSocketPath } from '../src/session/remote-listener.js';
import { parseGatewayList } from '../src/session/gateway-list.js';
import type { AssignmentDocument, CredentialConfig, Policy, SessionSpec, ValidationContext } from './types.js';

export { checkPolicy, checkTargetPolicy, checkBindPolicy, checkLocalBindPolicy, validatePolicy, parseTargetPattern } from './policy.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function messageOf(err: unknown): string {
  if (isEdgeError(err)) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** Host as written, brackets around an IPv6 literal tolerated. */
export function sessionHost(host: string): string {
  return /^\[.*\]$/.test(host) ? host.slice(1, -1) : host;
}

/**
 * Validates `sessions` (an array) and returns them with defaults filled in, plus every problem.
 * `sessions` is not modified.
 */
export function parseSessions(sessions: unknown, ctx: ValidationContext, path = 'sessions'): { sessions: SessionSpec[]; errors: string[] } {
  const data: unknown = fillDefaults(sessions === undefined ? undefined : structuredClone(sessions), ctx.policy);
  const validate = validators().sessions;
  const errors: string[] = [];
  if (!validate(data)) errors.push(...formatAjvErrors(validate.errors, path, data));
  if (Array.isArray(data)) errors.push(...semanticErrors(data, ctx, path));
  return { sessions: errors.length === 0 ? (data as SessionSpec[]) : [], errors };
}

/** Every problem with `sessions`, each naming its key (`sessions[0].forwards[1].target: …`). */
export function validateSessions(sessions: unknown, ctx: { credentials: Record<string, CredentialConfig>; policy: Policy }, path = 'sessions'): string[] {
  return parseSessions(sessions, ctx, path).errors;
}

/** A forward of an assignment document that the local policy does not allow (dropped, the rest applies). */
export interface RefusedForward {
  session: string;
  forward: string;
  /** JSON path in the document, e.g. `sessions[0].forwards[2]`. */
  path: string;
  /** Why, naming the policy key that forbids it. */
  reason: string;
  bind: string;
  port: number;
  /** Remote forwards: the target; local forwards: tcp://host:hostPort; dynamic forwards: "socks". */
  target: string;
  /** Which list it was in; absent = `forwards` (remote). */
  kind?: 'local' | 'dynamic';
  /** A remote forward on a unix socket path (bind '' and port 0). */
  remoteSocket?: string;
}

export interface ParseAssignmentOptions {
  /**
   * What a forward outside the local policy does: `reject` (default) reports it as an error,
   * which rejects the whole document (`edge-agent check`); `refuse-forwards` drops only that
   * forward and lists it in `refusedForwards` (documents from the fleet endpoint). Either way a
   * document can never widen the local policy.
   */
  policy?: 'reject' | 'refuse-forwards';
}

export interface ParsedAssignment {
  /** The document with defaults filled in (and, with `refuse-forwards`, without refused forwards); absent when there are errors. */
  document?: AssignmentDocument;
  errors: string[];
  /** Only with `policy: 'refuse-forwards'`. */
  refusedForwards: RefusedForward[];
  /** The errors (also in `errors`) that are keys only the local config may set (EDGE_ERR_POLICY_LOCAL_ONLY). */
  localOnly: string[];
  /** HTTP settings lowered to the local ceilings (policy.maxHttp*). */
  clampedValues: ClampedValue[];
}

/** Validates a whole assignment document `{ revision, sessions }` against the schema and the local context. */
export function parseAssignmentDocument(doc: unknown, ctx: ValidationContext, options: ParseAssignmentOptions = {}): ParsedAssignment {
  const refuse = options.policy === 'refuse-forwards';
  const data: unknown = structuredClone(doc);
  if (isObj(data) && Array.isArray(data.sessions)) data.sessions = fillDefaults(data.sessions, ctx.policy);
  const validate = validators().document;
  const errors: string[] = [];
  const localOnly: string[] = [];
  if (!validate(data)) {
    errors.push(...formatAjvErrors(validate.errors, '', data).map((m) => (m.startsWith(':') ? `(document)${m}` : m)));
  }
  if (isObj(data) && Array.isArray(data.sessions)) {
    errors.push(...semanticErrors(data.sessions, ctx, 'sessions', !refuse));
    // Weaker algorithms, turned-off verification, local files: the device owner's decision (document-policy.ts).
    localOnly.push(...localOnlyErrors(data.sessions, ctx.policy));
    errors.push(...localOnly);
  }
  // The schema checks the shape; a well-shaped but impossible date (month 13) is caught here.
  if (isObj(data) && typeof data.expires === 'string' && /^\d{4}-\d{2}-\d{2}[Tt ]/.test(data.expires) && Number.isNaN(Date.parse(data.expires))) {
    errors.push(`expires: ${JSON.stringify(data.expires)} is not a valid RFC 3339 time (e.g. 2026-12-31T00:00:00Z)`);
  }
  // `edge-agent check`: the budget too (the agent itself checks it on the merged sessions, with its own code).
  if (!refuse && errors.length === 0 && isObj(data) && Array.isArray(data.sessions)) errors.push(...checkBudget(data.sessions as SessionSpec[], ctx.policy, 'sessions'));
  if (errors.length > 0) return { errors, localOnly, refusedForwards: [], clampedValues: [] };
  const document = data as unknown as AssignmentDocument;
  const clampedValues = clampHttpSettings(document.sessions, ctx.policy);
  const refusedForwards: RefusedForward[] = [];
  if (refuse) {
    document.sessions.forEach((session, i) => {
      session.forwards = session.forwards.filter((forward, j) => {
        const reason = checkPolicy(forward, ctx.policy);
        if (reason) {
          refusedForwards.push({ session: session.id, forward: forward.id, path: `sessions[${i}].forwards[${j}]`, reason, bind: forward.bind ?? '', port: forward.port ?? 0, target: forward.target,
            ...(forward.remoteSocket !== undefined ? { remoteSocket: forward.remoteSocket } : {}) });
        }
        return !reason;
      });
      // Listeners on the device: their bind address against policy.allowedLocalBindAddresses.
      session.localForwards = (session.localForwards ?? []).filter((forward, j) => {
        const reason = checkLocalBindPolicy(forward.bind, ctx.policy);
        if (reason) refusedForwards.push({ session: session.id, forward: forward.id, path: `sessions[${i}].localForwards[${j}]`, reason, bind: forward.bind, port: forward.port, target: `tcp://${formatHost(forward.host)}:${forward.hostPort}`, kind: 'local' });
        return !reason;
      });
      session.dynamicForwards = (session.dynamicForwards ?? []).filter((forward, j) => {
        const reason = checkLocalBindPolicy(forward.bind, ctx.policy);
        if (reason) refusedForwards.push({ session: session.id, forward: forward.id, path: `sessions[${i}].dynamicForwards[${j}]`, reason, bind: forward.bind, port: forward.port, target: 'socks', kind: 'dynamic' });
        return !reason;
      });
    });
  }
  const running = clampedValues.filter((c) => !refusedForwards.some((r) => !r.kind && r.session === c.session && r.forward === c.forward));
  return { document, errors, localOnly, refusedForwards, clampedValues: running };
}

/**
 * Every session with its defaults filled in (config/schema-defaults.ts), before validation as
 * ajv's useDefaults did; then an omitted maxChannels lowered to the local ceiling (the raw
 * session still tells omitted from written).
 */
function fillDefaults(sessions: unknown, policy: Policy | undefined): unknown {
  return Array.isArray(sessions) ? sessions.map((s) => channelCeilingDefaults(s, fillSessionDefaults(s), policy)) : sessions;
}

function semanticErrors(sessions: unknown[], ctx: ValidationContext, path: string, withPolicy = true): string[] {
  const errors: string[] = [];
  const sessionIds = new Map<string, number>();
  const credentialNames = Object.keys(ctx.credentials ?? {});
  sessions.forEach((s, i) => {
    if (!isObj(s)) return;
    const at = `${path}[${i}]`;

    if (typeof s.id === 'string') {
      const first = sessionIds.get(s.id);
      if (first !== undefined) errors.push(`${at}.id: duplicate session id "${s.id}" (also ${path}[${first}].id); session ids must be unique`);
      else sessionIds.set(s.id, i);
    }

    if (typeof s.host === 'string' && s.host !== '') {
      const problem = checkSshHostName(sessionHost(s.host), 'port');
      if (problem !== undefined) errors.push(`${at}.host: ${problem}`);
    }

    if (s.algorithms !== undefined) {
      try {
        checkAlgorithmWidening(s.algorithms, `${at}.algorithms`);
      } catch (err) {
        errors.push(messageOf(err));
      }
    }
    errors.push(...gatewayErrors(s, at));

    if (typeof s.credential === 'string' && !Object.prototype.hasOwnProperty.call(ctx.credentials ?? {}, s.credential)) {
      errors.push(`${at}.credential: unknown credential "${s.credential}" (known: ${credentialNames.length ? credentialNames.join(', ') : 'none; define it under credentials in the local config'})`);
    }

    errors.push(...hostKeyErrors(s.hostKeys, `${at}.hostKeys`));

    const rc = s.reconnect;
    if (isObj(rc) && typeof rc.retryIntervalMs === 'number' && typeof rc.maxRetryIntervalMs === 'number' && rc.maxRetryIntervalMs < rc.retryIntervalMs) {
      errors.push(`${at}.reconnect.maxRetryIntervalMs: must be at least reconnect.retryIntervalMs (${rc.retryIntervalMs}), got ${rc.maxRetryIntervalMs}`);
    }

    if (Array.isArray(s.forwards)) errors.push(...forwardErrors(s.forwards, withPolicy ? ctx.policy : undefined, `${at}.forwards`));
    errors.push(...listenerErrors(s, withPolicy ? ctx.policy : undefined, at));

    if (typeof s.proxy === 'string') {
      try {
        checkProxySetting(s.proxy, `${at}.proxy`);
      } catch (err) {
        errors.push(messageOf(err));
      }
    }
  });
  return errors;
}

/**
 * localForwards and dynamicForwards of one session: ids unique across all three lists, bind
 * syntax, allowRelay for a bind that is not loopback, destination syntax, SOCKS auth pairs,
 * one listener per device address/port, and the local policy.allowedLocalBindAddresses.
 */
function listenerErrors(s: Obj, policy: Policy | undefined, at: string): string[] {
  const errors: string[] = [];
  const ids = new Map<string, string>();
  if (Array.isArray(s.forwards)) {
    s.forwards.forEach((f, j) => { if (isObj(f) && typeof f.id === 'string' && !ids.has(f.id)) ids.set(f.id, `${at}.forwards[${j}]`); });
  }
  const listeners = new Map<string, string>();
  for (const list of ['localForwards', 'dynamicForwards'] as const) {
    const entries = s[list];
    if (!Array.isArray(entries)) continue;
    entries.forEach((f, j) => {
      if (!isObj(f)) return;
      const fat = `${at}.${list}[${j}]`;
      if (typeof f.id === 'string') {
        const first = ids.get(f.id);
        if (first !== undefined) errors.push(`${fat}.id: duplicate forward id "${f.id}" (also ${first}.id); forward ids must be unique within a session, across forwards, localForwards and dynamicForwards`);
        else ids.set(f.id, fat);
      }
      const bind = typeof f.bind === 'string' ? f.bind : 'localhost';
      const bindHost = bind.replace(/^\[(.*)\]$/, '$1');
      let bindOk = true;
      if (bindHost !== '' && bindHost !== '*') {
        const checked = checkHost(bindHost);
        if (checked.error !== undefined) {
          bindOk = false;
          errors.push(`${fat}.bind: ${checked.error}`);
        }
      }
      if (bindOk && !isLoopbackBind(bind) && f.allowRelay !== true) {
        errors.push(`${fat}.allowRelay: bind address ${bindHost === '' || bindHost === '*' ? '"" (all interfaces)' : JSON.stringify(bind)} is not loopback, so other machines could use this tunnel; set allowRelay: true to allow that (ssh -g, Tectia allow-relay), or bind "localhost"`);
      }
      if (bindOk && policy) {
        const why = checkLocalBindPolicy(bind, policy);
        if (why) errors.push(`${fat}.bind: ${why}`);
      }
      if (typeof f.port === 'number' && f.port !== 0) {
        const key = `${bindHost.toLowerCase()}\0${f.port}`;
        const first = listeners.get(key);
        if (first !== undefined) errors.push(`${fat}.port: ${bindHost || '*'}:${f.port} is already a listener of ${first} in this session`);
        else listeners.set(key, fat);
      }
      if (list === 'localForwards' && typeof f.host === 'string' && f.host !== '') {
        const checked = checkHost(f.host.replace(/^\[(.*)\]$/, '$1'));
        if (checked.error !== undefined) errors.push(`${fat}.host: ${checked.error}`);
      }
      if (list === 'dynamicForwards') {
        if (Array.isArray(f.allowDestinations)) {
          f.allowDestinations.forEach((p, k) => {
            if (typeof p !== 'string') return;
            try {
              parseDestinationPattern(p);
            } catch (err) {
              errors.push(`${fat}.allowDestinations[${k}]: invalid destination pattern ${JSON.stringify(p)}: ${messageOf(err)}`);
            }
          });
        }
        if ((f.username === undefined) !== (f.passwordEnv === undefined)) {
          errors.push(`${fat}.${f.username === undefined ? 'username' : 'passwordEnv'}: SOCKS authentication needs both username and passwordEnv`);
        }
      }
    });
  }
  return errors;
}

/** host/port or hosts (several gateways), strategy and failbackAfterMs only with hosts, no -L/-D with several. */
function gatewayErrors(s: Obj, at: string): string[] {
  const errors: string[] = [];
  if (s.hosts === undefined) {
    if (s.host === undefined) errors.push(`${at}.host: is required (or give hosts, a list of gateways)`);
    for (const key of ['strategy', 'failbackAfterMs'] as const) {
      if (s[key] !== undefined) errors.push(`${at}.${key}: only applies to a session with several gateways (hosts)`);
    }
    return errors;
  }
  if (s.host !== undefined || s.port !== undefined) errors.push(`${at}.${s.host !== undefined ? 'host' : 'port'}: give either host/port or hosts, not both`);
  if (!Array.isArray(s.hosts) || !s.hosts.every((h) => typeof h === 'string')) return errors; // reported by the schema
  try {
    parseGatewayList(s.hosts as string[], `${at}.hosts`);
  } catch (err) {
    errors.push(messageOf(err));
  }
  const listeners = (Array.isArray(s.localForwards) ? s.localForwards.length : 0) + (Array.isArray(s.dynamicForwards) ? s.dynamicForwards.length : 0);
  if (s.hosts.length > 1 && listeners > 0) {
    errors.push(`${at}.localForwards: local (-L) and dynamic (-D) forwards listen on the device and need a session with one gateway (host), not several (hosts)`);
  }
  return errors;
}

function hostKeyErrors(hk: unknown, at: string): string[] {
  if (hk === undefined) hk = {};
  if (!isObj(hk)) return []; // type error already reported
  const errors: string[] = [];
  let configured = false;
  const kh = hk.knownHostsFile;
  if (typeof kh === 'string' && kh.trim() !== '') configured = true;
  if (Array.isArray(kh) && kh.length > 0) configured = true;
  if (Array.isArray(hk.fingerprints)) {
    hk.fingerprints.forEach((fp, j) => {
      if (typeof fp !== 'string') return;
      configured = true;
      try {
        parsePinnedFingerprint(fp, `${at}.fingerprints[${j}]`);
      } catch (err) {
        errors.push(messageOf(err));
      }
    });
  }
  if (hk.insecureAcceptAny === true) configured = true;
  if (Array.isArray(hk.certificateAuthorities) && hk.certificateAuthorities.length > 0) {
    configured = true;
    hk.certificateAuthorities.forEach((line, j) => {
      if (typeof line !== 'string') return;
      try {
        parseCertificateAuthorities([line], `${at}.certificateAuthorities`);
      } catch (err) {
        errors.push(messageOf(err).replace(`${at}.certificateAuthorities[0]`, `${at}.certificateAuthorities[${j}]`));
      }
    });
  }
  if (!configured) {
    errors.push(
      `${at}: host keys must be configured: set hostKeys.knownHostsFile (a known_hosts file) and/or hostKeys.fingerprints ` +
        '(e.g. "SHA256:…" from `ssh-keygen -lf`) and/or hostKeys.certificateAuthorities, or hostKeys.insecureAcceptAny: true (not recommended)',
    );
  }
  return errors;
}

function forwardErrors(forwards: unknown[], policy: Policy | undefined, path: string): string[] {
  const errors: string[] = [];
  const ids = new Map<string, number>();
  const listeners = new Map<string, number>();
  forwards.forEach((f, j) => {
    if (!isObj(f)) return;
    const at = `${path}[${j}]`;
    if (typeof f.id === 'string') {
      const first = ids.get(f.id);
      if (first !== undefined) errors.push(`${at}.id: duplicate forward id "${f.id}" (also ${path}[${first}].id); forward ids must be unique within a session`);
      else ids.set(f.id, j);
    }
    const bind = typeof f.bind === 'string' ? f.bind : 'localhost';
    if (f.remoteSocket !== undefined) {
      if (f.port !== undefined || f.bind !== undefined) {
        errors.push(`${at}.${f.port !== undefined ? 'port' : 'bind'}: a forward listens either on a remoteSocket or on bind/port, not both`);
      }
      if (typeof f.remoteSocket === 'string') {
        try {
          checkRemoteSocketPath(f.remoteSocket, `${at}.remoteSocket`);
        } catch (err) {
          errors.push(messageOf(err));
        }
        const key = `unix\0${f.remoteSocket}`;
        const first = listeners.get(key);
        if (first !== undefined) errors.push(`${at}.remoteSocket: ${f.remoteSocket} is already requested by ${path}[${first}] in this session`);
        else listeners.set(key, j);
        if (policy) {
          const why = checkRemoteSocketPolicy(f.remoteSocket, policy);
          if (why) errors.push(`${at}.remoteSocket: ${why}`);
        }
      }
      if (Array.isArray(f.allowOrigins) && f.allowOrigins.length > 0) {
        errors.push(`${at}.allowOrigins: does not apply to a remoteSocket forward (the SSH host reports no origin address for unix-socket connections)`);
      }
    } else if (f.port === undefined) {
      errors.push(`${at}.port: is required (or give remoteSocket, a unix socket path on the SSH host)`);
    }
    if (typeof f.port === 'number' && f.port !== 0 && (f.bind === undefined || typeof f.bind === 'string')) {
      const key = `${bind.toLowerCase()}\0${f.port}`;
      const first = listeners.get(key);
      if (first !== undefined) errors.push(`${at}.port: ${bind || '*'}:${f.port} is already requested by ${path}[${first}] in this session`);
      else listeners.set(key, j);
    }
    if (typeof f.target === 'string' && f.target !== '') {
      let parsed: ParsedTarget | undefined;
      try {
        parsed = parseTargetUrl(f.target, `${at}.target`);
      } catch (err) {
        errors.push(messageOf(err));
      }
      if (parsed && policy) {
        const why = checkTargetPolicy(parsed, policy);
        if (why) errors.push(`${at}.target: ${why}`);
      }
    }
    if ((f.bind === undefined || typeof f.bind === 'string') && f.remoteSocket === undefined && policy) {
      const why = checkBindPolicy(bind, policy);
      if (why) errors.push(`${at}.bind: ${why}`);
    }
    if (Array.isArray(f.allowOrigins) && f.allowOrigins.every((o) => typeof o === 'string')) {
      // createOriginAllowList stops at the first bad entry; check each alone to report them all.
      f.allowOrigins.forEach((entry, k) => {
        try {
          createOriginAllowList([entry as string], `${at}.allowOrigins`);
        } catch (err) {
          errors.push(messageOf(err).replace(`${at}.allowOrigins[0]`, `${at}.allowOrigins[${k}]`));
        }
      });
    }
  });
  return errors;
}

/** Every problem with the local `credentials` map, each naming its key. Values are never echoed. */
export function validateCredentials(credentials: unknown, path = 'credentials'): string[] {
  const data: unknown = structuredClone(credentials);
  const validate = validators().credentials;
  const errors: string[] = [];
  if (!validate(data)) errors.push(...formatAjvErrors(validate.errors, path, data, false));
  if (isObj(data)) {
    for (const [name, c] of Object.entries(data)) {
      if (!isObj(c)) continue;
      const at = pointerToPath(path, `/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`, data);
      if (c.privateKeyFile === undefined && c.agent === undefined && c.passwordEnv === undefined) {
        errors.push(`${at}: no authentication method: set privateKeyFile, agent or passwordEnv`);
      }
      if (c.agent === false && c.privateKeyFile === undefined && c.passwordEnv === undefined) {
        // already reported above only when agent is absent; agent:false alone is no method either
        errors.push(`${at}: no authentication method: agent is false and neither privateKeyFile nor passwordEnv is set`);
      }
      if (c.certificateFile !== undefined && c.privateKeyFile === undefined) {
        errors.push(`${at}.certificateFile: a certificate is used with its private key; set privateKeyFile too`);
      }
      if (c.passphraseEnv !== undefined && c.privateKeyFile === undefined) {
        errors.push(`${at}.passphraseEnv: only applies to a privateKeyFile, and this credential has none`);
      }
    }
  }
  return errors;
}
