// The gateway's --host-certificate: read at start and checked against the host key, so a wrong
// file is a clear start-up error instead of clients refusing the gateway later.
import { readFileSync } from 'node:fs';
import ssh2, { type ParsedKey } from 'ssh2';
import { EdgeError } from '../errors.js';
import { checkValidity, describeCertificate, parseCertificateLine, verifyCertificateSignature, type OpenSshCertificate } from '../certificates/openssh-certificate.js';
import { hostCertificateKey } from '../ssh2/server-host-certificate.js';

export interface LoadedHostCertificate { key: ParsedKey; cert: OpenSshCertificate; description: string }

export function loadHostCertificate(file: string, hostPrivateKey: Buffer): LoadedHostCertificate {
  const bad = (why: string) => new EdgeError('EDGE_ERR_INVALID_CONFIG', `hostCertificateFile: ${file} ${why}.`, { details: { file } });
  let cert: OpenSshCertificate;
  try {
    cert = parseCertificateLine(readFileSync(file, 'utf8'));
    verifyCertificateSignature(cert);
  } catch (err) {
    throw bad(`is not a valid OpenSSH certificate (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (cert.kind !== 'host') throw bad('is a user certificate; sign the host key with ssh-keygen -s CA -h');
  const problem = checkValidity(cert, Date.now());
  if (problem?.problem === 'expired') throw bad(`expired at ${problem.validBefore?.toISOString()}`);
  const parsed = ssh2.utils.parseKey(hostPrivateKey);
  const priv = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!priv || priv instanceof Error) throw bad('cannot be checked: the host key does not parse');
  try {
    return { key: hostCertificateKey(priv, cert), cert, description: describeCertificate(cert) };
  } catch (err) {
    throw bad((err as Error).message);
  }
}
