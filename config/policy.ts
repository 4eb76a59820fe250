// The local policy: which targets and bind addresses any session may use. It is read only from
// the local config file/env; an assignment document has no way to carry or widen it (its JSON
// Schema has no such key). The control plane can therefore never turn a device into an open
// proxy into its LAN: every assigned forward is checked here before it runs.
//
// allowedTargets patterns:
//   host:port        host: a name or IPv4 address, `*` wildcards allowed ("*", "*.lan", "10.0.0.*")
//   [v6]:port        IPv6 literal in brackets ("[::1]:*"), or "[*]:port" for any IPv6 host
//   port             a number, a range "8000-8999", or "*"
//   unix:/run/app.sock   that socket path exactly
//   unix:/run/app/       a directory: any socket below it
//   unix:/run/app/*.sock a path glob (`*` matches any characters)
//   unix:*               any unix socket (not recommended: /var/run/docker.sock is a unix socket)
// Unix targets are allowed only when listed: the default is loopback TCP. A target's path is
// normalised (".." and "//" resolved) before it is matched, so "/run/app/../../etc/x" is /etc/x.
// tcp:// targets are matched by host:port, http(s):// by host:port (default ports 80/443).
// allowedBindAddresses: exact addresses ("localhost", "127.0.0.1", "::1", "0.0.0.0", "::",
// "" for all interfaces), or "*" for any.
// allowedLocalBindAddresses: the same, for listeners ON THE DEVICE (localForwards,
// dynamicForwards). Default loopback only, so no document can expose the SSH host's network to
// the device's LAN: a relay needs the device owner's entry here AND the forward's allowRelay.
import path from 'node:path';
import { checkHost, formatHost, parseTargetUrl, type ParsedTarget } from '../src/session/target-url.js';
import type { Policy } from './types.js';
import { FORWARD_BIND_DEFAULT } from './session-schema.js';

export const DEFAULT_ALLOWED_TARGETS = ['127.0.0.1:*', 'localhost:*', '[::1]:*'];
/** Default budget: what a document may size (each session is a worker thread with its own heap). */
export const DEFAULT_MAX_SESSIONS = 4;
export const DEFAULT_MAX_FORWARDS_PER_SESSION = 64;
/** Upper bound of policy.maxSessions: the supervisor's worker pool size (worker-pool.ts MAX_SESSIONS). */
export const MAX_SESSIONS_LIMIT = 64;
export const DEFAULT_ALLOWED_BIND_ADDRESSES = ['localhost', '127.0.0.1', '::1'];
export const DEFAULT_ALLOWED_LOCAL_BIND_ADDRESSES = ['localhost', '127.0.0.1', '::1'];
/** Any path: a remote socket is on the SSH host (only its local users reach it) and its sshd bounds where it may be made. */
export const DEFAULT_ALLOWED_REMOTE_SOCKETS = ['*'];

type TargetPattern =
  | { kind: 'unix'; path: RegExp | string; directory: boolean }
  | { kind: 'host'; family: 'v6' | 'name' | 'any'; host: RegExp; portMin: number; portMax: number };

const cache = new Map<string, TargetPattern>();

function globToRegExp(glob: string, flags = ''): RegExp {
  const body = glob.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^]*');
  return new RegExp(`^${body}$`, flags);
}

/** Parses one allowedTargets entry; throws an Error whose message is the reason. */
export function parseTargetPattern(pattern: string): TargetPattern {
  const hit = typeof pattern === 'string' ? cache.get(pattern) : undefined;
  if (hit) return hit;
  const parsed = parsePattern(pattern);
  cache.set(pattern, parsed);
  return parsed;
}

function parsePattern(pattern: string): TargetPattern {
  if (typeof pattern !== 'string') throw new Error('a pattern must be a string');
  if (pattern === '') throw new Error('the pattern is empty');
  if (/[\s\x00-\x1f\x7f]/.test(pattern)) throw new Error('the pattern contains whitespace or control characters');
  if (/^unix:/i.test(pattern)) {
    const p = pattern.slice(5);
    if (p === '*') return { kind: 'unix', path: /^[^]*$/, directory: false };
    if (!p.startsWith('/')) throw new Error('a unix pattern is an absolute path ("unix:/run/app.sock"), a directory ("unix:/run/app/"), a glob ("unix:/run/app/*.sock") or "unix:*"');
    if (p.split('/').includes('..') || p.split('/').includes('.')) throw new Error('a unix pattern must not contain "." or ".." segments');
    if (p.includes('*')) return { kind: 'unix', path: globToRegExp(path.posix.normalize(p)), directory: false };
    if (p.endsWith('/')) return { kind: 'unix', path: path.posix.normalize(p), directory: true };
    return { kind: 'unix', path: path.posix.normalize(p), directory: false };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(pattern)) throw new Error('write a target pattern as host:port (no scheme); http(s) targets are matched by their host and port');

  let rawHost: string;
  let rawPort: string;
  let family: 'v6' | 'name' | 'any' = 'name';
  const bracket = /^\[([^\]]*)\]:(.*)$/.exec(pattern);
  if (bracket) {
    rawHost = bracket[1]!;
    rawPort = bracket[2]!;
    family = 'v6';
    if (rawHost !== '*') {
      if (rawHost.includes('*')) throw new Error('an IPv6 pattern is an exact address or "*"');
      const checked = checkHost(rawHost);
      if (checked.error !== undefined || !rawHost.includes(':')) throw new Error(`"${rawHost}" is not an IPv6 address`);
      rawHost = checked.host;
    }
  } else {
    const colon = pattern.lastIndexOf(':');
    if (colon === -1) throw new Error('expected host:port (e.g. "127.0.0.1:*", "db.lan:5432", "[::1]:*") or "unix:*"');
    rawHost = pattern.slice(0, colon);
    rawPort = pattern.slice(colon + 1);
    if (rawHost.includes(':')) throw new Error('write IPv6 addresses in brackets, e.g. "[::1]:*"');
    if (rawHost === '') throw new Error('the host is empty (use "*" for any host)');
    if (rawHost === '*') {
      family = 'any';
    } else if (rawHost.includes('*')) {
      if (!/^[A-Za-z0-9.*_-]+$/.test(rawHost)) throw new Error(`"${rawHost}" is not a host name pattern`);
      rawHost = rawHost.toLowerCase();
    } else {
      const checked = checkHost(rawHost);
      if (checked.error !== undefined) throw new Error(checked.error);
      rawHost = checked.host;
    }
  }
  let portMin: number;
  let portMax: number;
  const range = /^(\d{1,5})-(\d{1,5})$/.exec(rawPort);
  if (rawPort === '*') {
    portMin = 1;
    portMax = 65535;
  } else if (/^\d{1,5}$/.test(rawPort)) {
    portMin = portMax = Number(rawPort);
  } else if (range) {
    portMin = Number(range[1]);
    portMax = Number(range[2]);
    if (portMin > portMax) throw new Error(`port range ${rawPort} is reversed`);
  } else {
    throw new Error(`port "${rawPort}" must be a number, a range like 8000-8999, or "*"`);
  }
  if (portMin < 1 || portMax > 65535) throw new Error(`port ${rawPort} is out of range (1-65535)`);
  return { kind: 'host', family, host: globToRegExp(rawHost, 'i'), portMin, portMax };
}

function matches(pattern: TargetPattern, target: ParsedTarget): boolean {
  if (target.kind === 'unix') {
    if (pattern.kind !== 'unix') return false;
    // "unix:/run/app/../../etc/x" never matches a listed path: the kernel resolves ".." through
    // symlinks, so a lexical match could be fooled. Repeated slashes are normalised away.
    if (target.path.split('/').some((seg) => seg === '.' || seg === '..')) return pattern.path instanceof RegExp && pattern.path.source === '^[^]*$';
    const wanted = normalizeSocketPath(target.path);
    if (typeof pattern.path !== 'string') return pattern.path.test(wanted);
    return pattern.directory ? wanted.startsWith(pattern.path) && wanted.length > pattern.path.length : wanted === pattern.path;
  }
  if (pattern.kind !== 'host') return false;
  if (target.port < pattern.portMin || target.port > pattern.portMax) return false;
  if (pattern.family !== 'any' && (pattern.family === 'v6') !== target.host.includes(':')) return false;
  return pattern.host.test(target.host);
}

/** An absolute socket path with "."/".." and repeated slashes resolved (no trailing slash). */
export function normalizeSocketPath(socketPath: string): string {
  return path.posix.resolve('/', socketPath);
}

/**
 * The budget: at most policy.maxSessions sessions and policy.maxForwardsPerSession forwards
 * (remote + local + dynamic, as asked, before any is refused) per session. Every overrun,
 * naming its path; [] when within budget.
 */
export function checkBudget(sessions: ReadonlyArray<{ id: string; forwards?: unknown[]; localForwards?: unknown[]; dynamicForwards?: unknown[] }>, policy: Pick<Policy, 'maxSessions' | 'maxForwardsPerSession'>, at = 'sessions'): string[] {
  const maxSessions = policy.maxSessions ?? DEFAULT_MAX_SESSIONS;
  const maxForwards = policy.maxForwardsPerSession ?? DEFAULT_MAX_FORWARDS_PER_SESSION;
  const errors: string[] = [];
  if (sessions.length > maxSessions) {
    errors.push(`${at}: ${sessions.length} sessions exceed the local policy.maxSessions ${maxSessions} (each session is a worker thread); raise policy.maxSessions in the local config to allow more`);
  }
  sessions.forEach((s, i) => {
    const count = (s.forwards?.length ?? 0) + (s.localForwards?.length ?? 0) + (s.dynamicForwards?.length ?? 0);
    if (count > maxForwards) {
      errors.push(`${at}[${i}] (${s.id}): ${count} forwards (forwards + localForwards + dynamicForwards) exceed the local policy.maxForwardsPerSession ${maxForwards}; raise it in the local config to allow more`);
    }
  });
  return errors;
}

/**
 * Reason the target is outside policy, or undefined when allowed (or when it does not parse: that
 * is reported elsewhere). Validation passes the target it already parsed, so it is parsed once.
 */
export function checkTargetPolicy(target: string | ParsedTarget, policy: Pick<Policy, 'allowedTargets'>): string | undefined {
  let parsed: ParsedTarget;
  try {
    parsed = typeof target === 'string' ? parseTargetUrl(target, 'target') : target;
  } catch {
    return undefined;
  }
  const patterns = policy.allowedTargets ?? [];
  for (const p of patterns) {
    let pattern: TargetPattern;
    try {
      pattern = parseTargetPattern(p);
    } catch {
      continue; // an invalid pattern allows nothing; it is reported as policy.allowedTargets[i]
    }
    if (matches(pattern, parsed)) return undefined;
  }
  const what = parsed.kind === 'unix' ? `unix:${parsed.path}` : `${formatHost(parsed.host)}:${parsed.port}`;
  return `target ${parsed.url} (${what}) is not allowed by the local policy.allowedTargets ${JSON.stringify(patterns)}; ` +
    'add a matching pattern to policy.allowedTargets in the local config to allow it';
}

function normalizeBind(bind: string): string {
  if (bind === '' || bind === '*') return bind;
  if (bind.includes(':')) {
    const checked = checkHost(bind.replace(/^\[(.*)\]$/, '$1'));
    return checked.host ?? bind.toLowerCase();
  }
  return bind.toLowerCase();
}

/** Reason the bind address is outside policy, or undefined when allowed. */
export function checkBindPolicy(bind: string, policy: Pick<Policy, 'allowedBindAddresses'>): string | undefined {
  const allowed = policy.allowedBindAddresses ?? [];
  const wanted = normalizeBind(bind);
  if (allowed.some((a) => a === '*' || (typeof a === 'string' && normalizeBind(a) === wanted))) return undefined;
  const shown = bind === '' ? '"" (all interfaces)' : JSON.stringify(bind);
  return `bind address ${shown} is not allowed by the local policy.allowedBindAddresses ${JSON.stringify(allowed)}; ` +
    'add it to policy.allowedBindAddresses in the local config to allow it';
}

/** Reason a local/dynamic forward's device bind address is outside policy, or undefined when allowed. */
export function checkLocalBindPolicy(bind: string, policy: Pick<Policy, 'allowedLocalBindAddresses'>): string | undefined {
  const allowed = policy.allowedLocalBindAddresses ?? DEFAULT_ALLOWED_LOCAL_BIND_ADDRESSES;
  const wanted = normalizeBind(bind);
  if (allowed.some((a) => a === '*' || (typeof a === 'string' && normalizeBind(a) === wanted))) return undefined;
  const shown = bind === '' || bind === '*' ? '"" (all interfaces)' : JSON.stringify(bind);
  return `device bind address ${shown} is not allowed by the local policy.allowedLocalBindAddresses ${JSON.stringify(allowed)}; ` +
    'add it to policy.allowedLocalBindAddresses in the local config to allow it';
}

/** Reason a remote socket path is outside policy.allowedRemoteSockets, or undefined when allowed. */
export function checkRemoteSocketPolicy(socketPath: string, policy: Pick<Policy, 'allowedRemoteSockets'>): string | undefined {
  const allowed = policy.allowedRemoteSockets ?? DEFAULT_ALLOWED_REMOTE_SOCKETS;
  if (allowed.some((glob) => typeof glob === 'string' && globToRegExp(glob).test(socketPath))) return undefined;
  return `remote socket ${JSON.stringify(socketPath)} is not allowed by the local policy.allowedRemoteSockets ${JSON.stringify(allowed)}; ` +
    'add a matching pattern (e.g. "/run/edge/*.sock") to policy.allowedRemoteSockets in the local config to allow it';
}

/**
 * Checks one forward against the local policy: its target (host:port, or unix path) against
 * `allowedTargets`, its bind address against `allowedBindAddresses` (or its remote socket path
 * against `allowedRemoteSockets`). Returns the reason(s) it is refused, or undefined when it is
 * allowed. A missing bind means the default, "localhost".
 */
export function checkPolicy(forward: { bind?: string; target?: string; remoteSocket?: string }, policy: Policy): string | undefined {
  const problems: string[] = [];
  if (typeof forward.target === 'string') {
    const t = checkTargetPolicy(forward.target, policy);
    if (t) problems.push(t);
  }
  const b = typeof forward.remoteSocket === 'string'
    ? checkRemoteSocketPolicy(forward.remoteSocket, policy)
    : checkBindPolicy(forward.bind ?? FORWARD_BIND_DEFAULT, policy);
  if (b) problems.push(b);
  return problems.length ? problems.join('; ') : undefined;
}

/** Every problem with the policy's own entries, each naming its key. */
export function validatePolicy(policy: unknown, key = 'policy'): string[] {
  const errors: string[] = [];
  if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) return [`${key}: must be an object`];
  const p = policy as Record<string, unknown>;
  const targets = p.allowedTargets;
  if (Array.isArray(targets)) {
    targets.forEach((t, i) => {
      try {
        parseTargetPattern(t as string);
      } catch (err) {
        errors.push(`${key}.allowedTargets[${i}]: invalid pattern ${JSON.stringify(t)}: ${(err as Error).message}`);
      }
    });
  }
  for (const name of ['allowedBindAddresses', 'allowedLocalBindAddresses', 'allowedRemoteSockets'] as const) {
    const binds = p[name];
    if (!Array.isArray(binds)) continue;
    binds.forEach((b, i) => {
      if (typeof b !== 'string') errors.push(`${key}.${name}[${i}]: must be a string`);
      else if (/[\s\x00-\x1f\x7f]/.test(b)) errors.push(`${key}.${name}[${i}]: ${JSON.stringify(b)} contains whitespace or control characters`);
    });
  }
  return errors;
}
