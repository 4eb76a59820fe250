// policy.allowedTargets patterns: which targets (src/grammar/targets.ts) a forward may carry to.
//
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
import path from 'node:path';
import { checkHost } from './host-name.js';
import { globToRegExp, hostNameGlob, parsePortRange, splitHostPortPattern } from './patterns.js';
import type { ParsedTarget } from './targets.js';

export type TargetPattern =
  | { kind: 'unix'; path: RegExp | string; directory: boolean }
  | { kind: 'host'; family: 'v6' | 'name' | 'any'; host: RegExp; portMin: number; portMax: number };

/** Parsed patterns by text (policy checks run per forward); bounded: cleared when it is full. */
const cache = new Map<string, TargetPattern>();
const CACHE_MAX = 1024;

/** Parses one allowedTargets entry; throws an Error whose message is the reason. */
export function parseTargetPattern(pattern: string): TargetPattern {
  const hit = typeof pattern === 'string' ? cache.get(pattern) : undefined;
  if (hit) return hit;
  const parsed = parsePattern(pattern);
  if (cache.size >= CACHE_MAX) cache.clear();
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

  const split = splitHostPortPattern(pattern, '"127.0.0.1:*", "db.lan:5432", "[::1]:*") or "unix:*"', '[::1]:*');
  let rawHost = split.host;
  let family: 'v6' | 'name' | 'any' = 'name';
  if (split.bracketed) {
    family = 'v6';
    if (rawHost !== '*') {
      if (rawHost.includes('*')) throw new Error('an IPv6 pattern is an exact address or "*"');
      const checked = checkHost(rawHost);
      if (checked.error !== undefined || !rawHost.includes(':')) throw new Error(`"${rawHost}" is not an IPv6 address`);
      rawHost = checked.host;
    }
  } else if (rawHost === '*') {
    family = 'any';
  } else if (rawHost.includes('*')) {
    return { kind: 'host', family, host: hostNameGlob(rawHost, 'i'), ...parsePortRange(split.port) };
  } else {
    const checked = checkHost(rawHost);
    if (checked.error !== undefined) throw new Error(checked.error);
    rawHost = checked.host;
  }
  return { kind: 'host', family, host: globToRegExp(rawHost, 'i'), ...parsePortRange(split.port) };
}

/** Does `pattern` allow `target`? */
export function targetPatternMatches(pattern: TargetPattern, target: ParsedTarget): boolean {
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

