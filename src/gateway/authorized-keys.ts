// OpenSSH authorized_keys for the built-in gateway: one file, read again on every
// authentication so edits apply without a restart (the parse is cached by file content).
//
// Format (sshd(8) "AUTHORIZED_KEYS FILE FORMAT"): one key per line, `[options] keytype base64
// [comment]`; blank lines and lines starting with '#' are ignored. Options are comma-separated,
// names are case-insensitive, values are double-quoted (`name="value"`, where `\"` is a literal
// quote); the options field ends at the first unquoted space or tab.
//
// There is one file for every user: a key line authorizes whatever user name the client logs
// in with (the gateway has no local accounts). Options understood here:
//   restrict              no port forwarding (nor pty, agent, X11 – which this gateway never
//                         offers anyway); `port-forwarding` re-enables forwarding after it, and
//                         — unlike OpenSSH — `permitlisten` alone re-enables remote forwarding
//                         limited to the listed addresses
//   no-port-forwarding / port-forwarding
//                         no remote (tcpip-forward, streamlocal-forward) and no local
//                         (direct-tcpip) forwards; later options win, as in sshd
//   permitlisten="[host:]port"
//                         repeatable; host may use `*`/`?` wildcards, port may be `*`; a bare
//                         port means any host; IPv6 hosts in brackets ([::1]:8080)
//   permitopen="host:port"
//                         repeatable; destinations allowed for direct-tcpip (when the gateway
//                         enables direct-tcpip at all); host `*` = any host, port `*` = any port
//   from="pattern,…"      source address patterns: CIDR (10.0.0.0/8, 2001:db8::/32), addresses,
//                         `*`/`?` wildcards; `!` negates (a negated match always denies). Host
//                         names are not resolved: wildcard patterns are matched against the
//                         client's address text (like sshd with UseDNS no)
//   expiry-time="YYYYMMDD[HHMM[SS]]"
//                         the key is refused after that time (local time; a trailing Z = UTC)
//   principals="name,…"  the user names this key may create unix sockets as (socket forwards
//                         are named after the user; see socket-policy.ts). Without it any user
//                         name the key logs in with names its sockets
//   command=, environment=, tunnel=, (no-)pty, (no-)agent-forwarding,
//   (no-)x11-forwarding, (no-)user-rc, (no-)touch-required, verify-required
//                         accepted and ignored: the gateway never runs commands or sessions
//   cert-authority        not supported (certificates are not accepted): the line is skipped
// A line with an unknown or malformed option is skipped (sshd does the same) and reported.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import ssh2, { type ParsedKey } from 'ssh2';
import { EdgeError } from '../errors.js';
import { unmapAddress } from '../grammar/host-name.js';
import { cidrContains, opensshMatch, parseCidr } from '../grammar/patterns.js';

const { utils } = ssh2; // CommonJS: named exports are not visible to Node's ESM loader

export interface ListenPermission {
  /** Host pattern (wildcards `*`, `?`), lower-case; '*' = any bind address. */
  host: string;
  port: number | '*';
}

export interface OpenPermission {
  /** Literal host, or '*' for any. */
  host: string;
  port: number | '*';
}

export interface KeyOptions {
  restrict: boolean;
  /** tcpip-forward allowed at all (the listen policy then decides which addresses). */
  remoteForwarding: boolean;
  /** direct-tcpip allowed (only matters when the gateway enables direct-tcpip). */
  localForwarding: boolean;
  /** The port-forwarding flag itself (restrict / no-port-forwarding / port-forwarding, last wins): unix socket forwards follow it, permitlisten does not apply to them. */
  portForwarding: boolean;
  /** Empty = the gateway's default listen policy applies. */
  permitListen: ListenPermission[];
  /** Empty = any destination (when direct-tcpip is allowed). */
  permitOpen: OpenPermission[];
  /** principals="a,b": the user names this key may name unix sockets after; empty = any. */
  principals: string[];
  /** Raw from="…" pattern list, if given. */
  from?: string;
  expiryTime?: Date;
  certAuthority: boolean;
}

export interface AuthorizedKey {
  /** 1-based line number in the file. */
  line: number;
  keyType: string;
  key: ParsedKey;
  /** SSH wire-format public key blob (what the client presents). */
  blob: Buffer;
  /** SHA256:… as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  comment: string;
  options: KeyOptions;
}

export interface AuthorizedKeysParseResult {
  keys: AuthorizedKey[];
  /** Lines that were skipped, with why (never includes key material). */
  errors: Array<{ line: number; message: string }>;
}

const KEY_TYPES = new Set([
  'ssh-ed25519', 'ssh-rsa', 'ssh-dss', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
  'sk-ecdsa-sha2-nistp256@openssh.com', 'sk-ssh-ed25519@openssh.com',
]);

function isKeyType(token: string): boolean {
  return KEY_TYPES.has(token) || /^[a-z0-9-]+-cert-v01@openssh\.com$/.test(token);
}

export function sha256Fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** Parses the whole file; bad lines are reported in `errors` and skipped. */
export function parseAuthorizedKeys(text: string): AuthorizedKeysParseResult {
  const keys: AuthorizedKey[] = [];
  const errors: AuthorizedKeysParseResult['errors'] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.replace(/^[ \t]+/, '');
    if (line === '' || line.startsWith('#')) return;
    try {
      keys.push(parseAuthorizedKeyLine(line, index + 1));
    } catch (err) {
      errors.push({ line: index + 1, message: (err as Error).message });
    }
  });
  return { keys, errors };
}

/** One non-empty, non-comment line. Throws (plain Error) with a reason when it is unusable. */
export function parseAuthorizedKeyLine(line: string, lineNumber = 1): AuthorizedKey {
  let rest = line.trim();
  let optionsText: string | undefined;
  const first = /^\S+/.exec(rest)?.[0] ?? '';
  if (!isKeyType(first)) {
    const end = endOfOptions(rest);
    optionsText = rest.slice(0, end);
    rest = rest.slice(end).replace(/^[ \t]+/, '');
  }
  const [keyType = '', base64 = '', ...commentParts] = rest.split(/[ \t]+/);
  if (!isKeyType(keyType)) throw new Error(`no known key type after the options (got "${keyType.slice(0, 40)}")`);
  if (keyType.endsWith('-cert-v01@openssh.com')) throw new Error(`certificate keys (${keyType}) are not supported`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) throw new Error('the key is not valid base64');
  const parsed = utils.parseKey(`${keyType} ${base64}`);
  if (parsed instanceof Error) throw new Error(`the ${keyType} key cannot be parsed: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0]! : parsed;
  const blob = key.getPublicSSH();
  const options = parseKeyOptions(optionsText ?? '');
  if (options.certAuthority) throw new Error('cert-authority is not supported by the built-in gateway (no certificate logins)');
  return {
    line: lineNumber,
    keyType: key.type,
    key,
    blob,
    fingerprint: sha256Fingerprint(blob),
    comment: commentParts.join(' '),
    options,
  };
}

/** Index just past the options field: the first space/tab outside double quotes. */
function endOfOptions(text: string): number {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\' && text[i + 1] === '"') { i++; continue; }
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === ' ' || ch === '\t')) return i;
  }
  if (quoted) throw new Error('an option value is missing its closing quote');
  return text.length;
}

/** One option as written: lower-cased name and, for name="value", the unescaped value. */
export interface RawOption { name: string; value?: string }

/** Splits an options field (`a,b="x,y",c`) like sshd: commas inside quotes do not split. */
export function splitKeyOptions(text: string): RawOption[] {
  const out: RawOption[] = [];
  let i = 0;
  while (i < text.length) {
    const m = /^[A-Za-z0-9-]+/.exec(text.slice(i));
    if (!m) throw new Error(`bad option syntax at "${text.slice(i, i + 20)}"`);
    const name = m[0].toLowerCase();
    i += m[0].length;
    let value: string | undefined;
    if (text[i] === '=') {
      if (text[i + 1] !== '"') throw new Error(`option ${name}: the value must be in double quotes`);
      i += 2;
      let v = '';
      for (;;) {
        if (i >= text.length) throw new Error(`option ${name}: missing closing quote`);
        const ch = text[i]!;
        if (ch === '\\' && text[i + 1] === '"') { v += '"'; i += 2; continue; }
        if (ch === '"') { i++; break; }
        v += ch;
        i++;
      }
      value = v;
    }
    out.push(value === undefined ? { name } : { name, value });
    if (i >= text.length) break;
    if (text[i] !== ',') throw new Error(`option ${name}: expected "," after it`);
    i++;
    if (i >= text.length) throw new Error('trailing "," in the options');
  }
  return out;
}

const IGNORED_FLAGS = new Set(['pty', 'no-pty', 'agent-forwarding', 'no-agent-forwarding', 'x11-forwarding', 'no-x11-forwarding',
  'user-rc', 'no-user-rc', 'touch-required', 'no-touch-required', 'verify-required']);
const IGNORED_VALUES = new Set(['command', 'environment', 'tunnel']);

/** Interprets an options field. Throws (plain Error) on unknown or malformed options. */
export function parseKeyOptions(text: string): KeyOptions {
  const opts: KeyOptions = { restrict: false, remoteForwarding: true, localForwarding: true, portForwarding: true, permitListen: [], permitOpen: [], principals: [], certAuthority: false };
  // Who last decided port forwarding: sshd applies options in order, later ones win.
  let forwarding: { allowed: boolean; by: 'default' | 'restrict' | 'explicit' } = { allowed: true, by: 'default' };
  for (const { name, value } of text ? splitKeyOptions(text) : []) {
    const needValue = () => {
      if (value === undefined) throw new Error(`option ${name} needs a value (${name}="…")`);
      return value;
    };
    const noValue = () => {
      if (value !== undefined) throw new Error(`option ${name} takes no value`);
    };
    switch (name) {
      case 'restrict': noValue(); opts.restrict = true; forwarding = { allowed: false, by: 'restrict' }; break;
      case 'port-forwarding': noValue(); forwarding = { allowed: true, by: 'explicit' }; break;
      case 'no-port-forwarding': noValue(); forwarding = { allowed: false, by: 'explicit' }; break;
      case 'cert-authority': noValue(); opts.certAuthority = true; break;
      case 'permitlisten': opts.permitListen.push(parsePermitListen(needValue())); break;
      case 'permitopen': opts.permitOpen.push(parsePermitOpen(needValue())); break;
      case 'principals': opts.principals.push(...parsePrincipals(needValue())); break;
      case 'from': opts.from = validateFromPatterns(needValue()); break;
      case 'expiry-time': opts.expiryTime = parseExpiryTime(needValue()); break;
      default:
        if (IGNORED_FLAGS.has(name)) { noValue(); break; }
        if (IGNORED_VALUES.has(name)) { needValue(); break; }
        throw new Error(`unknown option "${name}"`);
    }
  }
  opts.localForwarding = forwarding.allowed;
  opts.portForwarding = forwarding.allowed;
  opts.remoteForwarding = forwarding.allowed || (forwarding.by === 'restrict' && opts.permitListen.length > 0);
  return opts;
}

/** principals="a,b": comma-separated names, none empty. */
export function parsePrincipals(value: string): string[] {
  const names = value.split(',').map((n) => n.trim());
  if (names.some((n) => n === '')) throw new Error(`principals="${value}": empty name`);
  return names;
}

/** `[host:]port`, host optionally in brackets; bare port = any host; port may be `*`. */
export function parsePermitListen(value: string): ListenPermission {
  const v = value.trim();
  let host = '*';
  let portText = v;
  const bracket = /^\[([^\]]*)\]:(.*)$/.exec(v);
  if (bracket) {
    host = bracket[1]!;
    portText = bracket[2]!;
  } else if (v.includes(':')) {
    const at = v.lastIndexOf(':');
    host = v.slice(0, at);
    portText = v.slice(at + 1);
    if (host.includes(':')) throw new Error(`permitlisten="${value}": put an IPv6 address in brackets, e.g. "[::1]:8080"`);
  }
  if (host === '') throw new Error(`permitlisten="${value}": empty host`);
  return { host: host.toLowerCase(), port: parsePortField(portText, `permitlisten="${value}"`, true) };
}

/** `host:port`, host optionally in brackets; host `*` = any; port may be `*`. */
export function parsePermitOpen(value: string): OpenPermission {
  const v = value.trim();
  const bracket = /^\[([^\]]*)\]:(.*)$/.exec(v);
  let host: string;
  let portText: string;
  if (bracket) {
    host = bracket[1]!;
    portText = bracket[2]!;
  } else {
    const at = v.lastIndexOf(':');
    if (at <= 0) throw new Error(`permitopen="${value}": expected host:port`);
    host = v.slice(0, at);
    portText = v.slice(at + 1);
    if (host.includes(':')) throw new Error(`permitopen="${value}": put an IPv6 address in brackets, e.g. "[::1]:22"`);
  }
  return { host: host.toLowerCase(), port: parsePortField(portText, `permitopen="${value}"`, false) };
}

function parsePortField(text: string, what: string, allowZero: boolean): number | '*' {
  if (text === '*') return '*';
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535 || (!allowZero && Number(text) === 0)) {
    throw new Error(`${what}: "${text}" is not a port (${allowZero ? '0' : '1'}-65535 or *)`);
  }
  return Number(text);
}

function parseExpiryTime(value: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z)?$/i.exec(value.trim());
  if (!m) throw new Error(`expiry-time="${value}": expected YYYYMMDD[HHMM[SS]][Z]`);
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [number, number, number, number, number, number];
  const utc = m[7] !== undefined;
  const date = utc ? new Date(Date.UTC(y, mo - 1, d, h, mi, s)) : new Date(y, mo - 1, d, h, mi, s);
  const back = utc
    ? [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()]
    : [date.getFullYear(), date.getMonth() + 1, date.getDate(), date.getHours(), date.getMinutes(), date.getSeconds()];
  if (back.join() !== [y, mo, d, h, mi, s].join()) throw new Error(`expiry-time="${value}": not a valid date`);
  return date;
}

// ------------------------------------------------------------------ from="…" (sshd's match.c; grammar in src/grammar/patterns.ts)

function validateFromPatterns(value: string): string {
  const entries = value.split(',');
  for (const raw of entries) {
    const p = raw.startsWith('!') ? raw.slice(1) : raw;
    if (p === '') throw new Error(`from="${value}": empty pattern`);
    if (p.includes('/') && !parseCidr(p)) throw new Error(`from="${value}": "${p}" is not a valid CIDR range`);
  }
  return value;
}

function addressMatches(address: string, pattern: string): boolean {
  const family = net.isIP(address);
  if (pattern.includes('/')) {
    const cidr = parseCidr(pattern);
    return cidr !== undefined && cidrContains(cidr, address);
  }
  const patternFamily = net.isIP(pattern);
  if (patternFamily && family) return patternFamily === family && cidrContains(parseCidr(pattern)!, address);
  return opensshMatch(address.toLowerCase(), pattern.toLowerCase());
}

/**
 * sshd's from="…" check (match_host_and_ip without DNS): true when some pattern matches the
 * client address and no negated (`!`) pattern does.
 */
export function matchFrom(address: string, patterns: string): boolean {
  const addr = unmapAddress(address);
  let matched = false;
  for (const raw of patterns.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (!addressMatches(addr, pattern)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

// ------------------------------------------------------------------ the file

/**
 * The authorized_keys file, read again on every call to `load()` (cheap: the parse is reused
 * while the content is unchanged). `onParseErrors` hears about skipped lines once per content.
 */
export class AuthorizedKeysFile {
  private cache: { text: string; result: AuthorizedKeysParseResult } | undefined;

  constructor(readonly path: string, private readonly onParseErrors?: (errors: AuthorizedKeysParseResult['errors']) => void) {}

  async load(): Promise<AuthorizedKey[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `authorizedKeysFile: cannot read ${this.path} (${(err as NodeJS.ErrnoException).code ?? String(err)}); no key can log in until it is readable.`, { cause: err });
    }
    if (this.cache?.text !== text) {
      const result = parseAuthorizedKeys(text);
      this.cache = { text, result };
      if (result.errors.length) this.onParseErrors?.(result.errors);
    }
    return this.cache.result.keys;
  }
}
