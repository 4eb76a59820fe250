// Value formats shared by the convict schema, the JSON-schema checks and the modules that use
// the values (admin server, assignment source). Each parser throws a plain Error whose message
// is a reason (no key name): callers prefix the key.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { checkHost, formatHost, splitHostPort } from '../src/grammar/host-name.js';
import { redactCredentials } from '../src/grammar/redact.js';

/** Environment variable names we accept for `…Env` settings. */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Session, forward and credential ids: safe in logs, metric labels and file names. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const ID_RULE = 'letters, digits, ".", "_" and "-" only, starting with a letter or digit, at most 64 characters';

/** setTimeout's limit: longer delays fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

export interface ListenAddress {
  /** Unbracketed (IPv6 ready for net.listen). */
  host: string;
  /** 0 = any free port. */
  port: number;
}

/** Parses `host:port`, `[v6]:port`. */
export function parseListenAddress(text: string): ListenAddress {
  if (typeof text !== 'string') throw new Error('must be a string "host:port"');
  const { host: rawHost, port: rawPort } = splitHostPort(text, '[::1]:9480');
  if (rawPort === undefined) throw new Error(`"${text}" has no port; expected host:port, e.g. 127.0.0.1:9480 or [::1]:9480`);
  if (rawHost === '') throw new Error(`"${text}" has no host; expected host:port, e.g. 127.0.0.1:9480`);
  if (!/^\d{1,5}$/.test(rawPort) || Number(rawPort) > 65535) throw new Error(`port "${rawPort}" must be a number 0-65535`);
  const checked = checkHost(rawHost);
  if (checked.error !== undefined) throw new Error(checked.error);
  return { host: checked.host, port: Number(rawPort) };
}

export function formatListenAddress(address: ListenAddress): string {
  return `${formatHost(address.host)}:${address.port}`;
}

/** `""` or an http(s) URL for the assignment endpoint. Messages never echo credentials. */
export function checkAssignmentsUrl(text: string): void {
  if (text === '') return;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // The value is not echoed: a URL may carry a token.
    throw new Error('is not a valid URL (expected https://host/path, or "" for static sessions only)');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`unsupported scheme "${url.protocol}" (expected https: or http:)`);
  }
}

/**
 * The ed25519 public key assignment documents are signed with. Accepted forms: PEM
 * (`-----BEGIN PUBLIC KEY-----`), an OpenSSH line (`ssh-ed25519 AAAA… [comment]`), or the raw
 * 32-byte key in base64/base64url.
 */
export function parseSigningPublicKey(text: string): KeyObject {
  const s = text.trim();
  if (s === '') throw new Error('the key is empty');
  if (s.startsWith('-----BEGIN')) {
    let key: KeyObject;
    try {
      key = createPublicKey(s);
    } catch (err) {
      throw new Error(`not a readable PEM public key (${(err as Error).message})`);
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`expected an ed25519 key, got ${key.asymmetricKeyType ?? 'an unknown key type'}`);
    return key;
  }
  let raw: Buffer | undefined;
  const ssh = /^ssh-ed25519\s+([A-Za-z0-9+/=]+)(\s.*)?$/.exec(s);
  if (ssh) {
    const blob = Buffer.from(ssh[1]!, 'base64');
    const typeLen = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
    if (typeLen === 11 && blob.subarray(4, 15).toString('latin1') === 'ssh-ed25519' && blob.length === 15 + 4 + 32 && blob.readUInt32BE(15) === 32) {
      raw = blob.subarray(19);
    } else {
      throw new Error('the ssh-ed25519 key blob is malformed');
    }
  } else if (/^ssh-|^ecdsa-/.test(s)) {
    throw new Error(`expected an ed25519 key, got ${s.split(/\s/)[0]}`);
  } else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(s)) {
    raw = Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  }
  if (!raw || raw.length !== 32) {
    throw new Error('expected a PEM public key, an "ssh-ed25519 AAAA…" line or 32 bytes of base64');
  }
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

/** "host:port" patterns etc. are strings; a short, safe rendering of any value for messages. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') {
    const shown = redactCredentials(value);
    return JSON.stringify(shown.length > 60 ? shown.slice(0, 57) + '...' : shown);
  }
  return String(value);
}
