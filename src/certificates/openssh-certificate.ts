// OpenSSH certificates (PROTOCOL.certkeys, *-cert-v01@openssh.com): parsing, CA signature
// verification, validity and principal checks. Shared by the agent (its own user certificate,
// the gateway's host certificate) and the gateway (devices' user certificates), so the rules
// live in one place and follow sshd/ssh (auth2-pubkey.c, sshkey.c, ssh_check_cert in sshconnect.c).
import { readFileSync } from 'node:fs';
import { parseSshPublicKeyBlob, readPublicKeyFields, sha256Fingerprint, verifySshSignature, type SshPublicKey } from './ssh-public-key.js';
import { readStringList, sshString, SshWireError, SshWireReader } from './ssh-wire-reader.js';

export const CERT_TYPE_SUFFIX = '-cert-v01@openssh.com';
/** uint64 "forever" for valid-before. */
const FOREVER = 0xffff_ffff_ffff_ffffn;

export interface CertificateOption {
  name: string;
  /** The option's value: for source-address / force-command the inner string, else raw bytes as text. */
  value: string;
}

export interface OpenSshCertificate {
  /** Full certificate type, e.g. ssh-ed25519-cert-v01@openssh.com. */
  certType: string;
  /** The certified key's type, e.g. ssh-ed25519. */
  keyType: string;
  /** The certified public key (plain blob: what the private key signs as). */
  publicKey: SshPublicKey;
  /** `SHA256:…` of the certified public key (as `ssh-keygen -L` prints it). */
  keyFingerprint: string;
  serial: bigint;
  kind: 'user' | 'host';
  keyId: string;
  /** Empty = valid for any principal (OpenSSH refuses such user certs without authorized principals). */
  principals: string[];
  /** Seconds since the epoch. */
  validAfter: bigint;
  /** Seconds since the epoch; FOREVER when unlimited. */
  validBefore: bigint;
  criticalOptions: CertificateOption[];
  extensions: CertificateOption[];
  /** The signing CA's public key blob and its fingerprint. */
  caKeyBlob: Buffer;
  caFingerprint: string;
  caKeyType: string;
  /** The whole certificate blob (what goes on the wire in place of a public key). */
  blob: Buffer;
  /** Bytes covered by the CA signature, and the signature blob. */
  signedData: Buffer;
  signature: Buffer;
}

/** True when a key type names a certificate (`…-cert-v01@openssh.com`). */
export function isCertificateType(type: string): boolean {
  return type.endsWith(CERT_TYPE_SUFFIX);
}

/** Parses a certificate blob. Throws SshWireError (malformed / unsupported) with a reason. */
export function parseCertificateBlob(blob: Buffer): OpenSshCertificate {
  const r = new SshWireReader(blob, 'certificate');
  const certType = r.text();
  if (!isCertificateType(certType)) throw new SshWireError(`${certType} is not an OpenSSH certificate type`);
  const keyType = certType.slice(0, -CERT_TYPE_SUFFIX.length);
  r.bytes(); // nonce
  const fieldsStart = r.offset;
  readPublicKeyFields(keyType, r);
  const keyBlob = Buffer.concat([sshString(keyType), blob.subarray(fieldsStart, r.offset)]);
  const publicKey = parseSshPublicKeyBlob(keyBlob);
  const serial = r.uint64();
  const kindCode = r.uint32();
  if (kindCode !== 1 && kindCode !== 2) throw new SshWireError(`unknown certificate type ${kindCode}`);
  const keyId = r.text();
  const principals = readStringList(r.bytes(), 'principals').map((p) => p.toString('utf8'));
  const validAfter = r.uint64();
  const validBefore = r.uint64();
  const criticalOptions = readOptions(r.bytes(), 'critical options');
  const extensions = readOptions(r.bytes(), 'extensions');
  r.bytes(); // reserved
  const caKeyBlob = r.bytes();
  const signedData = blob.subarray(0, r.offset);
  const signature = r.bytes();
  r.end();
  const ca = parseSshPublicKeyBlob(caKeyBlob);
  return {
    certType, keyType, publicKey, keyFingerprint: sha256Fingerprint(keyBlob), serial,
    kind: kindCode === 1 ? 'user' : 'host', keyId, principals, validAfter, validBefore,
    criticalOptions, extensions, caKeyBlob, caFingerprint: sha256Fingerprint(caKeyBlob), caKeyType: ca.type,
    blob, signedData, signature,
  };
}

function readOptions(data: Buffer, what: string): CertificateOption[] {
  const fields = readStringList(data, what);
  if (fields.length % 2 !== 0) throw new SshWireError(`${what}: name without data`);
  const out: CertificateOption[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!.toString('utf8');
    const data = fields[i + 1]!;
    // Non-empty option data is itself an SSH string (e.g. source-address "10.0.0.0/8").
    let value = '';
    if (data.length > 0) {
      const inner = new SshWireReader(data, `${what} ${name}`);
      value = inner.text();
      inner.end();
    }
    out.push({ name, value });
  }
  // OpenSSH requires names in lexical order without repeats; a repeat would be ambiguous.
  if (new Set(out.map((o) => o.name)).size !== out.length) throw new SshWireError(`${what}: repeated option`);
  return out;
}

/** Parses a `…-cert.pub` line (type base64 [comment]). */
export function parseCertificateLine(text: string): OpenSshCertificate {
  const fields = text.trim().split(/\s+/);
  if (fields.length < 2 || !isCertificateType(fields[0]!)) {
    throw new SshWireError('not an OpenSSH certificate line ("ssh-…-cert-v01@openssh.com AAAA…")');
  }
  const cert = parseCertificateBlob(Buffer.from(fields[1]!, 'base64'));
  if (cert.certType !== fields[0]) throw new SshWireError(`line says ${fields[0]} but the certificate is ${cert.certType}`);
  return cert;
}

export function readCertificateFile(file: string): OpenSshCertificate {
  return parseCertificateLine(readFileSync(file, 'utf8'));
}

/** Checks the CA signature; throws SshWireError when it does not verify. */
export function verifyCertificateSignature(cert: OpenSshCertificate): void {
  // A certificate signed by another certificate is not allowed (sshkey_certify refuses it too).
  verifySshSignature(parseSshPublicKeyBlob(cert.caKeyBlob), cert.signedData, cert.signature);
}

export type ValidityProblem = { problem: 'not-yet-valid' | 'expired'; validAfter: Date | null; validBefore: Date | null };

/** Null when `nowMs` lies in [validAfter, validBefore) as sshd checks it; otherwise which side failed. */
export function checkValidity(cert: OpenSshCertificate, nowMs: number): ValidityProblem | null {
  const now = BigInt(Math.floor(nowMs / 1000));
  const window = { validAfter: validAfterDate(cert), validBefore: validBeforeDate(cert) };
  if (now < cert.validAfter) return { problem: 'not-yet-valid', ...window };
  if (now >= cert.validBefore) return { problem: 'expired', ...window };
  return null;
}

export function validAfterDate(cert: OpenSshCertificate): Date | null {
  return cert.validAfter === 0n ? null : new Date(Number(cert.validAfter) * 1000);
}

/** Null when the certificate never expires. */
export function validBeforeDate(cert: OpenSshCertificate): Date | null {
  return cert.validBefore >= FOREVER ? null : new Date(Number(cert.validBefore) * 1000);
}

/** `from … to …` as ssh-keygen -L prints the window (UTC). */
export function describeValidity(cert: OpenSshCertificate): string {
  const after = validAfterDate(cert);
  const before = validBeforeDate(cert);
  if (!after && !before) return 'forever';
  return `from ${after ? after.toISOString() : 'always'} to ${before ? before.toISOString() : 'forever'}`;
}

/** Names a certificate in messages and logs (never key material). */
export function describeCertificate(cert: OpenSshCertificate): string {
  return `${cert.kind} certificate "${cert.keyId}" serial ${cert.serial} (${cert.keyType} ${cert.keyFingerprint}, signed by CA ${cert.caKeyType} ${cert.caFingerprint})`;
}

export function criticalOption(cert: OpenSshCertificate, name: string): string | undefined {
  return cert.criticalOptions.find((o) => o.name === name)?.value;
}

export function hasExtension(cert: OpenSshCertificate, name: string): boolean {
  return cert.extensions.some((o) => o.name === name);
}
