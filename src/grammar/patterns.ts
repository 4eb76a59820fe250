// Pattern primitives every allow-list is built from: globs, OpenSSH patterns, CIDR ranges, and
// the `host:port` pattern shape (policy.allowedTargets, allowedDestinations).
//
// Two glob dialects, kept apart on purpose:
//   globToRegExp   the agent's own config patterns (allowedTargets hosts and unix paths,
//                  allowedRemoteSockets, allowedDestinations names): `*` is the only wildcard
//                  (any run, '/' included); '?' is a literal character.
//   opensshMatch   OpenSSH's match_pattern (match.c), for files OpenSSH also reads
//                  (authorized_keys from=/permitlisten=, known_hosts): `*` any run and `?` one
//                  character, as sshd/ssh read the same file.
import { BlockList } from 'node:net';
import { ipFamily } from './ip-address.js';

/** A config glob as an anchored RegExp: `*` matches any run of characters; everything else is literal. */
export function globToRegExp(glob: string, flags = ''): RegExp {
  const body = glob.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^]*');
  return new RegExp(`^${body}$`, flags);
}

/** OpenSSH's match_pattern: whole-string, case-sensitive; `*` matches any run (including empty), `?` one character. */
export function opensshMatch(s: string, pattern: string): boolean {
  let si = 0;
  let pi = 0;
  let starP = -1;
  let starS = 0;
  while (si < s.length) {
    if (pi < pattern.length && (pattern[pi] === '?' || pattern[pi] === s[si])) {
      si++;
      pi++;
    } else if (pi < pattern.length && pattern[pi] === '*') {
      starP = pi++;
      starS = si;
    } else if (starP >= 0) {
      // Backtrack: let the last `*` swallow one more character (linear per star, no RegExp blow-up).
      pi = starP + 1;
      si = ++starS;
    } else return false;
  }
  while (pattern[pi] === '*') pi++;
  return pi === pattern.length;
}

// ------------------------------------------------------------------ CIDR

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/**
 * `address` or `address/prefix` (prefix 1-3 decimal digits, at most 32 or 128); undefined when
 * it is not one. `family` restricts the address family.
 */
export function parseCidr(text: string, family?: 4 | 6): Cidr | undefined {
  const parts = text.split('/');
  if (parts.length > 2) return undefined;
  const [address = '', prefixText] = parts;
  const found = ipFamily(address);
  if (found === 0 || (family !== undefined && found !== family)) return undefined;
  const max = found === 6 ? 128 : 32;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return undefined;
  return { address, prefix, family: found === 6 ? 'ipv6' : 'ipv4' };
}

/** A set of address ranges. `has` is false for anything that is not an IP literal. */
export class AddressRanges {
  private readonly list = new BlockList();

  constructor(ranges: Iterable<Cidr> = []) {
    for (const r of ranges) this.add(r);
  }

  add(range: Cidr): void {
    this.list.addSubnet(range.address, range.prefix, range.family);
  }

  has(address: string): boolean {
    const family = ipFamily(address);
    return family !== 0 && this.list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }
}

/** Is `address` (an IP literal) inside `range`? */
export function cidrContains(range: Cidr, address: string): boolean {
  return new AddressRanges([range]).has(address);
}

// ------------------------------------------------------------------ host:port patterns

export interface HostPortPattern {
  /** The host part, brackets removed. */
  host: string;
  /** The port part as written. */
  port: string;
  /** The host was written in brackets (an IPv6 pattern). */
  bracketed: boolean;
}

/**
 * Splits a `host:port` / `[v6]:port` pattern; throws an Error whose message is the reason.
 * `examples` completes "expected host:port (e.g. …)", `v6Example` the bracket hint.
 */
export function splitHostPortPattern(pattern: string, examples: string, v6Example: string): HostPortPattern {
  if (typeof pattern !== 'string') throw new Error('a pattern must be a string');
  if (pattern === '') throw new Error('the pattern is empty');
  if (/[\s\x00-\x1f\x7f]/.test(pattern)) throw new Error('the pattern contains whitespace or control characters');
  const bracket = /^\[([^\]]*)\]:(.*)$/.exec(pattern);
  if (bracket) return { host: bracket[1]!, port: bracket[2]!, bracketed: true };
  const colon = pattern.lastIndexOf(':');
  if (colon === -1) throw new Error(`expected host:port (e.g. ${examples})`);
  const host = pattern.slice(0, colon);
  if (host.includes(':')) throw new Error(`write IPv6 addresses in brackets, e.g. "${v6Example}"`);
  if (host === '') throw new Error('the host is empty (use "*" for any host)');
  return { host, port: pattern.slice(colon + 1), bracketed: false };
}

/** A port pattern: "*", a number, or a range "8000-8999", within 1-65535. Throws an Error whose message is the reason. */
export function parsePortRange(raw: string): { portMin: number; portMax: number } {
  let portMin: number;
  let portMax: number;
  const range = /^(\d{1,5})-(\d{1,5})$/.exec(raw);
  if (raw === '*') [portMin, portMax] = [1, 65535];
  else if (/^\d{1,5}$/.test(raw)) portMin = portMax = Number(raw);
  else if (range) {
    [portMin, portMax] = [Number(range[1]), Number(range[2])];
    if (portMin > portMax) throw new Error(`port range ${raw} is reversed`);
  } else throw new Error(`port "${raw}" must be a number, a range like 8000-8999, or "*"`);
  if (portMin < 1 || portMax > 65535) throw new Error(`port ${raw} is out of range (1-65535)`);
  return { portMin, portMax };
}

/** A host name glob with `*` ("*.lan", "10.0.0.*"), matched case-insensitively as lower case. Throws when it has other characters. */
export function hostNameGlob(raw: string, flags = ''): RegExp {
  if (!/^[A-Za-z0-9.*_-]+$/.test(raw)) throw new Error(`"${raw}" is not a host name pattern`);
  return globToRegExp(raw.toLowerCase(), flags);
}
