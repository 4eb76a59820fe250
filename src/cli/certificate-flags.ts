// Which certificate goes with which key in `edge-agent tunnel`, as ssh does it: `-i KEY` also
// uses `KEY-cert.pub` when that file exists, and `--cert FILE` (ssh's CertificateFile) names
// one explicitly; it belongs to the key whose public half it certifies.
import { existsSync, readFileSync } from 'node:fs';
import { parseKey } from '../ssh2/client-modules.js';
import { parseCertificateLine } from '../certificates/openssh-certificate.js';
import type { AuthConfig } from '../session/session-config.js';
import { UsageError } from './usage-error.js';
import { fileErrorReason } from '../lifecycle/errno.js';

type PrivateKeys = NonNullable<AuthConfig['privateKeys']>;

/** Sets `certificateFile` on the keys (in place); throws UsageError for a --cert that fits no key. */
export function attachCertificates(keys: PrivateKeys, certFlags: string[]): void {
  for (const file of certFlags) {
    let certified: Buffer;
    try {
      certified = parseCertificateLine(readFileSync(file, 'utf8')).publicKey.blob;
    } catch (err) {
      throw new UsageError(`--cert ${file}: ${fileErrorReason(err)}`);
    }
    // With one key there is nothing to match (a mismatch is reported by the session, naming both).
    const owner = keys.length === 1 ? keys[0] : keys.find((k) => publicBlob(k)?.equals(certified));
    if (!owner) throw new UsageError(`--cert ${file}: it certifies none of the -i keys (${keys.map((k) => k.source).join(', ') || 'none given'})`);
    owner.certificateFile = file;
  }
  for (const key of keys) {
    const sibling = `${key.source}-cert.pub`;
    if (key.certificateFile === undefined && existsSync(sibling)) key.certificateFile = sibling;
  }
}

function publicBlob(k: PrivateKeys[number]): Buffer | undefined {
  const parsed = parseKey(k.key, k.passphrase);
  if (parsed instanceof Error) return undefined;
  return (Array.isArray(parsed) ? parsed[0] : parsed)?.getPublicSSH();
}
