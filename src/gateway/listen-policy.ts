// Which bind address and port a client may ask the gateway to listen on (tcpip-forward), and
// what each bind address means on this host.
//
// Policy: a key's permitlisten="…" entries (authorized_keys) decide; a key without any gets
// the default — loopback binds only ("localhost", "127.0.0.1", "::1") on ports above 1024
// (port 0 = the gateway picks, always above 1024). Password logins get the default too.
// `restrict` / `no-port-forwarding` keys may not forward at all (see authorized-keys.ts).
//
// Bind address semantics (the seed's RequestForwarding address forms):
//   ""  (or "*")   every address family: one socket on "::" with IPv6-only off (falls back to
//                  0.0.0.0 on hosts without IPv6)
//   "0.0.0.0"      every IPv4 address        "::"   every IPv6 address (IPv6 only)
//   "localhost"    loopback in every family: 127.0.0.1 and ::1 on the same port
//   "127.0.0.1", "::1", or any other IP literal: that address only
// Host names other than "localhost" are refused (nothing is resolved).
import net from 'node:net';
import { matchPattern, type KeyOptions, type ListenPermission } from './authorized-keys.js';

export interface ListenRequest {
  /** Bind address exactly as the client sent it. */
  bind: string;
  /** Requested port; 0 = the gateway picks. */
  port: number;
}

export type PolicyDecision = { allowed: true } | { allowed: false; reason: string };

export const DEFAULT_LISTEN_BINDS: readonly string[] = ['localhost', '127.0.0.1', '::1'];

/** The default for keys without permitlisten: loopback binds, ports above 1024 (or 0). */
export function defaultListenAllowed(req: ListenRequest): boolean {
  return DEFAULT_LISTEN_BINDS.includes(req.bind.toLowerCase()) && (req.port === 0 || req.port > 1024);
}

/** sshd's remote_open_match: port equal (or `*`), host pattern matches the requested bind. */
export function permitListenMatches(perm: ListenPermission, req: ListenRequest): boolean {
  if (perm.port !== '*' && perm.port !== req.port) return false;
  return matchPattern(req.bind.toLowerCase(), perm.host);
}

/**
 * May this login listen on req.bind:req.port? `options` is the matched key's options, or
 * undefined for a login without a key (password): the default policy.
 */
export function checkListenPolicy(options: KeyOptions | undefined, req: ListenRequest): PolicyDecision {
  const where = `${req.bind === '' ? '""' : req.bind}:${req.port}`;
  if (options && !options.remoteForwarding) {
    return { allowed: false, reason: `port forwarding is disabled for this key (${options.restrict ? 'restrict' : 'no-port-forwarding'} in authorized_keys)` };
  }
  if (options && options.permitListen.length > 0) {
    if (options.permitListen.some((p) => permitListenMatches(p, req))) return { allowed: true };
    const list = options.permitListen.map((p) => `${p.host.includes(':') ? `[${p.host}]` : p.host}:${p.port}`).join(', ');
    return { allowed: false, reason: `${where} is not in this key's permitlisten (${list})` };
  }
  if (defaultListenAllowed(req)) return { allowed: true };
  return { allowed: false, reason: `${where} is outside the default policy (loopback binds localhost/127.0.0.1/::1 on ports above 1024, or 0; add permitlisten="host:port" to the key to allow more)` };
}

// ------------------------------------------------------------------ bind address semantics

export interface ListenSocketSpec {
  host: string;
  ipv6Only?: boolean;
  /** Used instead when `host` cannot be bound for lack of that address family. */
  fallbackHost?: string;
  /** Skipped (not an error) when the address family is missing on this host. */
  optional?: boolean;
}

/** The sockets one bind address needs, or undefined when the address is not supported. */
export function bindSockets(bind: string): ListenSocketSpec[] | undefined {
  const b = bind.toLowerCase();
  if (b === '' || b === '*') return [{ host: '::', ipv6Only: false, fallbackHost: '0.0.0.0' }];
  if (b === 'localhost') return [{ host: '127.0.0.1' }, { host: '::1', optional: true }];
  const family = net.isIP(b);
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
  if (b === 'localhost') return [canonical('127.0.0.1'), canonical('::1')];
  return net.isIP(b) ? [canonical(b)] : [b];
}

function canonical(address: string): string {
  const family = net.isIP(address);
  if (family !== 6) return address;
  // Expand to the canonical text form via the URL parser ([::0001] → [::1]).
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address;
  }
}

/** Would listeners on these two binds (same port) collide? */
export function bindsOverlap(a: string, b: string): boolean {
  const ca = bindCoverage(a);
  const cb = bindCoverage(b);
  const fam = (x: string) => (x === 'v4any' ? 4 : x === 'v6any' ? 6 : net.isIP(x));
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
