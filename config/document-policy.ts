// What the local policy lets an ASSIGNMENT DOCUMENT set, beyond targets, binds and the budget
// (config/policy.ts). A document comes from the fleet control plane; none of this applies to the
// local config's own sessions, which the device owner wrote.
//
//   Local-only keys: a document naming one is rejected whole (EDGE_ERR_POLICY_LOCAL_ONLY) and the
//   running one keeps running —
//     sessions[].algorithms                  weaker SSH algorithms: never from a document
//     hostKeys.insecureAcceptAny: true       only with policy.allowInsecureAcceptAny
//     forwards[].http.insecureSkipVerify     only with policy.allowInsecureSkipVerify
//     forwards[].http.caFile                 only a path matching policy.allowedCaFiles (default none)
//     hostKeys.knownHostsFile                only paths matching policy.allowedKnownHostsFiles (default any)
//     host, hosts[], proxy                   only SSH hosts matching policy.allowedSshHosts (default any;
//                                            config/ssh-host-policy.ts)
//   A file named remotely is a local read chosen remotely (its existence, whether it holds PEM,
//   and its size are the device's business), hence the lists; patterns as the unix: targets of
//   allowedTargets: "/etc/edge/ca.pem", "/etc/edge/ca/" (below it), "/etc/edge/*.pem", "*".
//
//   HTTP ceilings: a document's http.maxConnections, pipelining, maxConcurrentRequests and
//   maxRequestHeaderBytes (written or default) are lowered to policy.maxHttp* — they size the
//   agent's sockets and memory — and each lowering is reported (clampHttpSettings).
import { parseTargetPattern, targetPatternMatches } from '../src/grammar/target-patterns.js';
import { ASSIGNMENT_SCHEMA } from './session-schema.js';
import { sshHostErrors } from './ssh-host-policy.js';
import type { Policy } from './types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export const DEFAULT_ALLOWED_CA_FILES: string[] = [];
/** Any: documents have always named the device's known_hosts file; narrow it to where those files live. */
export const DEFAULT_ALLOWED_KNOWN_HOSTS_FILES = ['*'];

const HTTP = ASSIGNMENT_SCHEMA.$defs.forward.properties.http.properties;

/**
 * The HTTP ceilings: policy key, the forward's http key, the documented default ceiling and the
 * schema's range (what a ceiling may be). Defaults: 256 connections to one service (file
 * descriptors); 10 requests pipelined on one; 1024 requests at once × 32 KiB heads = 32 MiB, half
 * of the default 64 MB worker heap (agent.workerMaxHeapMb).
 */
export const HTTP_CEILINGS = [
  { policy: 'maxHttpConnectionsPerForward', http: 'maxConnections', fallback: 256, min: HTTP.maxConnections.minimum, max: HTTP.maxConnections.maximum },
  { policy: 'maxHttpPipelining', http: 'pipelining', fallback: 10, min: HTTP.pipelining.minimum, max: HTTP.pipelining.maximum },
  { policy: 'maxHttpConcurrentRequestsPerForward', http: 'maxConcurrentRequests', fallback: 1024, min: HTTP.maxConcurrentRequests.minimum, max: HTTP.maxConcurrentRequests.maximum },
  { policy: 'maxHttpRequestHeaderBytes', http: 'maxRequestHeaderBytes', fallback: 32768, min: HTTP.maxRequestHeaderBytes.minimum, max: HTTP.maxRequestHeaderBytes.maximum },
] as const satisfies ReadonlyArray<{ policy: keyof Policy; http: keyof typeof HTTP; fallback: number; min: number; max: number }>;

/** A document value the local policy lowered (listed in /status `assignments.clampedValues`). */
export interface ClampedValue {
  session: string;
  forward: string;
  /** JSON path in the document, e.g. `sessions[0].forwards[1].http.maxConnections`. */
  path: string;
  /** What the document asked (or its default). */
  asked: number;
  /** What runs. */
  applied: number;
  /** The policy key that bounds it, e.g. `policy.maxHttpConnectionsPerForward`. */
  limit: string;
}

/** Does a local file path match one of the patterns? A relative path (resolved against the agent's cwd) matches only "*". */
export function filePathAllowed(file: string, patterns: readonly string[]): boolean {
  for (const p of patterns) {
    if (p === '*') return true;
    if (!file.startsWith('/')) continue;
    try {
      if (targetPatternMatches(parseTargetPattern(`unix:${p}`), { kind: 'unix', path: file, url: `unix:${file}` })) return true;
    } catch {
      // an invalid pattern allows nothing; validatePolicy reports it
    }
  }
  return false;
}

/** Problems with the file-pattern lists of the policy, each naming its key. */
export function validateFilePatterns(p: Obj, key: string): string[] {
  const errors: string[] = [];
  for (const name of ['allowedCaFiles', 'allowedKnownHostsFiles'] as const) {
    const list = p[name];
    if (!Array.isArray(list)) continue;
    list.forEach((entry, i) => {
      if (entry === '*') return;
      const why = typeof entry !== 'string' || !entry.startsWith('/')
        ? 'a file pattern is an absolute path, a directory ending in "/", a glob ("/etc/edge/*.pem") or "*"'
        : entry.split('/').some((seg) => seg === '.' || seg === '..') ? 'a file pattern must not contain "." or ".." segments' : undefined;
      if (why) errors.push(`${key}.${name}[${i}]: invalid file pattern ${JSON.stringify(entry)}: ${why}`);
    });
  }
  return errors;
}

const localConfigHint = 'set it in the local config\'s own sessions instead';

/**
 * Every key of a document's sessions (defaults filled in) that only the local config may set, or
 * that the local policy does not let a document set, each as `path: why`. [] when none.
 */
export function localOnlyErrors(sessions: unknown[], policy: Policy): string[] {
  const errors: string[] = [];
  const caFiles = policy.allowedCaFiles ?? DEFAULT_ALLOWED_CA_FILES;
  const knownHostsFiles = policy.allowedKnownHostsFiles ?? DEFAULT_ALLOWED_KNOWN_HOSTS_FILES;
  sessions.forEach((s, i) => {
    if (!isObj(s)) return;
    const at = `sessions[${i}]`;
    errors.push(...sshHostErrors(s, at, policy));
    if (s.algorithms !== undefined) errors.push(`${at}.algorithms: weaker SSH algorithms can only be allowed in the local config, not by an assignment document`);
    const hk = isObj(s.hostKeys) ? s.hostKeys : {};
    if (hk.insecureAcceptAny === true && policy.allowInsecureAcceptAny !== true) {
      errors.push(`${at}.hostKeys.insecureAcceptAny: turning off SSH host key verification is not allowed from an assignment document by the local policy (policy.allowInsecureAcceptAny is false); pin the gateway's key (fingerprints, certificateAuthorities) or ${localConfigHint}`);
    }
    const known = typeof hk.knownHostsFile === 'string' ? [hk.knownHostsFile] : Array.isArray(hk.knownHostsFile) ? hk.knownHostsFile : [];
    known.forEach((file, k) => {
      if (typeof file !== 'string' || file === '' || filePathAllowed(file, knownHostsFiles)) return;
      const where = Array.isArray(hk.knownHostsFile) ? `[${k}]` : '';
      errors.push(`${at}.hostKeys.knownHostsFile${where}: ${JSON.stringify(file)} is not allowed by the local policy.allowedKnownHostsFiles ${JSON.stringify(knownHostsFiles)}; add a matching pattern there in the local config, or use fingerprints / certificateAuthorities`);
    });
    const forwards = Array.isArray(s.forwards) ? s.forwards : [];
    forwards.forEach((f, j) => {
      const http = isObj(f) && isObj(f.http) ? f.http : undefined;
      if (!http) return;
      const fat = `${at}.forwards[${j}].http`;
      if (http.insecureSkipVerify === true && policy.allowInsecureSkipVerify !== true) {
        errors.push(`${fat}.insecureSkipVerify: turning off TLS verification of the service is not allowed from an assignment document by the local policy (policy.allowInsecureSkipVerify is false); use a caFile under policy.allowedCaFiles or ${localConfigHint}`);
      }
      if (typeof http.caFile === 'string' && http.caFile !== '' && !filePathAllowed(http.caFile, caFiles)) {
        errors.push(`${fat}.caFile: ${JSON.stringify(http.caFile)} is not allowed by the local policy.allowedCaFiles ${JSON.stringify(caFiles)} (an assignment document may only name CA files the device owner listed); add a matching pattern (e.g. "/etc/edge-agent/ca/") there in the local config`);
      }
    });
  });
  return errors;
}

/** http://, https:// and http+unix: targets: the only ones whose http settings are used. */
const HTTP_TARGET = /^(?:https?:\/\/|http\+unix:)/i;

/**
 * Lowers the HTTP settings of each document forward with an HTTP target to the policy ceilings,
 * in place — a value it wrote, or the schema default when it wrote none (a ceiling below a default
 * then applies to documents that never mention it) — and returns what it lowered. The local
 * config's sessions never come here.
 */
export function clampHttpSettings(sessions: unknown[], policy: Policy): ClampedValue[] {
  const clamped: ClampedValue[] = [];
  sessions.forEach((s, i) => {
    if (!isObj(s) || !Array.isArray(s.forwards)) return;
    s.forwards.forEach((f, j) => {
      if (!isObj(f) || typeof f.target !== 'string' || !HTTP_TARGET.test(f.target)) return;
      if (f.http !== undefined && !isObj(f.http)) return; // the schema reports it
      for (const c of HTTP_CEILINGS) {
        const ceiling = policy[c.policy] ?? c.fallback;
        const asked = isObj(f.http) && f.http[c.http] !== undefined ? f.http[c.http] : HTTP[c.http].default;
        if (typeof asked !== 'number' || asked <= ceiling) continue;
        f.http = { ...(isObj(f.http) ? f.http : {}), [c.http]: ceiling };
        clamped.push({ session: String(s.id), forward: String(f.id), path: `sessions[${i}].forwards[${j}].http.${c.http}`, asked, applied: ceiling, limit: `policy.${c.policy}` });
      }
    });
  });
  return clamped;
}
