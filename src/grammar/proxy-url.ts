// Proxy settings: a session's `proxy` value and the HTTPS_PROXY / ALL_PROXY / NO_PROXY
// variables `proxy: "env"` reads. Connecting through the proxy is src/session/proxy/proxy-connect.ts.
//
//   http://[user:pass@]host[:port]     HTTP CONNECT (port default 80); Basic auth with user:pass
//   socks5://[user:pass@]host[:port]   SOCKS5, the SSH host name resolved by the agent (port default 1080)
//   socks5h://[user:pass@]host[:port]  SOCKS5, the name resolved by the proxy
//   socks4://[user@]host[:port]        SOCKS4, resolved by the agent (IPv4 only)
//   socks4a://[user@]host[:port]       SOCKS4a, resolved by the proxy
//   host:port                          (HTTPS_PROXY style) an HTTP proxy
// Credentials are never shown: every message, status field and span carries maskProxyUrl()'s
// form (`http://***:***@proxy:3128`).
import { ipFamily } from './ip-address.js';
import { EdgeError } from '../errors.js';
import { formatHost } from './host-name.js';
import { cidrContains, parseCidr } from './patterns.js';
import { MASK, maskUrl } from './redact.js';

export type ProxyKind = 'http' | 'socks5' | 'socks5h' | 'socks4' | 'socks4a';

export interface ProxySpec {
  kind: ProxyKind;
  host: string;
  port: number;
  username?: string;
  password?: string;
  /** The URL with credentials masked: safe for logs, status and spans. */
  display: string;
}

const DEFAULT_PORTS: Record<ProxyKind, number> = { http: 80, socks5: 1080, socks5h: 1080, socks4: 1080, socks4a: 1080 };
export const PROXY_FORMS = '"" (direct), "env" (HTTPS_PROXY / ALL_PROXY / NO_PROXY), http://[user:pass@]host:port, socks5://[user:pass@]host:port, socks5h://…, socks4://[user@]host:port or socks4a://…';

/**
 * A proxy setting as shown anywhere (status, logs, spans, messages, the printed config): '' and
 * 'env' as they are, a URL through maskUrl, and a bare `[user:pass@]host:port` (an HTTP proxy,
 * as parseProxyUrl reads it) masked as that URL without its scheme.
 */
export function maskProxyUrl(text: string): string {
  if (text === '' || text === 'env') return text;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return maskUrl(text);
  const masked = maskUrl(`http://${text}`);
  return masked === MASK ? MASK : masked.slice('http://'.length);
}

/** Parses a proxy URL; throws EDGE_ERR_INVALID_CONFIG naming `key` (never echoing credentials). */
export function parseProxyUrl(text: string, key = 'proxy'): ProxySpec {
  const masked = maskProxyUrl(text);
  const shown = masked.length > 120 ? `${masked.slice(0, 117)}...` : masked;
  const bad = (why: string) => new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: "${shown}" ${why}. Accepted: ${PROXY_FORMS}.`, { details: { key } });
  // A bare host:port (as some HTTPS_PROXY values are written) means an HTTP proxy.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw bad('is not a URL');
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (scheme === 'https') throw bad('is an https:// proxy, which is not supported (use http://: the SSH stream is encrypted anyway)');
  if (!(scheme in DEFAULT_PORTS)) throw bad(`has an unsupported scheme "${scheme}:"`);
  const kind = scheme as ProxyKind;
  if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash) throw bad('must not have a path, query or fragment');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw bad('has no host');
  const port = url.port === '' ? DEFAULT_PORTS[kind] : Number(url.port);
  if (!(port >= 1 && port <= 65535)) throw bad('has no valid port');
  let username: string | undefined;
  let password: string | undefined;
  try {
    if (url.username) username = decodeURIComponent(url.username);
    if (url.password) password = decodeURIComponent(url.password);
  } catch {
    throw bad('has badly percent-encoded credentials');
  }
  if ((kind === 'socks4' || kind === 'socks4a') && password !== undefined) throw bad('carries a password, which SOCKS4 cannot send (only a user id)');
  if (kind.startsWith('socks5') && username !== undefined && (username.length > 255 || Buffer.byteLength(password ?? '') > 255)) throw bad('has a username or password longer than 255 bytes');
  const display = maskProxyUrl(`${kind}://${url.username ? `${url.username}${url.password ? ':x' : ''}@` : ''}${formatHost(host)}:${port}`);
  return { kind, host, port, ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}), display };
}

/** Validates a session's `proxy` value ('' | 'env' | URL); throws EDGE_ERR_INVALID_CONFIG. */
export function checkProxySetting(value: string, key = 'proxy'): void {
  if (value === '' || value === 'env') return;
  parseProxyUrl(value, key);
}

/**
 * NO_PROXY as curl reads it: comma (or space) separated; "*" = every host; "example.com" and
 * ".example.com" match the domain and its subdomains; "host:port" only that port; IP
 * addresses and CIDR ranges match IP literals. Names are not resolved.
 */
export function noProxyMatches(noProxy: string, host: string, port: number): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  const family = ipFamily(h);
  for (let entry of noProxy.split(/[\s,]+/).map((e) => e.trim().toLowerCase()).filter(Boolean)) {
    if (entry === '*') return true;
    let entryPort: number | undefined;
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (v6) {
      entry = v6[1]!;
      if (v6[2]) entryPort = Number(v6[2]);
    } else if (/^[^:]+:\d+$/.test(entry)) {
      entryPort = Number(entry.slice(entry.lastIndexOf(':') + 1));
      entry = entry.slice(0, entry.lastIndexOf(':'));
    }
    if (entryPort !== undefined && entryPort !== port) continue;
    if (family !== 0) {
      // An address matches itself, a range its addresses; an entry of the other family or no address is skipped.
      const range = parseCidr(entry, family as 4 | 6);
      if (range !== undefined && cidrContains(range, h)) return true;
      continue;
    }
    const domain = entry.replace(/^\*?\./, '');
    if (domain !== '' && (h === domain || h.endsWith(`.${domain}`))) return true;
  }
  return false;
}
