// policy.allowedSshHosts: which SSH hosts an ASSIGNMENT DOCUMENT may point a session at. The
// document names a local credential and, with it, the host keys it trusts, so without this list
// it could send the device's credential (a passwordEnv password travels to the host) to a host
// of its choosing and offer that host every target in policy.allowedTargets. The config file's
// own sessions are not bound by it (the device owner wrote them).
//
// Every place a document names where the SSH connection goes (config/session-schema.ts):
//   sessions[].host (+ port, 22)       sessions[].hosts[] ("host[:port]", 22)
//   sessions[].proxy (a URL)           the proxy the connection passes through: the document also
//                                      picks the host keys, so a proxy it chose could answer as
//                                      the SSH host itself. "" and "env" (the device's own
//                                      HTTPS_PROXY / ALL_PROXY) are the device's choice.
// Not SSH hosts: localForwards[].host and dynamicForwards[].allowDestinations (reached FROM the
// SSH host), forwards[].target (policy.allowedTargets).
//
// Patterns: the allowDestinations grammar (src/grammar/destination-allow-list.ts) with the port
// optional — "gw.example.com", "*.gw.example.com:22", "10.0.0.0/8", "[2001:db8::1]:2222",
// "[2001:db8::/32]", "*" (any, the default). Names are matched as written, never resolved.
import { createDestinationAllowList, parseDestinationPattern } from '../src/grammar/destination-allow-list.js';
import { formatHost } from '../src/grammar/host-name.js';
import { parseProxyUrl } from '../src/grammar/proxy-url.js';
import { parseGatewayAddress } from '../src/session/gateway-list.js';
import { SESSION_PORT_DEFAULT } from './session-schema.js';
import type { Policy } from './types.js';

type Obj = Record<string, unknown>;

/** Any: documents have always chosen their gateways; narrow it to the fleet's gateways. */
export const DEFAULT_ALLOWED_SSH_HOSTS = ['*'];

/** A pattern without a port means any port: "gw" → "gw:*", "[::1]" → "[::1]:*". */
function withPort(pattern: string): string {
  return /^\[[^\]]*\]$/.test(pattern) || !pattern.includes(':') ? `${pattern}:*` : pattern;
}

/** Is `host` (a name or IP literal, brackets optional) on `port` allowed by the patterns? Invalid patterns allow nothing. */
export function sshHostAllowed(host: string, port: number, patterns: readonly string[]): boolean {
  if (patterns.includes('*')) return true;
  // As the connection will use it: `host` is resolved as written, so IPv4 shorthand ("0x7f.1") is a
  // name here and only a name pattern matches it; hosts[] and proxy hosts arrive normalised.
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  const valid = patterns.map(withPort).filter((p) => {
    try {
      parseDestinationPattern(p);
      return true;
    } catch {
      return false; // validatePolicy reports it
    }
  });
  return createDestinationAllowList(valid, 'policy.allowedSshHosts').allows(bare, port);
}

/** Problems with policy.allowedSshHosts, each naming its entry. */
export function validateSshHostPatterns(p: Obj, key: string): string[] {
  const list = p.allowedSshHosts;
  if (!Array.isArray(list)) return [];
  const errors: string[] = [];
  list.forEach((entry, i) => {
    if (entry === '*') return;
    try {
      if (typeof entry !== 'string') throw new Error('must be a string');
      parseDestinationPattern(withPort(entry));
    } catch (err) {
      errors.push(`${key}.allowedSshHosts[${i}]: invalid SSH host pattern ${JSON.stringify(entry)}: ${(err as Error).message} ` +
        '(a host or host:port: "gw.example.com", "*.gw.example.com:22", "10.0.0.0/8", "[2001:db8::1]:2222", "*")');
    }
  });
  return errors;
}

/** Every SSH host (and proxy) of one document session outside policy.allowedSshHosts, as `path: why`. */
export function sshHostErrors(s: Obj, at: string, policy: Policy): string[] {
  const allowed = policy.allowedSshHosts ?? DEFAULT_ALLOWED_SSH_HOSTS;
  if (allowed.includes('*')) return [];
  const named: Array<{ path: string; what: string; host: string; port: number; note?: string }> = [];
  if (typeof s.host === 'string' && s.host !== '') {
    named.push({ path: `${at}.host`, what: 'SSH host', host: s.host, port: typeof s.port === 'number' ? s.port : SESSION_PORT_DEFAULT });
  }
  if (Array.isArray(s.hosts)) {
    s.hosts.forEach((entry, k) => {
      try {
        const gw = parseGatewayAddress(entry as string);
        named.push({ path: `${at}.hosts[${k}]`, what: 'SSH host', ...gw });
      } catch {
        // reported by the gateway list checks
      }
    });
  }
  if (typeof s.proxy === 'string' && s.proxy !== '' && s.proxy !== 'env') {
    try {
      const proxy = parseProxyUrl(s.proxy, `${at}.proxy`);
      named.push({ path: `${at}.proxy`, what: `${proxy.kind} proxy`, host: proxy.host, port: proxy.port, note: ' (the SSH connection passes through it)' });
    } catch {
      // reported by the proxy checks
    }
  }
  return named.filter((n) => !sshHostAllowed(n.host, n.port, allowed)).map((n) => {
    const shown = `${formatHost(n.host.replace(/^\[(.*)\]$/, '$1'))}:${n.port}`;
    return `${n.path}: ${n.what} ${shown}${n.note ?? ''} is not allowed by the local policy.allowedSshHosts ${JSON.stringify(allowed)} ` +
      '(a document may only send the device\'s credentials, and offer its targets, to SSH hosts the device owner listed); add a matching pattern there in the local config';
  });
}
