// The device's user certificate, read again at every connection attempt: short-lived
// certificates are renewed on disk by an external tool (step-ca, Vault, a cron job) and the
// next connect or reconnect must use the new one without a restart. Validity is checked here,
// before connecting, so an expired certificate is a clear EDGE_ERR_CERT_EXPIRED showing the
// window rather than a server's bare "permission denied".
import { readFileSync } from 'node:fs';
import type { ParsedKey } from 'ssh2';
import { EdgeError } from '../errors.js';
import {
  checkValidity, parseCertificateLine, validBeforeDate, type OpenSshCertificate,
} from '../certificates/openssh-certificate.js';
import { sha256Fingerprint } from '../certificates/ssh-public-key.js';
import { certificateKey } from '../ssh2/client-certificate-auth.js';
import { fileErrorReason } from '../lifecycle/errno.js';

/** What /status shows of a certificate (never key material). */
export interface CertificateSummary {
  keyId: string;
  serial: string;
  principals: string[];
  /** ISO time, or null when the certificate never expires. */
  validBefore: string | null;
  /** `SHA256:…` of the signing CA. */
  caFingerprint: string;
}

/** A key as offered to the server: a plain private key, or that key presenting its certificate. */
export interface AuthKey {
  key: ParsedKey;
  source: string;
  /** `SHA256:…` of the (plain) public key. */
  keyFingerprint: string;
  certificate?: { file: string; cert: OpenSshCertificate; summary: CertificateSummary };
}

export function summarizeCertificate(cert: OpenSshCertificate): CertificateSummary {
  return {
    keyId: cert.keyId,
    serial: cert.serial.toString(),
    principals: [...cert.principals],
    validBefore: validBeforeDate(cert)?.toISOString() ?? null,
    caFingerprint: cert.caFingerprint,
  };
}

/**
 * Reads and checks `file` as the certificate of `privateKey` (from `source`). Throws
 * EDGE_ERR_CERT_INVALID (unreadable, malformed, host certificate, another key's certificate)
 * or EDGE_ERR_CERT_EXPIRED (outside its validity window at `nowMs`).
 */
export function loadUserCertificate(file: string, privateKey: ParsedKey, source: string, nowMs: number): AuthKey {
  const details = { certificateFile: file, source };
  let cert: OpenSshCertificate;
  try {
    cert = parseCertificateLine(readFileSync(file, 'utf8'));
  } catch (err) {
    const why = fileErrorReason(err);
    throw new EdgeError('EDGE_ERR_CERT_INVALID', `Certificate ${file} could not be read: ${why}. Point certificateFile (or --cert) at the "-cert.pub" file ssh-keygen -s wrote.`, { details });
  }
  const keyFingerprint = sha256Fingerprint(privateKey.getPublicSSH());
  const name = `certificate ${file} ("${cert.keyId}", serial ${cert.serial})`;
  if (cert.kind !== 'user') {
    throw new EdgeError('EDGE_ERR_CERT_INVALID', `${name} is a host certificate; logging in needs a user certificate (ssh-keygen -s CA -I ID -n PRINCIPALS, without -h).`, { details });
  }
  if (!cert.publicKey.blob.equals(privateKey.getPublicSSH())) {
    throw new EdgeError('EDGE_ERR_CERT_INVALID', `${name} certifies key ${cert.keyFingerprint}, not the private key ${source} (${keyFingerprint}); sign ${source}.pub with the CA again.`, { details: { ...details, keyFingerprint, certifiedKey: cert.keyFingerprint } });
  }
  const problem = checkValidity(cert, nowMs);
  if (problem) {
    const validAfter = problem.validAfter?.toISOString() ?? null;
    const validBefore = problem.validBefore?.toISOString() ?? null;
    throw new EdgeError(
      'EDGE_ERR_CERT_EXPIRED',
      `${name} is ${problem.problem === 'expired' ? 'expired' : 'not yet valid'}: valid-after ${validAfter ?? 'always'}, valid-before ${validBefore ?? 'forever'}, now ${new Date(nowMs).toISOString()}. ` +
        (problem.problem === 'expired' ? 'Renew it (the file is read again at the next attempt).' : 'Check the device clock, or the -V window it was signed with.'),
      { details: { ...details, keyId: cert.keyId, serial: cert.serial.toString(), validAfter, validBefore } },
    );
  }
  return { key: certificateKey(privateKey, cert), source, keyFingerprint, certificate: { file, cert, summary: summarizeCertificate(cert) } };
}

/**
 * The keys for one connection attempt: each private key with a certificate file is offered as
 * its certificate (read now), the others as plain keys. A key with a certificate is offered
 * only as the certificate: the CA's principals and validity are the policy, and falling back to
 * the bare key would bypass them.
 */
export function keysForAttempt(keys: Array<{ key: ParsedKey; source: string; certificateFile?: string }>, nowMs: number): AuthKey[] {
  return keys.map(({ key, source, certificateFile }) =>
    certificateFile ? loadUserCertificate(certificateFile, key, source, nowMs) : { key, source, keyFingerprint: sha256Fingerprint(key.getPublicSSH()) });
}

/** Warn when less than this share of the certificate's lifetime is left (at least 5 minutes). */
export function expiryWarningAt(cert: OpenSshCertificate): number | null {
  const before = validBeforeDate(cert);
  if (!before) return null;
  const after = Number(cert.validAfter) * 1000;
  const lifetime = before.getTime() - after;
  return before.getTime() - Math.max(5 * 60_000, Math.floor(lifetime / 5));
}
