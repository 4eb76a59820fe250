// Bind addresses: what each form means and which sockets it takes. One reading for the -R/-L/-D
// specs, the local policy (allowedBindAddresses), the agent's bind check and the built-in
// gateway's listeners.
//
//   ""  (or "*")   every address family: one socket on "::" with IPv6-only off (falls back to
//                  0.0.0.0 on hosts without IPv6)
//   "0.0.0.0"      every IPv4 address        "::"   every IPv6 address (IPv6 only)
//   "localhost"    loopback in every family: 127.0.0.1 and ::1 on the same port
//   "127.0.0.1", "::1", or any other IP literal: that address only
// A spec writes "all interfaces" as an empty field or "*" and both become "".
import { ipFamily, isIPv4, isIPv6 } from './ip-address.js';
import { checkHost } from './host-name.js';

/** The loopback binds: the default of every policy that decides where a forward may listen. */
export const LOOPBACK_BINDS: readonly string[] = ['localhost', '127.0.0.1', '::1'];

const WILDCARD_BINDS = new Set(['', '*', '0.0.0.0', '::']);

/** Does `bind` listen on every interface of a family ("", "*", "0.0.0.0", "::")? */
export function isWildcardBind(bind: string): boolean {
  return WILDCARD_BINDS.has(bind);
}

/**
 * The bind field of a -R/-L/-D spec (brackets already removed): "" or "*" → "" (all
 * interfaces), anything else is kept as given once it is a valid host. Returns the reason when not.
 */
export function parseBindField(field: string): { bind: string; error?: undefined } | { bind?: undefined; error: string } {
  if (field === '' || field === '*') return { bind: '' };
  const checked = checkHost(field);
  if (checked.error !== undefined) return { error: `bind address: ${checked.error}` };
  return { bind: field };
}

/** A bind address in the form policy lists are compared in: lower case, IPv6 compressed and unbracketed; "" and "*" as they are. */
export function canonicalBind(bind: string): string {
  if (bind === '' || bind === '*') return bind;
  if (bind.includes(':')) return checkHost(bind.replace(/^\[(.*)\]$/, '$1')).host ?? bind.toLowerCase();
  return bind.toLowerCase();
}

/** Is `bind` one of `allowed` (a policy list: exact binds compared canonically, "*" = any)? */
export function bindListed(bind: string, allowed: readonly unknown[]): boolean {
  const wanted = canonicalBind(bind);
  return allowed.some((a) => a === '*' || (typeof a === 'string' && canonicalBind(a) === wanted));
}

/** 'localhost', 127.0.0.0/8, ::1 (and ::ffff:127.x): addresses only this device can reach. */
export function isLoopbackBind(bind: string): boolean {
  const b = bind.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (b === 'localhost') return true;
  if (isIPv4(b)) return b.startsWith('127.');
  if (isIPv6(b)) {
    const normalized = checkHost(b).host;
    return normalized === '::1' || /^::ffff:127\./.test(b) || /^::ffff:7f[0-9a-f]{2}:/.test(normalized ?? '');
  }
  return false;
}

export interface ListenSocketSpec {
  host: string;
  ipv6Only?: boolean;
  /** Used instead when `host` cannot be bound for lack of that address family. */
  fallbackHost?: string;
  /** Skipped (not an error) when the address family is missing on this host. */
  optional?: boolean;
}

/** The sockets one bind address needs, or undefined when the address is not supported (host names other than "localhost"). */
export function bindSockets(bind: string): ListenSocketSpec[] | undefined {
  const b = bind.toLowerCase();
  if (b === '' || b === '*') return [{ host: '::', ipv6Only: false, fallbackHost: '0.0.0.0' }];
  if (b === 'localhost') return [{ host: '127.0.0.1' }, { host: '::1', optional: true }];
  const family = ipFamily(b);
  if (family === 4) return [{ host: b }];
  if (family === 6) return [{ host: b, ipv6Only: true }];
  return undefined;
}

/** Addresses a bind covers, for overlap checks: 'v4any', 'v6any' or literal addresses. */
export function bindCoverage(bind: string): string[] {
  const b = bind.toLowerCase();
  if (b === '' || b === '*') return ['v4any', 'v6any'];
  if (b === '0.0.0.0') return ['v4any'];
  if (b === '::') return ['v6any'];
  if (b === 'localhost') return [canonicalAddress('127.0.0.1'), canonicalAddress('::1')];
  return ipFamily(b) ? [canonicalAddress(b)] : [b];
}

/** An IP literal in its canonical text form ([::0001] → ::1). */
function canonicalAddress(address: string): string {
  return ipFamily(address) === 6 ? (checkHost(address).host ?? address) : address;
}

/** Would listeners on these two binds (same port) collide? */
export function bindsOverlap(a: string, b: string): boolean {
  const ca = bindCoverage(a);
  const cb = bindCoverage(b);
  const fam = (x: string) => (x === 'v4any' ? 4 : x === 'v6any' ? 6 : ipFamily(x));
  for (const x of ca) {
    for (const y of cb) {
      if (x === y) return true;
      if (x === 'v4any' && fam(y) === 4) return true;
      if (y === 'v4any' && fam(x) === 4) return true;
      if (x === 'v6any' && fam(y) === 6) return true;
      if (y === 'v6any' && fam(x) === 6) return true;
    }
  }
  return false;
}

/** The device's own listeners (-L/-D): bindSockets, brackets removed, and a host name listened on as Node resolves it. */
export function deviceBindSockets(bind: string): ListenSocketSpec[] {
  const b = bind.replace(/^\[(.*)\]$/, '$1');
  return bindSockets(b) ?? [{ host: b }];
}
