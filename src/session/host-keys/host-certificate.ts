// Host certificates (OpenSSH `HostCertificate`), checked as ssh does (sshconnect.c
// check_host_cert / ssh_check_cert): the CA must be trusted for this host by an
// `@cert-authority` known_hosts line (host patterns, [host]:port, hashed names) or by
// hostKeys.certificateAuthorities; a CA or key marked `@revoked` refuses; the certificate must be
// a host certificate whose principals include the host name we dialled, inside its validity
// window. A certificate from a CA nobody trusts falls back to its certified key, checked like
// a plain host key (known_hosts line or pinned fingerprint), as ssh does.
import { EdgeError } from '../../errors.js';
import {
  checkValidity, describeCertificate, parseCertificateBlob, validBeforeDate, verifyCertificateSignature, type OpenSshCertificate,
} from '../../certificates/openssh-certificate.js';
import { parseSshPublicKeyBlob, sha256Fingerprint } from '../../certificates/ssh-public-key.js';
import { lookupKnownHosts, type KnownHostsEntry } from './known-hosts.js';

export interface HostCertificateSummary {
  keyId: string;
  serial: string;
  principals: string[];
  validBefore: string | null;
  caFingerprint: string;
  /** Where the CA is trusted: `file:line` of the @cert-authority line, or hostKeys.certificateAuthorities[i]. */
  trustedBy: string;
}

/** A host key the verifier accepted (host-key-verifier.ts), and how. */
export interface HostKeyDecision {
  accepted: true;
  how: 'known-hosts' | 'fingerprint' | 'insecure-accept-any' | 'cert-authority';
  /** The offered key's `SHA256:` fingerprint (for a certificate: of the certified key). */
  fingerprint: string;
  keyType: string;
  /** For a host certificate accepted through its CA. */
  certificate?: HostCertificateSummary;
}

export interface ConfiguredCa { blob: Buffer; key: string }

/** Parses CA public key lines; throws EDGE_ERR_INVALID_CONFIG naming the entry. */
export function parseCertificateAuthorities(lines: unknown, configKey: string): ConfiguredCa[] {
  if (lines === undefined) return [];
  if (!Array.isArray(lines)) throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${configKey} must be a list of CA public keys.`);
  return lines.map((line, i) => {
    const key = `${configKey}[${i}]`;
    const fields = typeof line === 'string' ? line.trim().split(/\s+/) : [];
    try {
      if (fields.length < 2) throw new Error('expected "TYPE BASE64 [comment]"');
      const blob = Buffer.from(fields[1]!, 'base64');
      const parsed = parseSshPublicKeyBlob(blob);
      if (parsed.type !== fields[0]) throw new Error(`the line says ${fields[0]} but the key is ${parsed.type}`);
      return { blob, key };
    } catch (err) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key} is not a CA public key (${(err as Error).message}); copy the CA's .pub line, e.g. "ssh-ed25519 AAAA… fleet-ca".`);
    }
  });
}

interface CheckContext {
  entries: KnownHostsEntry[];
  configuredCas: ConfiguredCa[];
  host: string;
  port: number;
  verifyPlain(keyBlob: Buffer): HostKeyDecision;
}

const loc = (e: { source: string; line: number }): string => `${e.source}:${e.line}`;

export function checkHostCertificate(certBlob: Buffer, ctx: CheckContext): HostKeyDecision {
  const where = `[${ctx.host}]:${ctx.port}`;
  let cert: OpenSshCertificate;
  try {
    cert = parseCertificateBlob(certBlob);
    verifyCertificateSignature(cert);
  } catch (err) {
    throw new EdgeError('EDGE_ERR_HOST_CERT_INVALID', `${where} presented a host certificate that is malformed or whose CA signature does not verify (${(err as Error).message}).`, { details: { host: ctx.host, port: ctx.port } });
  }
  const details = { host: ctx.host, port: ctx.port, keyId: cert.keyId, serial: cert.serial.toString(), ca: cert.caFingerprint, fingerprint: cert.keyFingerprint };
  const what = describeCertificate(cert);

  const revoked = ctx.entries.find((e) => e.marker === 'revoked' && (e.keyBlob.equals(cert.caKeyBlob) || e.keyBlob.equals(cert.publicKey.blob)));
  if (revoked) {
    const whose = revoked.keyBlob.equals(cert.caKeyBlob) ? `its CA ${cert.caFingerprint}` : `its key ${cert.keyFingerprint}`;
    throw new EdgeError('EDGE_ERR_HOST_KEY_REVOKED', `${where} presented ${what}; ${whose} is marked @revoked at ${loc(revoked)}; refusing to connect.`, { details });
  }

  const caLine = (lookupKnownHosts(ctx.entries, ctx.host, ctx.port, cert.publicKey.blob).certAuthorities ?? []).find((e) => e.keyBlob.equals(cert.caKeyBlob));
  const configured = ctx.configuredCas.find((c) => c.blob.equals(cert.caKeyBlob));
  const trustedBy = caLine ? loc(caLine) : configured?.key;
  if (!trustedBy) {
    try {
      return ctx.verifyPlain(cert.publicKey.blob);
    } catch (err) {
      if (err instanceof EdgeError && (err.code === 'EDGE_ERR_HOST_KEY_UNKNOWN' || err.code === 'EDGE_ERR_HOST_KEY_MISMATCH')) {
        throw new EdgeError(err.code, `${err.message} The server presented ${what}, but no @cert-authority line for ${where} and no hostKeys.certificateAuthorities entry trusts CA ${cert.caKeyType} ${cert.caFingerprint}.`, { details: { ...err.details, ...details } });
      }
      throw err;
    }
  }

  const refuse = (why: string) => new EdgeError('EDGE_ERR_HOST_CERT_INVALID', `${where} presented ${what}, trusted by ${trustedBy}, but ${why}; refusing to connect.`, { details: { ...details, trustedBy } });
  if (cert.kind !== 'host') throw refuse('it is a user certificate, not a host certificate');
  // ssh compares the principals with the host name as dialled (not [host]:port), case-insensitively for names.
  const dialled = ctx.host.toLowerCase();
  if (!cert.principals.some((p) => p.toLowerCase() === dialled)) {
    throw refuse(`its principals (${cert.principals.join(', ') || 'none'}) do not include the host name we dialled, "${ctx.host}"`);
  }
  const problem = checkValidity(cert, Date.now());
  if (problem) {
    throw refuse(`it is ${problem.problem === 'expired' ? 'expired' : 'not yet valid'} (valid-after ${problem.validAfter?.toISOString() ?? 'always'}, valid-before ${problem.validBefore?.toISOString() ?? 'forever'})`);
  }
  return {
    accepted: true,
    how: 'cert-authority',
    fingerprint: sha256Fingerprint(cert.publicKey.blob),
    keyType: cert.keyType,
    certificate: {
      keyId: cert.keyId, serial: cert.serial.toString(), principals: [...cert.principals],
      validBefore: validBeforeDate(cert)?.toISOString() ?? null, caFingerprint: cert.caFingerprint, trustedBy,
    },
  };
}
