// An OpenSSH known_hosts parser and matcher. The agent must accept exactly the files an
// operator already uses with `ssh`, `ssh-keyscan` and `ssh-keygen -H`, so matching follows
// OpenSSH (hostfile.c / match.c): the name looked up is `host` on port 22 and `[host]:port`
// otherwise, patterns are case-insensitive globs with `*`/`?`, `!` negates, and a hashed
// field is HMAC-SHA1(salt, name).

import { createHmac, timingSafeEqual } from 'node:crypto';
import { opensshMatch } from '../../grammar/patterns.js';
import { keyTypeOf } from './fingerprint.js';

export type HostMatcher =
  | { kind: 'hashed'; salt: Buffer; hash: Buffer }
  | { kind: 'patterns'; positive: string[]; negative: string[] };

export interface KnownHostsEntry {
  source: string;
  /** 1-based line number in `source`. */
  line: number;
  marker: 'revoked' | 'cert-authority' | null;
  /** The host field as written (a pattern list or a `|1|salt|hash`). */
  hosts: string;
  matcher: HostMatcher;
  keyType: string;
  keyBlob: Buffer;
  comment: string;
}

export interface KnownHostsProblem {
  source: string;
  line: number;
  reason: string;
}

export interface KnownHostsLookup {
  result: 'match' | 'mismatch' | 'revoked' | 'unknown';
  /** The matching line (match) or the revoking line (revoked). */
  entry?: KnownHostsEntry;
  /** For mismatch: the lines that apply to this host, none of which has the offered key. */
  expected?: KnownHostsEntry[];
  /** `@cert-authority` lines that apply to this host; certificates are not supported, so callers report them. */
  certAuthorities?: KnownHostsEntry[];
}

/**
 * Parses known_hosts text. Malformed lines are skipped (as OpenSSH does) and, when `problems` is
 * given, described there with their line numbers so the caller can log `file:line`.
 */
export function parseKnownHosts(text: string, source: string, problems?: KnownHostsProblem[]): KnownHostsEntry[] {
  const entries: KnownHostsEntry[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const parsed = parseLine(raw, source, line);
    if (parsed === null) return;
    if (typeof parsed === 'string') problems?.push({ source, line, reason: parsed });
    else entries.push(parsed);
  });
  return entries;
}

/** Returns an entry, null for blank/comment lines, or a string describing why the line is malformed. */
function parseLine(raw: string, source: string, line: number): KnownHostsEntry | string | null {
  const trimmed = raw.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return null;
  const fields = trimmed.split(/[ \t]+/);

  let marker: KnownHostsEntry['marker'] = null;
  if (fields[0]!.startsWith('@')) {
    const m = fields.shift()!;
    if (m === '@revoked') marker = 'revoked';
    else if (m === '@cert-authority') marker = 'cert-authority';
    else return `unknown marker ${JSON.stringify(m)} (expected @revoked or @cert-authority)`;
  }
  if (fields.length < 3) {
    // Two fields with a numeric second is the SSH-1 RSA format, long gone from OpenSSH.
    return fields.length < 2 ? 'missing key type and key' : 'missing key (expected: hosts keytype base64-key [comment])';
  }
  const [hosts, keyType, keyB64, ...rest] = fields as [string, string, string, ...string[]];
  if (/^\d+$/.test(keyType)) return 'SSH-1 RSA key lines are not supported';

  const matcher = parseHostField(hosts);
  if (typeof matcher === 'string') return matcher;

  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(keyB64) || keyB64.length % 4 !== 0) return 'key is not valid base64';
  const keyBlob = Buffer.from(keyB64, 'base64');
  let blobType: string;
  try {
    blobType = keyTypeOf(keyBlob);
  } catch {
    return 'key blob is malformed';
  }
  if (blobType !== keyType) return `key type ${keyType} does not match the key, which is ${blobType}`;
  // A truncated paste would otherwise sit in the file as a key that silently never matches.
  if (!isStringSequence(keyBlob)) return 'key blob is truncated or malformed';

  return { source, line, marker, hosts, matcher, keyType, keyBlob, comment: rest.join(' ') };
}

function parseHostField(hosts: string): HostMatcher | string {
  if (hosts.startsWith('|')) {
    // OpenSSH compares the whole field with one hash, so a hashed field is never a list.
    const m = /^\|1\|([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)$/.exec(hosts);
    if (!m) return 'malformed hashed host (expected |1|base64-salt|base64-hash)';
    const salt = Buffer.from(m[1]!, 'base64');
    const hash = Buffer.from(m[2]!, 'base64');
    if (salt.length !== 20 || hash.length !== 20) return 'malformed hashed host (salt and hash must be 20 bytes)';
    return { kind: 'hashed', salt, hash };
  }
  const positive: string[] = [];
  const negative: string[] = [];
  for (const p of hosts.toLowerCase().split(',')) {
    if (p.startsWith('!')) {
      if (p.length > 1) negative.push(p.slice(1));
    } else if (p !== '') positive.push(p);
  }
  if (positive.length === 0) return 'host field has no (non-negated) host pattern';
  return { kind: 'patterns', positive, negative };
}

/** Plain public key blobs (rsa, ecdsa, ed25519, dss, sk-*) are a sequence of uint32-length strings. */
function isStringSequence(blob: Buffer): boolean {
  let off = 0;
  while (off < blob.length) {
    if (off + 4 > blob.length) return false;
    off += 4 + blob.readUInt32BE(off);
  }
  return off === blob.length;
}

/** The name OpenSSH looks up (and hashes): `host` for port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

export function entryAppliesTo(entry: KnownHostsEntry, name: string): boolean {
  const m = entry.matcher;
  if (m.kind === 'hashed') {
    const h = createHmac('sha1', m.salt).update(name).digest();
    return timingSafeEqual(h, m.hash);
  }
  // A negated match vetoes the line even when a positive pattern also matches.
  if (m.negative.some((p) => opensshMatch(name, p))) return false;
  return m.positive.some((p) => opensshMatch(name, p));
}

export function lookupKnownHosts(
  entries: readonly KnownHostsEntry[],
  host: string,
  port: number,
  keyBlob: Buffer,
): KnownHostsLookup {
  // Revocation is about the key, not the host: a revoked key is refused whatever line names it.
  const revoked = entries.find((e) => e.marker === 'revoked' && e.keyBlob.equals(keyBlob));
  if (revoked) return { result: 'revoked', entry: revoked };

  const name = knownHostsName(host, port);
  const applicable = entries.filter((e) => e.marker !== 'revoked' && entryAppliesTo(e, name));
  const plain = applicable.filter((e) => e.marker === null);
  const cas = applicable.filter((e) => e.marker === 'cert-authority');
  const extra = cas.length > 0 ? { certAuthorities: cas } : {};

  const hit = plain.find((e) => e.keyBlob.equals(keyBlob));
  if (hit) return { result: 'match', entry: hit, ...extra };
  if (plain.length > 0) return { result: 'mismatch', expected: plain, ...extra };
  return { result: 'unknown', ...extra };
}
