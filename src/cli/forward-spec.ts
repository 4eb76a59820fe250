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
//   /remote/socket:host:hostport        listen on a unix socket on the SSH host (OpenSSH
//   /remote/socket:/local/socket        streamlocal-forward); the first field holds a '/'
//   /remote/socket:URL
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
// (`[bind:]port` alone), a bind address or port with a remote socket, relative socket paths,
// and — unlike OpenSSH, which ignores it — a trailing ':'.
// OpenSSH's ${VAR} expansion is not done here (the shell already expands variables).

import { EdgeError } from '../errors.js';
import type { DynamicForwardConfig, ForwardConfig, LocalForwardConfig } from '../session/session-config.js';
import { checkRemoteSocketPath } from '../session/remote-listener.js';
import { parseBindField } from '../grammar/bind.js';
import { checkHost, formatHost } from '../grammar/host-name.js';
import { redactCredentials } from '../grammar/redact.js';
import { parseTargetUrl, type ParsedTarget } from '../grammar/targets.js';

/**
 * One parsed `-R`: the forward model's listen keys (bind 'localhost' when the spec gives none,
 * '' = all addresses; with remoteSocket '' and port 0) and its normalised target URL
 * ('tcp://host:port', 'unix:/path', 'http+unix:/path' or an http(s) origin), plus the spec text
 * for messages. The tunnel command turns it into a forward through normaliseSession.
 */
export type RemoteForwardSpec = Pick<ForwardConfig, 'bind' | 'port'> & { target: string; remoteSocket?: string; spec: string };

export const REMOTE_FORWARD_FORMS =
  '[bind_address:]port:host:hostport, [bind_address:]port:/local/socket, ' +
  '[bind_address:]port:URL (URL = http://host[:port], https://host[:port], tcp://host:port, unix:/path or http+unix:/path), ' +
  '/remote/socket:host:hostport, /remote/socket:/local/socket, /remote/socket:URL';

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

/** a2port, numbers only: a listen port may be 0 (the server chooses), a target port may not. */
function portField(raw: string, what: 'listen' | 'target'): number {
  const range = what === 'listen' ? '0-65535' : '1-65535';
  if (raw === '') fail(`the ${what} port is empty`);
  if (/^-\d+$/.test(raw)) fail(`${what} port ${raw} is negative (must be ${range})`);
  if (!/^\d+$/.test(raw)) fail(`${what} port "${raw}" is not a number (must be ${range})`);
  const port = Number(raw);
  if (port > 65535) fail(`${what} port ${raw} is out of range (must be ${range})`);
  if (port === 0 && what === 'target') fail(`target port 0 is not allowed (must be ${range})`);
  return port;
}

const listenPort = (raw: string): number => portField(raw, 'listen');
const targetPort = (raw: string): number => portField(raw, 'target');

function bindAddress(field: Field | undefined): string {
  if (field === undefined) return 'localhost';
  if (field.isPath) remoteSocket(field);
  return specBind(field);
}

function specBind(field: Field): string {
  const parsed = parseBindField(field.arg);
  return parsed.error !== undefined ? fail(parsed.error) : parsed.bind;
}

function remoteSocket(field: Field): never {
  return fail(`a remote unix socket ("${field.arg}") can only be the first field, with no bind address or port (/remote/socket:host:hostport)`);
}

function remoteSocketPath(field: Field): string {
  if (!field.arg.startsWith('/')) fail(`remote socket path "${field.arg}" must be absolute (start with '/')`);
  try {
    checkRemoteSocketPath(field.arg, 'remote socket path');
  } catch (err) {
    fail(err instanceof EdgeError ? err.message : String(err));
  }
  return field.arg;
}

/** /remote/socket:… — the first field is a path (OpenSSH's streamlocal -R forms). */
function parseRemoteSocketForm(fields: Field[], url: string | undefined): Omit<RemoteForwardSpec, 'spec'> {
  const socket = remoteSocketPath(fields[0]!);
  const listen = { bind: '', port: 0, remoteSocket: socket };
  if (url !== undefined) {
    if (fields.length !== 1) fail(`only the remote socket may come before the target URL ("/remote/socket:${url}")`);
    return { ...listen, target: target(url, 'target URL').url };
  }
  const [, f1, f2] = fields;
  if (fields.length === 2 && f1!.isPath) return { ...listen, target: unixTarget(f1!).url };
  if (fields.length === 3 && !f1!.isPath && !f2!.isPath) return { ...listen, target: tcpTarget(f1!, f2!).url };
  if (fields.length === 1) fail('a target is required after the remote socket (/remote/socket:host:hostport)');
  return fail('expected /remote/socket:host:hostport, /remote/socket:/local/socket or /remote/socket:URL');
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

  if (fields[0]?.isPath) return parseRemoteSocketForm(fields, urlStart !== -1 ? spec.slice(urlStart) : undefined);

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

const URL_SCHEMES = ['http', 'https', 'tcp', 'unix', 'http+unix'];

/** Edit distance (insertions, deletions, substitutions, adjacent swaps) of two short words. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * For a spec that did not parse: the URL form it most likely meant, when the part after the
 * listen port looks like a URL with a mistyped scheme or separator ("htp://", "http:/",
 * "http//", "tcp:host:80", "unix//path"), and the corrected spec parses. Otherwise undefined.
 */
export function likelyMeantRemoteSpec(spec: string): string | undefined {
  const m = /^(\s*(?:\[[^\]]*\]:|[^:[\]]*:)?\d+:)([A-Za-z][A-Za-z0-9+.-]*)(:?\/*)(.+)$/.exec(spec);
  if (!m) return undefined;
  const [, listen, rawScheme, separator, rest] = m as unknown as [string, string, string, string, string];
  if (separator === '' && !/^\/|^[^/]*:\d+/.test(rest)) return undefined;
  const lower = rawScheme.toLowerCase();
  let best: { scheme: string; distance: number } | undefined;
  for (const scheme of URL_SCHEMES) {
    const distance = editDistance(lower, scheme);
    if (distance <= Math.min(2, scheme.length - 2) && (!best || distance < best.distance)) best = { scheme, distance };
  }
  if (!best) return undefined;
  const isSocket = best.scheme === 'unix' || best.scheme === 'http+unix';
  const body = isSocket ? `/${rest.replace(/^\/+/, '')}` : rest.replace(/^\/+/, '');
  const candidate = `${listen}${best.scheme}:${isSocket ? '' : '//'}${body}`;
  if (candidate === spec) return undefined;
  try {
    parse(candidate);
    return candidate;
  } catch {
    return undefined;
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
    const meant = likelyMeantRemoteSpec(spec);
    if (meant !== undefined) {
      const suggestion = redactCredentials(meant);
      throw new EdgeError(
        'EDGE_ERR_INVALID_SPEC',
        `invalid remote forward (-R) "${shown}": did you mean "${suggestion}"? (${err.message}). Accepted forms: ${REMOTE_FORWARD_FORMS}`,
        { details: { spec: shown, reason: err.message, suggestion } },
      );
    }
    throw new EdgeError(
      'EDGE_ERR_INVALID_SPEC',
      `invalid remote forward (-R) "${shown}": ${err.message}. Accepted forms: ${REMOTE_FORWARD_FORMS}`,
      { details: { spec: shown, reason: err.message } },
    );
  }
}

// ---------------------------------------------------------------- -L and -D
//
// Same field splitting (parse_fwd_field). OpenSSH's parse_forward() for a local forward:
//   [bind_address:]port:host:hostport        (3 or 4 fields)
// and for a dynamic forward:
//   [bind_address:]port                      (1 or 2 fields)
// bind_address (channel_fwd_bind_addr on the client side): none → 'localhost', or all
// interfaces ('') when -g was given; '' or '*' → all interfaces; anything else as given
// (brackets removed). Unlike OpenSSH, every bind that is not loopback needs -g (allowRelay):
// checked by the caller, which knows whether -g was given. Listen port 0-65535 (0 = any free
// port); destination port 1-65535. Unix socket paths (local listener or destination) are not
// supported.

/** One parsed `-L` (bind 'localhost' when the spec gives none, or '' with -g; host normalized as in -R). */
export type LocalForwardSpec = Pick<LocalForwardConfig, 'bind' | 'port' | 'host' | 'hostPort'> & { spec: string };

/** One parsed `-D`. */
export type DynamicForwardSpec = Pick<DynamicForwardConfig, 'bind' | 'port'> & { spec: string };

export const LOCAL_FORWARD_FORMS = '[bind_address:]port:host:hostport';
export const DYNAMIC_FORWARD_FORMS = '[bind_address:]port';

export interface ListenSpecOptions {
  /** -g: with no bind address, listen on all interfaces (as ssh -g). */
  gatewayPorts?: boolean;
}

function localBind(field: Field | undefined, opts: ListenSpecOptions): string {
  if (field === undefined) return opts.gatewayPorts ? '' : 'localhost';
  if (field.isPath) fail(`listening on a unix socket ("${field.arg}") is not supported; give a listen port`);
  return specBind(field);
}

function splitFields(spec: string): Field[] {
  let pos = 0;
  while (pos < spec.length && /\s/.test(spec[pos]!)) pos++;
  if (pos >= spec.length) fail('the spec is empty');
  const fields: Field[] = [];
  while (pos < spec.length) {
    if (fields.length === 4) fail(`too many fields (more than 4; trailing "${spec.slice(pos)}"); write IPv6 addresses in brackets, e.g. [::1]`);
    const { field, next, colon } = parseField(spec, pos);
    fields.push(field);
    pos = next;
    if (colon && pos >= spec.length) fail("trailing ':' (the last field is empty)");
  }
  return fields;
}

function wrapSpecError(flag: '-L' | '-D', what: string, forms: string, spec: string, err: unknown): never {
  if (!(err instanceof SpecError)) throw err;
  throw new EdgeError('EDGE_ERR_INVALID_SPEC', `invalid ${what} (${flag}) "${spec}": ${err.message}. Accepted form: ${forms}`, { details: { spec, reason: err.message } });
}

/** Parse one `-L` spec. Every failure is an EdgeError('EDGE_ERR_INVALID_SPEC'). */
export function parseLocalForwardSpec(spec: string, opts: ListenSpecOptions = {}): LocalForwardSpec {
  if (typeof spec !== 'string') throw new EdgeError('EDGE_ERR_INVALID_SPEC', `invalid local forward (-L): expected a string. Accepted form: ${LOCAL_FORWARD_FORMS}`);
  try {
    const fields = splitFields(spec);
    if (fields.length < 3) {
      if (fields.some((f) => f.isPath)) fail('unix socket forwarding is not supported');
      fail(fields.length === 1 ? 'a destination host:hostport is required (for a SOCKS proxy use -D)' : 'expected port:host:hostport (the destination is missing its port, or the listen port is missing)');
    }
    const [bindField, portField, hostField, hostPortField] = fields.length === 4 ? fields : [undefined, ...fields];
    if (portField!.isPath || bindField?.isPath) fail(`listening on a unix socket ("${(bindField?.isPath ? bindField : portField)!.arg}") is not supported; give a listen port`);
    if (hostField!.isPath || hostPortField!.isPath) fail(`forwarding to a unix socket ("${(hostField!.isPath ? hostField : hostPortField)!.arg}") is not supported`);
    const port = listenPort(portField!.arg);
    const bind = localBind(bindField, opts);
    const checked = checkHost(hostField!.arg);
    if (checked.error !== undefined) fail(`destination host: ${checked.error}`);
    const hostPort = targetPort(hostPortField!.arg);
    return { bind, port, host: checked.host, hostPort, spec };
  } catch (err) {
    return wrapSpecError('-L', 'local forward', LOCAL_FORWARD_FORMS, spec, err);
  }
}

/** Parse one `-D` spec. Every failure is an EdgeError('EDGE_ERR_INVALID_SPEC'). */
export function parseDynamicForwardSpec(spec: string, opts: ListenSpecOptions = {}): DynamicForwardSpec {
  if (typeof spec !== 'string') throw new EdgeError('EDGE_ERR_INVALID_SPEC', `invalid dynamic forward (-D): expected a string. Accepted form: ${DYNAMIC_FORWARD_FORMS}`);
  try {
    const fields = splitFields(spec);
    if (fields.length > 2) fail('a dynamic (SOCKS) forward takes no destination; for a fixed destination use -L');
    const [bindField, portField] = fields.length === 2 ? fields : [undefined, fields[0]];
    if (portField!.isPath || bindField?.isPath) fail('a SOCKS listener on a unix socket is not supported; give a listen port');
    const port = listenPort(portField!.arg);
    const bind = localBind(bindField, opts);
    return { bind, port, spec };
  } catch (err) {
    return wrapSpecError('-D', 'dynamic forward', DYNAMIC_FORWARD_FORMS, spec, err);
  }
}
