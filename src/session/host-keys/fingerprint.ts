// Host key fingerprints in the forms OpenSSH prints them, and parsing of the fingerprints an
// operator pins in config. Operators copy fingerprints from `ssh-keygen -lf`, from
// `ssh -v` output or from a cloud console (which often shows hex), so every common
// spelling is accepted, but anything ambiguous or truncated is rejected at config time
// rather than silently never matching.

import { createHash, timingSafeEqual } from 'node:crypto';
import { EdgeError } from '../../errors.js';

export interface KeyFingerprints {
  keyType: string;
  /** `SHA256:` + unpadded base64, exactly as `ssh-keygen -lf` prints it. */
  sha256: string;
  /** Lower-case, colon-separated hex of the SHA-256 digest. */
  sha256Hex: string;
  /** `MD5:aa:bb:…`, as `ssh-keygen -l -E md5` prints it. */
  md5: string;
}

export interface PinnedFingerprint {
  algorithm: 'sha256' | 'md5';
  digest: Buffer;
  /** Canonical spelling for messages (`SHA256:…` or `MD5:…`). */
  display: string;
}

const ACCEPTED_FORMS =
  'accepted forms: "SHA256:<base64>" (as printed by `ssh-keygen -lf`, "=" padding optional), ' +
  '64 hex digits of SHA-256 (colons optional, optional "SHA256:" prefix), ' +
  '"MD5:<32 hex digits>" (colons optional) or 16 colon-separated hex bytes (aa:bb:…)';

/** Reads the first SSH wire string (uint32 length + bytes) of a public key blob: its type. */
export function keyTypeOf(keyBlob: Buffer): string {
  // A key type is a short ASCII name; anything else means the blob is not an SSH public key.
  if (keyBlob.length < 4) throw malformedBlob('shorter than a length prefix');
  const len = keyBlob.readUInt32BE(0);
  if (len === 0 || len > 256 || 4 + len > keyBlob.length) throw malformedBlob('bad key type length');
  const type = keyBlob.subarray(4, 4 + len).toString('latin1');
  if (!/^[\x21-\x7e]+$/.test(type)) throw malformedBlob('key type is not printable ASCII');
  return type;
}

function malformedBlob(why: string): EdgeError {
  // The blob arrives from the server during key exchange, so a bad one is a protocol problem.
  return new EdgeError('EDGE_ERR_PROTOCOL', `Malformed SSH public key blob (${why}).`);
}

export function fingerprintsOf(keyBlob: Buffer): KeyFingerprints {
  const keyType = keyTypeOf(keyBlob);
  const sha = createHash('sha256').update(keyBlob).digest();
  const md5 = createHash('md5').update(keyBlob).digest();
  return {
    keyType,
    sha256: 'SHA256:' + sha.toString('base64').replace(/=+$/, ''),
    sha256Hex: colonHex(sha),
    md5: 'MD5:' + colonHex(md5),
  };
}

function colonHex(digest: Buffer): string {
  return digest.toString('hex').replace(/(..)(?!$)/g, '$1:');
}

/**
 * Normalizes a pinned fingerprint. `configKey` (e.g. `hostKeys.fingerprints[0]`) is named in
 * the error so the operator knows which entry to fix.
 */
export function parsePinnedFingerprint(text: string, configKey: string): PinnedFingerprint {
  const fail = (why: string): never => {
    throw new EdgeError(
      'EDGE_ERR_INVALID_CONFIG',
      `${configKey} is not a valid host key fingerprint (${why}): ${JSON.stringify(text)}; ${ACCEPTED_FORMS}.`,
    );
  };
  if (typeof text !== 'string') return fail('not a string');
  const s = text.trim();
  if (s === '') return fail('empty');

  const prefix = /^(sha256|md5):/i.exec(s)?.[1]?.toLowerCase();
  const body = prefix ? s.slice(prefix.length + 1) : s;

  if (prefix === 'sha256') {
    // Hex is checked first: 64 hex digits can never be the 43-character base64 form.
    const hex = parseHex(body, 32, true);
    if (hex) return pinned('sha256', hex);
    const b64 = parseUnpaddedBase64Digest(body, 32);
    if (b64) return pinned('sha256', b64);
    return fail('after "SHA256:" expected 43 base64 characters or 64 hex digits');
  }
  if (prefix === 'md5') {
    const hex = parseHex(body, 16, true);
    if (hex) return pinned('md5', hex);
    return fail('after "MD5:" expected 32 hex digits');
  }
  // Bare forms: SHA-256 hex with or without colons; MD5 only with colons, because 32 bare hex
  // digits look too much like half a pasted SHA-256 digest to guess.
  const sha = parseHex(body, 32, true);
  if (sha) return pinned('sha256', sha);
  const md5 = parseHex(body, 16, false);
  if (md5) return pinned('md5', md5);
  return fail('unrecognized format');
}

function pinned(algorithm: 'sha256' | 'md5', digest: Buffer): PinnedFingerprint {
  const display =
    algorithm === 'sha256' ? 'SHA256:' + digest.toString('base64').replace(/=+$/, '') : 'MD5:' + colonHex(digest);
  return { algorithm, digest, display };
}

/** Hex digest of exactly `bytes` bytes: either all colon-separated pairs, or (if allowed) no colons. */
function parseHex(s: string, bytes: number, allowBare: boolean): Buffer | undefined {
  const colon = new RegExp(`^[0-9a-f]{2}(?::[0-9a-f]{2}){${bytes - 1}}$`, 'i');
  const bare = new RegExp(`^[0-9a-f]{${bytes * 2}}$`, 'i');
  if (colon.test(s) || (allowBare && bare.test(s))) return Buffer.from(s.replace(/:/g, ''), 'hex');
  return undefined;
}

function parseUnpaddedBase64Digest(s: string, bytes: number): Buffer | undefined {
  const unpadded = s.replace(/=+$/, '');
  const chars = Math.ceil((bytes * 4) / 3);
  if (unpadded.length !== chars || !/^[A-Za-z0-9+/]+$/.test(unpadded)) return undefined;
  const buf = Buffer.from(unpadded, 'base64');
  // Node's decoder is lenient; a round trip rejects non-canonical trailing bits (a typo).
  if (buf.length !== bytes || buf.toString('base64').replace(/=+$/, '') !== unpadded) return undefined;
  // Padding, if present, must be the correct amount.
  if (s.length !== unpadded.length && s !== buf.toString('base64')) return undefined;
  return buf;
}

export function matchesPinned(keyBlob: Buffer, pinnedFp: PinnedFingerprint): boolean {
  const digest = createHash(pinnedFp.algorithm).update(keyBlob).digest();
  // Lengths are fixed per algorithm, so timingSafeEqual's equal-length rule always holds.
  return digest.length === pinnedFp.digest.length && timingSafeEqual(digest, pinnedFp.digest);
}
