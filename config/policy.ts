// The local policy: which targets and bind addresses any session may use. It is read only from
// the local config file/env; an assignment document has no way to carry or widen it (its JSON
// Schema has no such key). The control plane can therefore never turn a device into an open
// proxy into its LAN: every assigned forward is checked here before it runs.
//
// allowedTargets patterns: src/grammar/target-patterns.ts (host:port with `*` globs and port
// ranges, [v6]:port, unix: paths, directories and globs).
// allowedBindAddresses: exact addresses ("localhost", "127.0.0.1", "::1", "0.0.0.0", "::",
// "" for all interfaces), or "*" for any.
// allowedLocalBindAddresses: the same, for listeners ON THE DEVICE (localForwards,
// dynamicForwards). Default loopback only, so no document can expose the SSH host's network to
// the device's LAN: a relay needs the device owner's entry here AND the forward's allowRelay.
import { bindListed, LOOPBACK_BINDS } from '../src/grammar/bind.js';
import { formatHost } from '../src/grammar/host-name.js';
import { globToRegExp } from '../src/grammar/patterns.js';
import { parseTargetPattern, targetPatternMatches, type TargetPattern } from '../src/grammar/target-patterns.js';
import { parseTargetUrl, type ParsedTarget } from '../src/grammar/targets.js';
import type { Policy } from './types.js';
import { ASSIGNMENT_SCHEMA, FORWARD_BIND_DEFAULT } from './session-schema.js';
import { validateFilePatterns } from './document-policy.js';
import { validateSshHostPatterns } from './ssh-host-policy.js';

/** The pattern grammar lives in src/grammar/target-patterns.ts; re-exported for the config validators. */
export { parseTargetPattern };

export const DEFAULT_ALLOWED_TARGETS = ['127.0.0.1:*', 'localhost:*', '[::1]:*'];
/** Default budget: what a document may size (each session is a worker thread with its own heap). */
export const DEFAULT_MAX_SESSIONS = 4;
export const DEFAULT_MAX_FORWARDS_PER_SESSION = 64;
/** Upper bound of policy.maxSessions: the supervisor's worker pool size (worker-pool.ts MAX_SESSIONS). */
export const MAX_SESSIONS_LIMIT = 64;
/**
 * Upper bound of policy.maxChannelsPerForward: the schema's own maximum of a forward's
 * maxChannels. It is also the default, so the ceiling changes nothing until an operator lowers it.
 */
export const MAX_CHANNELS_PER_FORWARD_LIMIT: number = ASSIGNMENT_SCHEMA.$defs.forward.properties.maxChannels.maximum;
export const DEFAULT_MAX_CHANNELS_PER_FORWARD = MAX_CHANNELS_PER_FORWARD_LIMIT;
/** The three lists of a session whose entries have a maxChannels. */
const FORWARD_LISTS = ['forwards', 'localForwards', 'dynamicForwards'] as const;
export const DEFAULT_ALLOWED_BIND_ADDRESSES = [...LOOPBACK_BINDS];
export const DEFAULT_ALLOWED_LOCAL_BIND_ADDRESSES = [...LOOPBACK_BINDS];
/** Any path: a remote socket is on the SSH host (only its local users reach it) and its sshd bounds where it may be made. */
export const DEFAULT_ALLOWED_REMOTE_SOCKETS = ['*'];

type BudgetSession = { id: string; forwards?: unknown[]; localForwards?: unknown[]; dynamicForwards?: unknown[] };
const maxChannelsOf = (f: unknown): unknown => (f !== null && typeof f === 'object' ? (f as { maxChannels?: unknown }).maxChannels : undefined);

/**
 * The budget: at most policy.maxSessions sessions, policy.maxForwardsPerSession forwards
 * (remote + local + dynamic, as asked, before any is refused) per session, and no forward
 * asking for more than policy.maxChannelsPerForward channels. Every overrun, naming its path;
 * [] when within budget. Given the raw document, a maxChannels seen here was written in it;
 * given parsed sessions, an omitted one already got the ceiling (channelCeilingDefaults).
 */
export function checkBudget(sessions: ReadonlyArray<BudgetSession>, policy: Pick<Policy, 'maxSessions' | 'maxForwardsPerSession' | 'maxChannelsPerForward'>, at = 'sessions'): string[] {
  const maxSessions = policy.maxSessions ?? DEFAULT_MAX_SESSIONS;
  const maxForwards = policy.maxForwardsPerSession ?? DEFAULT_MAX_FORWARDS_PER_SESSION;
  const maxChannels = policy.maxChannelsPerForward ?? DEFAULT_MAX_CHANNELS_PER_FORWARD;
  const errors: string[] = [];
  if (sessions.length > maxSessions) {
    errors.push(`${at}: ${sessions.length} sessions exceed the local policy.maxSessions ${maxSessions} (each session is a worker thread); raise policy.maxSessions in the local config to allow more`);
  }
  sessions.forEach((s, i) => {
    const count = (s.forwards?.length ?? 0) + (s.localForwards?.length ?? 0) + (s.dynamicForwards?.length ?? 0);
    if (count > maxForwards) {
      errors.push(`${at}[${i}] (${s.id}): ${count} forwards (forwards + localForwards + dynamicForwards) exceed the local policy.maxForwardsPerSession ${maxForwards}; raise it in the local config to allow more`);
    }
    for (const list of FORWARD_LISTS) {
      s[list]?.forEach((f, j) => {
        const asked = maxChannelsOf(f);
        if (typeof asked !== 'number' || asked <= maxChannels) return;
        const id = (f as { id?: unknown }).id;
        errors.push(`${at}[${i}].${list}[${j}].maxChannels (${s.id}/${typeof id === 'string' ? id : '?'}): ${asked} exceeds the local policy.maxChannelsPerForward ${maxChannels} (each open channel holds buffers); ` +
          'ask for fewer, or leave maxChannels out to get the ceiling, or raise policy.maxChannelsPerForward in the local config');
      });
    }
  });
  return errors;
}

/**
 * `filled` (a session with its schema defaults, config/schema-defaults.ts) with every forward
 * that did not write maxChannels in `raw` lowered to policy.maxChannelsPerForward: a lower
 * ceiling is then the default, so documents that never mention maxChannels keep applying. A
 * value written above the ceiling is left as it is, for checkBudget to reject.
 */
export function channelCeilingDefaults(raw: unknown, filled: unknown, policy: Pick<Policy, 'maxChannelsPerForward'> | undefined): unknown {
  const ceiling = policy?.maxChannelsPerForward ?? DEFAULT_MAX_CHANNELS_PER_FORWARD;
  if (raw === null || typeof raw !== 'object' || filled === null || typeof filled !== 'object') return filled;
  for (const list of FORWARD_LISTS) {
    const asked = (raw as Record<string, unknown>)[list];
    const entries = (filled as Record<string, unknown>)[list];
    if (!Array.isArray(asked) || !Array.isArray(entries)) continue;
    entries.forEach((f, j) => {
      const value = maxChannelsOf(f);
      if (maxChannelsOf(asked[j]) === undefined && typeof value === 'number' && value > ceiling) (f as { maxChannels: number }).maxChannels = ceiling;
    });
  }
  return filled;
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
    if (targetPatternMatches(pattern, parsed)) return undefined;
  }
  const what = parsed.kind === 'unix' ? `unix:${parsed.path}` : `${formatHost(parsed.host)}:${parsed.port}`;
  return `target ${parsed.url} (${what}) is not allowed by the local policy.allowedTargets ${JSON.stringify(patterns)}; ` +
    'add a matching pattern to policy.allowedTargets in the local config to allow it';
}

/** Reason the bind address is outside policy, or undefined when allowed. */
export function checkBindPolicy(bind: string, policy: Pick<Policy, 'allowedBindAddresses'>): string | undefined {
  const allowed = policy.allowedBindAddresses ?? [];
  if (bindListed(bind, allowed)) return undefined;
  const shown = bind === '' ? '"" (all interfaces)' : JSON.stringify(bind);
  return `bind address ${shown} is not allowed by the local policy.allowedBindAddresses ${JSON.stringify(allowed)}; ` +
    'add it to policy.allowedBindAddresses in the local config to allow it';
}

/** Reason a local/dynamic forward's device bind address is outside policy, or undefined when allowed. */
export function checkLocalBindPolicy(bind: string, policy: Pick<Policy, 'allowedLocalBindAddresses'>): string | undefined {
  const allowed = policy.allowedLocalBindAddresses ?? DEFAULT_ALLOWED_LOCAL_BIND_ADDRESSES;
  if (bindListed(bind, allowed)) return undefined;
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
  errors.push(...validateFilePatterns(p, key), ...validateSshHostPatterns(p, key));
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
