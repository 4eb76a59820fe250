// The gateway's user certificate logins, as sshd checks them (auth2-pubkey.c, auth-options.c):
// the certificate's CA is listed in --trusted-user-ca-keys (TrustedUserCAKeys); it is a user
// certificate, valid now; one of its principals is the SSH user name, or one the user is
// given in --authorized-principals; its source-address critical option admits the client;
// neither the CA, the key, nor the certificate (CA + serial, or key id) is in --revoked-keys;
// unknown critical options refuse it (as sshd does). The `permit-port-forwarding` extension is
// required for forwards (the options returned carry it, the listen policy enforces it).
// Files are read again at every login, so edits apply without a restart.
import { readFile } from 'node:fs/promises';
import ssh2, { type ParsedKey } from 'ssh2';
import {
  checkValidity, criticalOption, describeCertificate, hasExtension, isCertificateType, parseCertificateBlob, verifyCertificateSignature,
  type OpenSshCertificate,
} from '../certificates/openssh-certificate.js';
import { parseSshPublicKeyBlob, verifySshSignature } from '../certificates/ssh-public-key.js';
import { createOriginAllowList } from '../grammar/origin-allow-list.js';
import { EdgeError } from '../errors.js';
import type { AuthorizedKey, KeyOptions } from './authorized-keys.js';

export interface UserCertificateAuthOptions {
  /** CA public keys, one per line (sshd TrustedUserCAKeys). */
  trustedUserCaKeysFile: string;
  /** Lines `USER PRINCIPAL[,PRINCIPAL…]` (`*` = every user); without it the principal must be the user name. */
  authorizedPrincipalsFile?: string;
  /** Public keys or certificates, one per line, plus `serial: N[-M]` and `id: KEYID` lines (any trusted CA). */
  revokedKeysFile?: string;
}

/** Who logged in, for forward ownership, status and logs. */
export interface CertificateIdentity {
  kind: 'certificate';
  keyId: string;
  serial: string;
  /** `SHA256:…` of the signing CA. */
  ca: string;
  /** `SHA256:…` of the certified key. */
  fingerprint: string;
  principals: string[];
}

export type CertificateDecision =
  | { ok: true; cert: OpenSshCertificate; identity: CertificateIdentity; options: KeyOptions; signed: boolean }
  | { ok: false; reason: string };

interface Revocations { blobs: Buffer[]; serials: Array<[bigint, bigint]>; ids: Set<string>; certs: Array<{ ca: Buffer; serial: bigint }> }

export class UserCertificateAuth {
  constructor(private readonly opts: UserCertificateAuthOptions) {}

  /** Whether the offered key algorithm is a certificate (else the authorized_keys path applies). */
  static offered(keyAlgo: string): boolean {
    return isCertificateType(keyAlgo.replace(/^rsa-sha2-(256|512)-cert-v01@openssh\.com$/, 'ssh-rsa-cert-v01@openssh.com'));
  }

  /** Reads the files now; throws EDGE_ERR_INVALID_CONFIG naming the file (for start-up checks). */
  async check(): Promise<void> {
    await this.trustedCas();
    await this.principalsFor('');
    await this.revocations();
  }

  /**
   * Decides a certificate login. `signature`/`signedData` are absent for the "would this key do"
   * query that precedes the signed request.
   */
  async decide(req: { username: string; keyAlgo: string; keyBlob: Buffer; signature?: Buffer; signedData?: Buffer; remoteAddress: string; nowMs: number }): Promise<CertificateDecision> {
    let cert: OpenSshCertificate;
    try {
      cert = parseCertificateBlob(req.keyBlob);
      verifyCertificateSignature(cert);
    } catch (err) {
      return { ok: false, reason: `certificate is malformed or its CA signature does not verify (${(err as Error).message})` };
    }
    const what = describeCertificate(cert);
    const refuse = (why: string): CertificateDecision => ({ ok: false, reason: `${what}: ${why}` });
    if (cert.kind !== 'user') return refuse('a host certificate cannot log in');
    if (!(await this.trustedCas()).some((ca) => ca.equals(cert.caKeyBlob))) return refuse(`CA ${cert.caFingerprint} is not in ${this.opts.trustedUserCaKeysFile}`);
    const revoked = await this.revocations();
    if (revoked.blobs.some((b) => b.equals(cert.caKeyBlob))) return refuse(`its CA is revoked (${this.opts.revokedKeysFile})`);
    if (revoked.blobs.some((b) => b.equals(cert.publicKey.blob))) return refuse(`its key is revoked (${this.opts.revokedKeysFile})`);
    if (revoked.certs.some((c) => c.ca.equals(cert.caKeyBlob) && c.serial === cert.serial)
      || revoked.serials.some(([lo, hi]) => cert.serial >= lo && cert.serial <= hi)) return refuse(`serial ${cert.serial} is revoked (${this.opts.revokedKeysFile})`);
    if (revoked.ids.has(cert.keyId)) return refuse(`key id "${cert.keyId}" is revoked (${this.opts.revokedKeysFile})`);
    const problem = checkValidity(cert, req.nowMs);
    if (problem) return refuse(`${problem.problem === 'expired' ? 'expired' : 'not yet valid'} (valid-after ${problem.validAfter?.toISOString() ?? 'always'}, valid-before ${problem.validBefore?.toISOString() ?? 'forever'})`);
    const accepted = await this.principalsFor(req.username);
    if (!cert.principals.some((p) => accepted.includes(p))) {
      return refuse(`its principals (${cert.principals.join(', ') || 'none'}) include none accepted for user "${req.username}" (${accepted.join(', ')})`);
    }
    for (const o of cert.criticalOptions) {
      if (o.name === 'source-address') {
        let allows = false;
        try { allows = createOriginAllowList(o.value.split(','), 'source-address').allows(req.remoteAddress); } catch { return refuse(`its source-address "${o.value}" is invalid`); }
        if (!allows) return refuse(`source-address "${o.value}" does not admit ${req.remoteAddress}`);
      } else if (o.name !== 'force-command' && o.name !== 'verify-required') {
        return refuse(`unknown critical option "${o.name}"`);
      }
      // force-command: the gateway runs no commands at all; verify-required: FIDO keys are not accepted here.
    }
    let signed = false;
    if (req.signature && req.signedData) {
      try {
        const algorithm = verifySshSignature(parseSshPublicKeyBlob(cert.publicKey.blob), req.signedData, req.signature);
        if (cert.keyType === 'ssh-rsa' && algorithm === 'ssh-rsa') return refuse('SHA-1 signatures are not accepted');
      } catch (err) {
        return refuse(`the signature does not verify (${(err as Error).message})`);
      }
      signed = true;
    }
    const forwarding = hasExtension(cert, 'permit-port-forwarding');
    return {
      ok: true, cert, signed,
      identity: { kind: 'certificate', keyId: cert.keyId, serial: cert.serial.toString(), ca: cert.caFingerprint, fingerprint: cert.keyFingerprint, principals: [...cert.principals] },
      options: {
        restrict: false, remoteForwarding: forwarding, localForwarding: forwarding, portForwarding: forwarding, permitListen: [], permitOpen: [], principals: [],
        ...(criticalOption(cert, 'source-address') ? { from: criticalOption(cert, 'source-address') } : {}), certAuthority: false,
      },
    };
  }

  private async trustedCas(): Promise<Buffer[]> {
    return (await readKeyLines(this.opts.trustedUserCaKeysFile, 'trusted-user-ca-keys')).map((l) => l.blob);
  }

  private async principalsFor(user: string): Promise<string[]> {
    if (!this.opts.authorizedPrincipalsFile) return [user];
    const text = await readText(this.opts.authorizedPrincipalsFile, 'authorized-principals');
    const out: string[] = [];
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      const [who, list] = line.split(/\s+/, 2);
      if ((who === user || who === '*') && list) out.push(...list.split(',').filter(Boolean));
    }
    return out;
  }

  private async revocations(): Promise<Revocations> {
    const r: Revocations = { blobs: [], serials: [], ids: new Set(), certs: [] };
    if (!this.opts.revokedKeysFile) return r;
    const text = await readText(this.opts.revokedKeysFile, 'revoked-keys');
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      const where = `${this.opts.revokedKeysFile}:${i + 1}`;
      const serial = /^serial:\s*(\d+)(?:\s*-\s*(\d+))?$/i.exec(line);
      if (serial) return void r.serials.push([BigInt(serial[1]!), BigInt(serial[2] ?? serial[1]!)]);
      const id = /^id:\s*(.+)$/i.exec(line);
      if (id) return void r.ids.add(id[1]!.trim());
      const fields = line.split(/\s+/);
      const blob = Buffer.from(fields[1] ?? '', 'base64');
      try {
        if (isCertificateType(fields[0]!)) {
          const cert = parseCertificateBlob(blob);
          r.certs.push({ ca: cert.caKeyBlob, serial: cert.serial });
          r.blobs.push(cert.publicKey.blob);
        } else {
          parseSshPublicKeyBlob(blob);
          r.blobs.push(blob);
        }
      } catch (err) {
        // Unparseable revocation data must fail closed, as sshd does with a bad RevokedKeys file.
        throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `revoked-keys: ${where} is not a public key, certificate, "serial: N[-M]" or "id: KEYID" line (${(err as Error).message}).`);
      }
    });
    return r;
  }
}

async function readText(file: string, flag: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `--${flag} ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}).`);
  }
}

async function readKeyLines(file: string, flag: string): Promise<Array<{ blob: Buffer }>> {
  const text = await readText(file, flag);
  const out: Array<{ blob: Buffer }> = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const blob = Buffer.from(line.split(/\s+/)[1] ?? '', 'base64');
    try {
      parseSshPublicKeyBlob(blob);
    } catch (err) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `--${flag} ${file}:${i + 1} is not a CA public key (${(err as Error).message}).`);
    }
    out.push({ blob });
  });
  return out;
}

/** The certificate in the shape the gateway's forward policy reads (options from its extensions). */
export function certificateAsAuthorizedKey(cert: OpenSshCertificate, options: KeyOptions): AuthorizedKey {
  const parsed = ssh2.utils.parseKey(cert.publicKey.blob);
  return {
    line: 0,
    keyType: cert.certType,
    key: (Array.isArray(parsed) ? parsed[0] : parsed) as ParsedKey,
    blob: cert.blob,
    fingerprint: cert.keyFingerprint,
    comment: `certificate "${cert.keyId}" serial ${cert.serial}`,
    options,
  };
}

/** How logs name a certificate login. */
export function describeCertificateLogin(id: CertificateIdentity): string {
  return `certificate "${id.keyId}" serial ${id.serial}, key ${id.fingerprint}, CA ${id.ca}`;
}
