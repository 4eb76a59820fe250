// Plain SSH public keys (ed25519, ECDSA P-256/384/521, RSA) as Node KeyObjects, and SSH
// signature verification with them. Used to check a certificate's CA signature; key blobs are
// turned into JWKs so Node's own crypto does the verification (no hand-written math).
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { SshWireError, SshWireReader } from './ssh-wire-reader.js';

const EC_CURVES: Record<string, { jwk: string; hash: string; size: number }> = {
  nistp256: { jwk: 'P-256', hash: 'sha256', size: 32 },
  nistp384: { jwk: 'P-384', hash: 'sha384', size: 48 },
  nistp521: { jwk: 'P-521', hash: 'sha512', size: 66 },
};

/** Signature algorithms accepted for each key type. SHA-1 `ssh-rsa` is refused, as OpenSSH ≥ 8.2 does for CA signatures. */
const SIGNATURE_ALGORITHMS: Record<string, Record<string, string | null>> = {
  'ssh-ed25519': { 'ssh-ed25519': null },
  'ecdsa-sha2-nistp256': { 'ecdsa-sha2-nistp256': 'sha256' },
  'ecdsa-sha2-nistp384': { 'ecdsa-sha2-nistp384': 'sha384' },
  'ecdsa-sha2-nistp521': { 'ecdsa-sha2-nistp521': 'sha512' },
  'ssh-rsa': { 'rsa-sha2-256': 'sha256', 'rsa-sha2-512': 'sha512' },
};

export interface SshPublicKey {
  /** ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa, … */
  type: string;
  /** The key's wire blob (what fingerprints are computed over). */
  blob: Buffer;
  key: KeyObject;
}

const b64url = (b: Buffer): string => b.toString('base64url');

/** Parses a plain public key blob; throws SshWireError for anything malformed or unsupported. */
export function parseSshPublicKeyBlob(blob: Buffer): SshPublicKey {
  const r = new SshWireReader(blob, 'public key');
  const type = r.text();
  const jwk = readPublicKeyFields(type, r);
  r.end();
  return { type, blob, key: createPublicKey({ key: jwk, format: 'jwk' }) };
}

/**
 * Reads the type-specific public fields of `type` from `r` (the same layout appears inside a
 * certificate after its nonce) and returns them as a JWK.
 */
export function readPublicKeyFields(type: string, r: SshWireReader): import('node:crypto').JsonWebKey {
  if (type === 'ssh-ed25519') {
    const pk = r.bytes();
    if (pk.length !== 32) throw new SshWireError('ed25519 public key must be 32 bytes');
    return { kty: 'OKP', crv: 'Ed25519', x: b64url(pk) };
  }
  if (type.startsWith('ecdsa-sha2-')) {
    const curveName = r.text();
    const curve = EC_CURVES[curveName];
    if (!curve || type !== `ecdsa-sha2-${curveName}`) throw new SshWireError(`unsupported ECDSA curve ${curveName}`);
    const q = r.bytes();
    if (q.length !== 1 + 2 * curve.size || q[0] !== 4) throw new SshWireError('ECDSA point must be uncompressed');
    return { kty: 'EC', crv: curve.jwk, x: b64url(q.subarray(1, 1 + curve.size)), y: b64url(q.subarray(1 + curve.size)) };
  }
  if (type === 'ssh-rsa') {
    const e = r.mpint();
    const n = r.mpint();
    if (n.length * 8 < 1024) throw new SshWireError('RSA keys shorter than 1024 bits are refused');
    return { kty: 'RSA', n: b64url(n), e: b64url(e) };
  }
  throw new SshWireError(`unsupported key type ${type}`);
}

/**
 * Verifies an SSH signature blob (string algorithm, string signature) over `data` with `key`.
 * Returns the signature algorithm on success; throws SshWireError with the reason otherwise.
 */
export function verifySshSignature(key: SshPublicKey, data: Buffer, signatureBlob: Buffer): string {
  const r = new SshWireReader(signatureBlob, 'signature');
  const algorithm = r.text();
  const sig = r.bytes();
  r.end();
  const allowed = SIGNATURE_ALGORITHMS[key.type];
  if (!allowed || !(algorithm in allowed)) {
    throw new SshWireError(`signature algorithm ${algorithm} is not accepted for a ${key.type} key`);
  }
  const hash = allowed[algorithm]!;
  let ok: boolean;
  if (key.type.startsWith('ecdsa-sha2-')) {
    const size = EC_CURVES[key.type.slice('ecdsa-sha2-'.length)]!.size;
    const rs = new SshWireReader(sig, 'ECDSA signature');
    const rr = rs.mpint();
    const ss = rs.mpint();
    rs.end();
    if (rr.length > size || ss.length > size) throw new SshWireError('ECDSA signature values too long');
    const p1363 = Buffer.concat([Buffer.alloc(size - rr.length), rr, Buffer.alloc(size - ss.length), ss]);
    ok = verify(hash, data, { key: key.key, dsaEncoding: 'ieee-p1363' }, p1363);
  } else {
    ok = verify(hash, data, key.key, sig);
  }
  if (!ok) throw new SshWireError('signature does not verify');
  return algorithm;
}

/** `SHA256:…` as `ssh-keygen -lf` prints it. */
export function sha256Fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}
