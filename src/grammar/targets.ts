// Target URLs: where a forwarded connection is carried to.
//
// Accepted forms (config values and the URL form of `-R` specs):
//   tcp://host:port          port 1-65535 required; IPv6 in brackets: tcp://[::1]:22
//   unix:/abs/path           also unix:///abs/path (empty host); the path is taken literally
//   http://host[:port]       port defaults to 80
//   https://host[:port]      port defaults to 443
//   http+unix:/abs/path      HTTP spoken over a unix socket (container runtimes and the like);
//                            also http+unix:///abs/path and http+unix://%2Fabs%2Fpath
// http(s) URLs name an origin only: no path other than '/', no query, fragment or credentials.
//
// Normalized `url` values: 'tcp://host:port' (IPv6 host bracketed), 'unix:/path',
// 'http+unix:/path', and for http(s) the WHATWG URL origin ('http://127.0.0.1:3000/' →
// 'http://127.0.0.1:3000', 'https://h:443' → 'https://h'). `host` is never bracketed (ready
// for net.connect).
//
// An http+unix target parses as kind 'unix' with protocol 'http': it is a unix socket for
// everything that decides *where* the agent may connect (the local policy matches it by path),
// and HTTP-aware for how channels are carried (isHttpTarget()).

import { EdgeError } from '../errors.js';
import { checkHost, formatHost } from './host-name.js';
import { redactCredentials } from './redact.js';

export type ParsedTarget =
  | { kind: 'tcp'; host: string; port: number; url: string }
  | { kind: 'unix'; path: string; url: string; /** 'http' for http+unix: targets; absent = byte pipe. */ protocol?: 'http' }
  | { kind: 'http' | 'https'; host: string; port: number; url: string };

export const TARGET_URL_FORMS = 'tcp://host:port, unix:/absolute/path, http://host[:port], https://host[:port], http+unix:/absolute/path';

/** Is the target carried as HTTP (each request through the agent's HTTP client) rather than bytes? */
export function isHttpTarget(target: ParsedTarget): boolean {
  return target.kind === 'http' || target.kind === 'https' || (target.kind === 'unix' && target.protocol === 'http');
}

/** sizeof(sockaddr_un.sun_path): the path plus its NUL must fit. */
const SUN_PATH_MAX = process.platform === 'linux' ? 108 : 104;

const DEFAULT_PORTS = { http: 80, https: 443 } as const;

class TargetError extends Error {}

function fail(reason: string): never {
  throw new TargetError(reason);
}

/**
 * Parse and normalize a target URL. Every failure is an EdgeError('EDGE_ERR_INVALID_CONFIG')
 * whose message names `configKey`; `details.reason` holds the bare reason.
 */
export function parseTargetUrl(text: string, configKey: string): ParsedTarget {
  try {
    return parse(text);
  } catch (err) {
    if (!(err instanceof TargetError)) throw err;
    const shown = redactCredentials(text);
    throw new EdgeError(
      'EDGE_ERR_INVALID_CONFIG',
      `${configKey}: invalid target URL "${shown}": ${err.message}. Accepted forms: ${TARGET_URL_FORMS}`,
      { details: { key: configKey, value: shown, reason: err.message } },
    );
  }
}

function parse(text: string): ParsedTarget {
  if (typeof text !== 'string') fail('expected a string');
  if (text === '') fail('the URL is empty');
  if (/[\s\x00-\x1f\x7f]/.test(text)) fail('the URL must not contain whitespace or control characters');
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(text);
  if (!m) {
    if (/^[^/]*:\d+$/.test(text) || /^\[.*\]:\d+$/.test(text)) fail(`a scheme is missing (did you mean "tcp://${text}"?)`);
    if (text.startsWith('/')) fail(`a scheme is missing (did you mean "unix:${text}"?)`);
    fail('a scheme is missing');
  }
  const scheme = m[1]!.toLowerCase();
  const rest = text.slice(m[0].length);
  switch (scheme) {
    case 'unix':
      return parseUnix(rest);
    case 'http+unix':
      return parseHttpUnix(rest);
    case 'tcp':
    case 'http':
    case 'https':
      return parseHostPort(scheme, rest, text);
    default:
      return fail(`unsupported scheme "${m[1]}:" (use tcp:, unix:, http:, https: or http+unix:)`);
  }
}

function parseUnix(rest: string): ParsedTarget {
  let path = rest;
  if (rest.startsWith('//')) {
    path = rest.slice(2);
    if (!path.startsWith('/')) fail('a unix URL must not name a host; write unix:/absolute/path or unix:///absolute/path');
  }
  if (path === '') fail('the unix socket path is empty');
  if (!path.startsWith('/')) fail(`the unix socket path "${path}" must be absolute (start with '/')`);
  if (path.includes('?') || path.includes('#')) fail(`a query ('?') or fragment ('#') is not allowed in a unix socket path ("${path}")`);
  if (path.endsWith('/')) fail(`the unix socket path "${path}" names a directory (ends with '/')`);
  if (Buffer.byteLength(path) >= SUN_PATH_MAX) fail(`the unix socket path is too long (${Buffer.byteLength(path)} bytes, limit ${SUN_PATH_MAX - 1})`);
  const url = `unix:${path}`;
  try {
    new URL(url);
  } catch {
    fail(`"${url}" is not a valid URL`);
  }
  return { kind: 'unix', path, url };
}

function parseHttpUnix(rest: string): ParsedTarget {
  let raw = rest;
  // http+unix://%2Fvar%2Frun%2Fapp.sock (the socket path percent-encoded as the host)
  if (/^\/\/%2f/i.test(rest)) {
    const encoded = rest.slice(2);
    if (/[/?#]/.test(encoded.replace(/\/$/, ''))) fail('after an encoded socket path (http+unix://%2F…) no path, query or fragment may follow');
    try {
      raw = decodeURIComponent(encoded.replace(/\/$/, ''));
    } catch {
      fail(`"${encoded}" is not a valid percent-encoded socket path`);
    }
    if (raw.includes('\0')) fail('the unix socket path contains a NUL byte');
  }
  const parsed = parseUnix(raw);
  if (parsed.kind !== 'unix') return fail('not a unix socket path');
  return { kind: 'unix', path: parsed.path, url: `http+unix:${parsed.path}`, protocol: 'http' };
}

function parseHostPort(scheme: 'tcp' | 'http' | 'https', rest: string, text: string): ParsedTarget {
  const form = scheme === 'tcp' ? 'tcp://host:port' : `${scheme}://host[:port]`;
  if (!rest.startsWith('//') || rest.startsWith('///') || rest.startsWith('//\\')) fail(`expected ${form}`);
  const afterSlashes = rest.slice(2);
  const authEnd = afterSlashes.search(/[/?#\\]/);
  const authority = authEnd === -1 ? afterSlashes : afterSlashes.slice(0, authEnd);
  const tail = authEnd === -1 ? '' : afterSlashes.slice(authEnd);

  if (authority.includes('@')) fail('credentials (user:password@) are not allowed in a target URL');
  if (authority === '') fail(`the host is missing (expected ${form})`);

  let rawHost: string;
  let rawPort: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close === -1) fail(`unclosed '[' in the host (expected ${form})`);
    rawHost = authority.slice(1, close);
    const after = authority.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) fail(`unexpected "${after}" after ']'`);
      rawPort = after.slice(1);
    }
    if (rawHost !== '' && !rawHost.includes(':')) fail(`brackets are only for IPv6 addresses ("[${rawHost}]")`);
  } else {
    const colons = authority.split(':').length - 1;
    if (colons > 1) fail('an IPv6 address must be written in brackets, e.g. tcp://[::1]:22');
    const colon = authority.indexOf(':');
    rawHost = colon === -1 ? authority : authority.slice(0, colon);
    rawPort = colon === -1 ? undefined : authority.slice(colon + 1);
  }
  if (rawHost === '') fail(`the host is missing (expected ${form})`);

  let port: number;
  if (rawPort === '') {
    fail(`the port after ':' is empty (expected ${form})`);
  } else if (rawPort === undefined) {
    if (scheme === 'tcp') fail('a port is required (expected tcp://host:port)');
    port = DEFAULT_PORTS[scheme];
  } else {
    port = checkPort(rawPort);
  }

  if (tail !== '' && tail !== '/') {
    if (tail.startsWith('?') || tail.startsWith('/?')) fail('a query (?…) is not allowed in a target URL');
    if (tail.startsWith('#') || tail.startsWith('/#')) fail('a fragment (#…) is not allowed in a target URL');
    fail(`a path ("${tail.split(/[?#]/)[0]}") is not allowed in a target URL; only '/' may follow the host and port`);
  }

  const checked = checkHost(rawHost);
  if (checked.error !== undefined) fail(checked.error);
  const host = checked.host;

  if (scheme === 'tcp') {
    const url = `tcp://${formatHost(host)}:${port}`;
    try {
      new URL(url);
    } catch {
      fail(`"${url}" is not a valid URL`);
    }
    return { kind: 'tcp', host, port, url };
  }

  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    return fail('not a valid URL');
  }
  if (parsed.username !== '' || parsed.password !== '') fail('credentials (user:password@) are not allowed in a target URL');
  if (parsed.pathname !== '/') fail(`a path ("${parsed.pathname}") is not allowed in a target URL; only '/' may follow the host and port`);
  if (parsed.search !== '' || text.includes('?')) fail('a query (?…) is not allowed in a target URL');
  if (parsed.hash !== '' || text.includes('#')) fail('a fragment (#…) is not allowed in a target URL');
  const hostname = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  if (hostname === '') fail(`the host is missing (expected ${form})`);
  const finalPort = parsed.port === '' ? DEFAULT_PORTS[scheme] : Number(parsed.port);
  return { kind: scheme, host: hostname, port: finalPort, url: parsed.origin };
}

function checkPort(raw: string): number {
  if (/^-\d+$/.test(raw)) fail(`port ${raw} is negative (must be 1-65535)`);
  if (!/^\d+$/.test(raw)) fail(`port "${raw}" is not a number (must be 1-65535)`);
  const port = Number(raw);
  if (port > 65535) fail(`port ${raw} is out of range (must be 1-65535)`);
  if (port === 0) fail('port 0 is not allowed for a target (must be 1-65535)');
  return port;
}
