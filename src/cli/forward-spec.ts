// Parser for OpenSSH-style `-R` remote forward specs.
//
// Field splitting follows OpenSSH's parse_forward() / parse_fwd_field() (readconf.c):
//   - leading white space is skipped; fields are separated by ':'; at most 4 fields;
//   - a field that starts with '[' runs to the matching ']' and is taken literally (IPv6
//     addresses such as [::1]); the ']' must end the field (be followed by ':' or the end);
//   - elsewhere a backslash takes the next character literally (so '\:' does not split);
//   - a field containing '/' (not escaped) is a path.
// Accepted forms:
//   [bind_address:]port:host:hostport   tcp target (3 or 4 fields)
//   [bind_address:]port:/local/socket   unix socket target (the last field contains '/')
//   [bind_address:]port:URL             URL = http://host[:port], https://host[:port],
//                                       tcp://host:port, unix:/path or http+unix:/path
// The URL form is detected when, at a field boundary after the listen part (`port` or
// `bind_address:port`), the rest of the spec starts with 'http://', 'https://', 'tcp://',
// 'unix:' or 'http+unix:'; that rest is one URL (its ':' do not split fields). A host literally named "unix"
// can be written [unix].
// bind_address: none → 'localhost' (our secure default; OpenSSH does the same for -R);
// empty (':8080:h:80') or '*' → '' (all addresses, every family); otherwise the address as
// given, brackets removed ('[::]' → '::', '[::1]' → '::1'), e.g. 0.0.0.0, 127.0.0.1, a host name.
// Ports are decimal numbers only (no service names, no sign): listen port 0-65535 (0 = the
// server picks), target port 1-65535.
// Not supported (rejected with EDGE_ERR_INVALID_SPEC): reverse dynamic (SOCKS) forwards
// (`[bind:]port` alone), listening on a remote unix socket (`/remote/sock:host:port`),
// relative socket paths, and — unlike OpenSSH, which ignores it — a trailing ':'.
// OpenSSH's ${VAR} expansion is not done here (the shell already expands variables).

import { EdgeError } from '../errors.js';
import { checkHost, formatHost, parseTargetUrl, redactCredentials, type ParsedTarget } from '../session/target-url.js';

export interface RemoteForwardSpec {
  /** Bind address sent in tcpip-forward; 'localhost' when the spec gives none, '' = all addresses. */
  bind: string;
  /** Listen port on the server, 0..65535 (0 = let the server pick). */
  port: number;
  /** Normalized target URL: 'tcp://host:port', 'unix:/path', 'http+unix:/path' or an http(s) origin. */
  target: string;
  /** The original text, for messages. */
  spec: string;
}

export const REMOTE_FORWARD_FORMS =
  '[bind_address:]port:host:hostport, [bind_address:]port:/local/socket, ' +
  '[bind_address:]port:URL (URL = http://host[:port], https://host[:port], tcp://host:port, unix:/path or http+unix:/path)';

const URL_SCHEME = /^(?:https?:\/\/|tcp:\/\/|unix:|http\+unix:)/i;

interface Field {
  arg: string;
  isPath: boolean;
}

class SpecError extends Error {}

function fail(reason: string): never {
  throw new SpecError(reason);
}

/**
 * One field of the spec starting at `pos` (parse_fwd_field). Returns the field and the
 * position after it (past its ':' if it had one).
 */
function parseField(s: string, pos: number): { field: Field; next: number; colon: boolean } {
  let isPath = false;
  if (s[pos] === '[') {
    let ep = pos + 1;
    for (; ep < s.length && s[ep] !== ']'; ep++) {
      if (s[ep] === '/') isPath = true;
    }
    if (ep >= s.length) fail(`unclosed '[' in "${s.slice(pos)}"`);
    const after = s[ep + 1];
    if (after !== undefined && after !== ':') {
      fail(`unexpected text "${s.slice(ep + 1).split(':')[0]}" after ']' in "${s.slice(pos, ep + 1)}" (a ']' must end the field)`);
    }
    const arg = s.slice(pos + 1, ep);
    const colon = after === ':';
    return { field: { arg, isPath }, next: colon ? ep + 2 : ep + 1, colon };
  }
  let arg = '';
  let cp = pos;
  for (; cp < s.length; cp++) {
    const c = s[cp]!;
    if (c === '\\') {
      cp++;
      if (cp >= s.length) fail('trailing backslash (a backslash must be followed by the character it escapes)');
      arg += s[cp];
    } else if (c === ':') {
      return { field: { arg, isPath }, next: cp + 1, colon: true };
    } else {
      if (c === '/') isPath = true;
      arg += c;
    }
  }
  return { field: { arg, isPath }, next: cp, colon: false };
}

/** a2port, numbers only. */
function listenPort(raw: string): number {
  if (raw === '') fail('the listen port is empty');
  if (/^-\d+$/.test(raw)) fail(`listen port ${raw} is negative (must be 0-65535)`);
  if (!/^\d+$/.test(raw)) fail(`listen port "${raw}" is not a number (must be 0-65535)`);
  const port = Number(raw);
  if (port > 65535) fail(`listen port ${raw} is out of range (must be 0-65535)`);
  return port;
}

function targetPort(raw: string): number {
  if (raw === '') fail('the target port is empty');
  if (/^-\d+$/.test(raw)) fail(`target port ${raw} is negative (must be 1-65535)`);
  if (!/^\d+$/.test(raw)) fail(`target port "${raw}" is not a number (must be 1-65535)`);
  const port = Number(raw);
  if (port > 65535) fail(`target port ${raw} is out of range (must be 1-65535)`);
  if (port === 0) fail('target port 0 is not allowed (must be 1-65535)');
  return port;
}

function bindAddress(field: Field | undefined): string {
  if (field === undefined) return 'localhost';
  if (field.isPath) remoteSocket(field);
  const bind = field.arg;
  if (bind === '' || bind === '*') return '';
  const checked = checkHost(bind);
  if (checked.error !== undefined) fail(`bind address: ${checked.error}`);
  return bind;
}

function remoteSocket(field: Field): never {
  return fail(`listening on a remote unix socket ("${field.arg}") is not supported; give a listen port`);
}

function dynamicForward(): never {
  return fail('reverse dynamic (SOCKS) forwarding is not supported; a target is required');
}

/** Run parseTargetUrl, turning its config error into a spec error. */
function target(url: string, part: string): ParsedTarget {
  try {
    return parseTargetUrl(url, part);
  } catch (err) {
    if (err instanceof EdgeError && err.code === 'EDGE_ERR_INVALID_CONFIG') {
      const reason = typeof err.details?.reason === 'string' ? err.details.reason : err.message;
      fail(`${part}: ${reason}`);
    }
    throw err;
  }
}

function tcpTarget(hostField: Field, portField: Field): ParsedTarget {
  const checked = checkHost(hostField.arg);
  if (checked.error !== undefined) fail(`target host: ${checked.error}`);
  const port = targetPort(portField.arg);
  return target(`tcp://${formatHost(checked.host)}:${port}`, 'target');
}

function unixTarget(pathField: Field): ParsedTarget {
  if (!pathField.arg.startsWith('/')) fail(`target socket path "${pathField.arg}" must be absolute (start with '/')`);
  return target(`unix:${pathField.arg}`, 'target socket path');
}

function parse(spec: string): Omit<RemoteForwardSpec, 'spec'> {
  let pos = 0;
  while (pos < spec.length && /\s/.test(spec[pos]!)) pos++;
  if (pos >= spec.length) fail('the spec is empty');

  const fields: Field[] = [];
  let urlStart = -1;
  while (pos < spec.length) {
    if (URL_SCHEME.test(spec.slice(pos))) {
      urlStart = pos;
      break;
    }
    if (fields.length === 4) {
      fail(`too many fields (more than 4; trailing "${spec.slice(pos)}"); write IPv6 addresses in brackets, e.g. [::1]`);
    }
    const { field, next, colon } = parseField(spec, pos);
    fields.push(field);
    pos = next;
    if (colon && pos >= spec.length) fail("trailing ':' (the last field is empty)");
  }

  if (urlStart !== -1) {
    const url = spec.slice(urlStart);
    if (fields.length === 0) fail(`a listen port is required before the target URL ("port:${url}" or "bind_address:port:${url}")`);
    if (fields.length > 2) fail(`only "port" or "bind_address:port" may come before the target URL, got ${fields.length} fields`);
    for (const f of fields) if (f.isPath) remoteSocket(f);
    const bindField = fields.length === 2 ? fields[0] : undefined;
    const port = listenPort(fields[fields.length - 1]!.arg);
    const bind = bindAddress(bindField);
    return { bind, port, target: target(url, 'target URL').url };
  }

  const [f0, f1, f2, f3] = fields;
  switch (fields.length) {
    case 1:
      if (f0!.isPath) remoteSocket(f0!);
      return dynamicForward();
    case 2:
      if (f0!.isPath) remoteSocket(f0!);
      if (f1!.isPath) {
        // port:/local/socket
        const port = listenPort(f0!.arg);
        return { bind: 'localhost', port, target: unixTarget(f1!).url };
      }
      return dynamicForward();
    case 3:
      if (f0!.isPath) remoteSocket(f0!);
      if (f2!.isPath) {
        // bind_address:port:/local/socket
        const port = listenPort(f1!.arg);
        const bind = bindAddress(f0);
        return { bind, port, target: unixTarget(f2!).url };
      }
      {
        // port:host:hostport
        const port = listenPort(f0!.arg);
        return { bind: 'localhost', port, target: tcpTarget(f1!, f2!).url };
      }
    case 4: {
      // bind_address:port:host:hostport
      if (f0!.isPath) remoteSocket(f0!);
      const port = listenPort(f1!.arg);
      const bind = bindAddress(f0);
      return { bind, port, target: tcpTarget(f2!, f3!).url };
    }
    default:
      return fail('the spec is empty');
  }
}

/** Parse one `-R` spec. Every failure is an EdgeError('EDGE_ERR_INVALID_SPEC'). */
export function parseRemoteForwardSpec(spec: string): RemoteForwardSpec {
  if (typeof spec !== 'string') {
    throw new EdgeError('EDGE_ERR_INVALID_SPEC', `invalid remote forward (-R): expected a string. Accepted forms: ${REMOTE_FORWARD_FORMS}`);
  }
  try {
    return { ...parse(spec), spec };
  } catch (err) {
    if (!(err instanceof SpecError)) throw err;
    const shown = redactCredentials(spec);
    throw new EdgeError(
      'EDGE_ERR_INVALID_SPEC',
      `invalid remote forward (-R) "${shown}": ${err.message}. Accepted forms: ${REMOTE_FORWARD_FORMS}`,
      { details: { spec: shown, reason: err.message } },
    );
  }
}
