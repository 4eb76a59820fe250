// Detached ed25519 signatures on assignment documents.
//
// Scheme (on when assignments.signingPublicKey is set):
//   The fleet endpoint sends the response header
//       X-Edge-Signature: ed25519=<base64 of the 64-byte ed25519 signature>
//   computed over the EXACT bytes of the response body (no canonicalization: sign the bytes you
//   serve, serve the bytes you signed). Several comma-separated `ed25519=…` entries (or several
//   headers) are allowed, e.g. during a key rotation: the document is accepted when any one of
//   them verifies against the configured public key. Entries with other algorithm names are
//   ignored. base64 and base64url are both accepted. An unsigned or badly signed document is
//   rejected whole; the last good document keeps running.
//   `edge-agent sign --key KEY DOCUMENT.json` prints the header value.
import { createPrivateKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type ssh2Types from 'ssh2';

export const SIGNATURE_HEADER = 'X-Edge-Signature';
export const SIGNATURE_ALGORITHM = 'ed25519';

export type SignatureVerdict = { ok: true } | { ok: false; reason: string; missing: boolean };

/** The signature header value for `body`: `ed25519=<base64>`. */
export function signAssignmentBody(body: Uint8Array, privateKey: KeyObject): string {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`expected an ed25519 private key, got ${privateKey.asymmetricKeyType ?? 'an unknown key type'}`);
  return `${SIGNATURE_ALGORITHM}=${cryptoSign(null, body, privateKey).toString('base64')}`;
}

/** The ed25519 signatures in one or more header values (entries that are not `ed25519=` are skipped). */
export function parseSignatureHeader(value: string | readonly string[] | undefined | null): Buffer[] {
  if (value === undefined || value === null) return [];
  const values = typeof value === 'string' ? [value] : value;
  const out: Buffer[] = [];
  for (const v of values) {
    for (const entry of v.split(',')) {
      const m = /^\s*([A-Za-z0-9-]+)\s*=\s*([A-Za-z0-9+/_-]+={0,2})\s*$/.exec(entry);
      if (!m || m[1]!.toLowerCase() !== SIGNATURE_ALGORITHM) continue;
      const sig = Buffer.from(m[2]!.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
      if (sig.length === 64) out.push(sig);
    }
  }
  return out;
}

/** Checks the detached signature(s) in `header` over `body`. Never throws. */
export function verifyAssignmentSignature(body: Uint8Array, header: string | readonly string[] | undefined | null, publicKey: KeyObject): SignatureVerdict {
  const present = header !== undefined && header !== null && (typeof header === 'string' ? header.trim() !== '' : header.some((h) => h.trim() !== ''));
  if (!present) {
    return { ok: false, missing: true, reason: `the document is unsigned (no ${SIGNATURE_HEADER} header) and assignments.signingPublicKey requires a signature` };
  }
  const signatures = parseSignatureHeader(header);
  if (signatures.length === 0) {
    return { ok: false, missing: false, reason: `the ${SIGNATURE_HEADER} header holds no "${SIGNATURE_ALGORITHM}=<base64 of 64 bytes>" entry` };
  }
  for (const sig of signatures) {
    try {
      if (cryptoVerify(null, body, publicKey, sig)) return { ok: true };
    } catch {
      /* a malformed signature simply does not verify */
    }
  }
  return {
    ok: false,
    missing: false,
    reason: `the ${SIGNATURE_HEADER} signature does not verify against assignments.signingPublicKey (the body was changed after signing, or it was signed with another key)`,
  };
}

/**
 * Reads an ed25519 private key: PKCS#8 PEM (`openssl genpkey -algorithm ed25519`) or OpenSSH
 * (`ssh-keygen -t ed25519`), optionally encrypted with `passphrase`.
 */
export function loadSigningPrivateKey(data: Buffer | string, passphrase?: string): KeyObject {
  const text = Buffer.isBuffer(data) ? data.toString('utf8') : data;
  let key: KeyObject;
  if (text.includes('-----BEGIN OPENSSH PRIVATE KEY-----')) {
    // ssh2 only here (the `sign` command): the agent's main thread verifies without loading it.
    const ssh2 = createRequire(import.meta.url)('ssh2') as typeof ssh2Types;
    const parsed = ssh2.utils.parseKey(Buffer.from(text), passphrase);
    if (parsed instanceof Error) throw new Error(`cannot read the OpenSSH private key (${parsed.message})`);
    const first = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!first || first.type !== 'ssh-ed25519') throw new Error(`expected an ed25519 key, got ${first?.type ?? 'nothing'}`);
    key = createPrivateKey(first.getPrivatePEM());
  } else {
    try {
      key = passphrase === undefined ? createPrivateKey(text) : createPrivateKey({ key: text, passphrase });
    } catch (err) {
      throw new Error(`cannot read the private key (${(err as Error).message}); expected a PEM ("BEGIN PRIVATE KEY") or OpenSSH ed25519 key`);
    }
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`expected an ed25519 key, got ${key.asymmetricKeyType ?? 'an unknown key type'}`);
  return key;
}
