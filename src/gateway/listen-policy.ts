// Which bind address and port a client may ask the gateway to listen on (tcpip-forward).
//
// Policy: a key's permitlisten="…" entries (authorized_keys) decide; a key without any gets
// the default — loopback binds only ("localhost", "127.0.0.1", "::1") on ports above 1024
// (port 0 = the gateway picks, always above 1024). Password logins get the default too.
// `restrict` / `no-port-forwarding` keys may not forward at all (see authorized-keys.ts).
//
// What each bind address means, and which sockets it takes, is src/grammar/bind.ts. Host names
// other than "localhost" are refused (nothing is resolved).
import { LOOPBACK_BINDS } from '../grammar/bind.js';
import { opensshMatch } from '../grammar/patterns.js';
import type { KeyOptions, ListenPermission } from './authorized-keys.js';

export interface ListenRequest {
  /** Bind address exactly as the client sent it. */
  bind: string;
  /** Requested port; 0 = the gateway picks. */
  port: number;
}

export type PolicyDecision = { allowed: true } | { allowed: false; reason: string };

/** The default for keys without permitlisten: loopback binds, ports above 1024 (or 0). */
export function defaultListenAllowed(req: ListenRequest): boolean {
  return LOOPBACK_BINDS.includes(req.bind.toLowerCase()) && (req.port === 0 || req.port > 1024);
}

/** sshd's remote_open_match: port equal (or `*`), host pattern matches the requested bind. */
export function permitListenMatches(perm: ListenPermission, req: ListenRequest): boolean {
  if (perm.port !== '*' && perm.port !== req.port) return false;
  return opensshMatch(req.bind.toLowerCase(), perm.host);
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
