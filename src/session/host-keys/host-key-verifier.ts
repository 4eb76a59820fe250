// Decides whether to trust the host key an SSH server offers. A tunnel agent runs unattended,
// so there is no "yes/no" prompt: the key must be known (known_hosts), pinned (fingerprints) or
// trust must be switched off explicitly (insecureAcceptAny). Every refusal tells the operator
// what was offered, what was expected and where, and how to fix it after checking out of band.

import { readFileSync } from 'node:fs';
import { EdgeError } from '../../errors.js';
import { fingerprintsOf, matchesPinned, parsePinnedFingerprint, type PinnedFingerprint } from './fingerprint.js';
import { lookupKnownHosts, parseKnownHosts, type KnownHostsEntry, type KnownHostsProblem } from './known-hosts.js';
import { checkHostCertificate, parseCertificateAuthorities, type HostKeyDecision } from './host-certificate.js';
import { isCertificateType } from '../../certificates/openssh-certificate.js';
import { fileErrorReason } from '../../lifecycle/errno.js';

export interface HostKeyPolicy {
  knownHostsFile?: string | string[];
  fingerprints?: string[];
  insecureAcceptAny?: boolean;
  /** CA public keys ("ssh-ed25519 AAAA…") whose host certificates are trusted for this session's host. */
  certificateAuthorities?: string[];
}

export type { HostKeyDecision } from './host-certificate.js';

/** Checks a host key blob; `expectsCertificates()` says whether a CA applies to this host (offer certificates first). */
export type HostKeyVerifier = ((keyBlob: Buffer) => HostKeyDecision) & { expectsCertificates(): boolean };

export type HostKeyLog = (level: 'warn' | 'info' | 'debug', msg: string) => void;

const POLICY_KEYS = new Set(['knownHostsFile', 'fingerprints', 'insecureAcceptAny', 'certificateAuthorities']);

/**
 * Validates `policy` now (so bad config fails at startup, not at the first connect) and returns
 * a function that accepts a raw host key blob or throws an EdgeError.
 */
export function createHostKeyVerifier(
  policy: HostKeyPolicy,
  host: string,
  port: number,
  log: HostKeyLog = () => {},
): HostKeyVerifier {
  const { files, pins, insecure } = validatePolicy(policy);
  const configuredCas = parseCertificateAuthorities(policy.certificateAuthorities, 'hostKeys.certificateAuthorities');
  if (typeof host !== 'string' || host === '') throw new EdgeError('EDGE_ERR_INVALID_CONFIG', 'host must be a non-empty string.');
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `port must be an integer 1-65535, got ${String(port)}.`);
  }
  const where = `[${host}]:${port}`;

  const verifyPlain = (keyBlob: Buffer): HostKeyDecision => {
    const fp = fingerprintsOf(keyBlob);
    const offered = `${fp.keyType} ${fp.sha256}`;
    const details = { host, port, keyType: fp.keyType, fingerprint: fp.sha256 };
    const accept = (how: HostKeyDecision['how']): HostKeyDecision => ({ accepted: true, how, fingerprint: fp.sha256, keyType: fp.keyType });

    // Files are re-read on every check so an operator's edit applies on the next reconnect.
    const { entries, readErrors } = loadKnownHosts(files, log);
    const found = lookupKnownHosts(entries, host, port, keyBlob);

    // Revocation beats everything, including a pinned fingerprint: someone said "never this key".
    if (found.result === 'revoked') {
      throw new EdgeError(
        'EDGE_ERR_HOST_KEY_REVOKED',
        `Host key offered by ${where} (${offered}) is marked @revoked at ${loc(found.entry!)}; refusing to connect. ` +
          `The server must be given a new host key; verify it out of band, then add it to known_hosts or hostKeys.fingerprints.`,
        { details },
      );
    }
    if (pins.some((p) => matchesPinned(keyBlob, p))) {
      if (found.result === 'mismatch') {
        log('info', `${where}: ${offered} accepted by hostKeys.fingerprints although known_hosts lists other keys (${found.expected!.map(loc).join(', ')}).`);
      }
      warnUnread(readErrors, log);
      return accept('fingerprint');
    }
    if (found.result === 'match') return accept('known-hosts');
    if (insecure) {
      // Repeated on every connect on purpose: this setting must never go unnoticed.
      log('warn', `hostKeys.insecureAcceptAny is set: accepting ${where} host key ${offered} WITHOUT verification; anyone on the network path can impersonate this host.`);
      warnUnread(readErrors, log);
      return accept('insecure-accept-any');
    }

    // An unreadable file could hold the right key, so it is reported before any mismatch verdict.
    if (readErrors.length > 0) {
      throw new EdgeError(
        'EDGE_ERR_HOST_KEY_UNKNOWN',
        `Cannot verify host key of ${where} (${offered}): the known_hosts file could not be read: ` +
          `${readErrors.join('; ')}. Fix hostKeys.knownHostsFile or the file's permissions.`,
        { details },
      );
    }

    const expected = found.expected ?? [];
    if (expected.length > 0 || pins.length > 0) {
      const parts: string[] = [];
      if (expected.length > 0) parts.push(`known_hosts expects ${expected.map((e) => `${e.keyType} ${fingerprintsOf(e.keyBlob).sha256} at ${loc(e)}`).join(', ')}`);
      if (pins.length > 0) parts.push(`hostKeys.fingerprints pins ${pins.map((p) => p.display).join(', ')}`);
      throw new EdgeError(
        'EDGE_ERR_HOST_KEY_MISMATCH',
        `HOST KEY MISMATCH for ${where}: the server offered ${offered}, but ${parts.join('; ')}. ` +
          `The server's key may have been replaced (reinstall) or someone may be intercepting the connection. ` +
          `Verify the offered fingerprint out of band (on the server: ssh-keygen -lf /etc/ssh/ssh_host_${shortType(fp.keyType)}_key.pub), ` +
          `then update known_hosts (remove the old line${expected.length > 1 ? 's' : ''}, add the new key) or hostKeys.fingerprints.`,
        { details: { ...details, expected: expected.map(loc) } },
      );
    }

    const target = files[0] ?? '~/.ssh/known_hosts';
    const portFlag = port === 22 ? '' : `-p ${port} `;
    throw new EdgeError(
      'EDGE_ERR_HOST_KEY_UNKNOWN',
      `Unknown host key for ${where}: the server offered ${offered}, and no known_hosts entry ` +
        `(searched ${files.join(', ')}) or pinned fingerprint applies. After verifying this fingerprint out of band, ` +
        `add the key with \`ssh-keyscan ${portFlag}${host} >> ${target}\` (check its output with ssh-keygen -lf), ` +
        `or pin it in hostKeys.fingerprints.`,
      { details },
    );
  };

  const verify = ((keyBlob: Buffer): HostKeyDecision => {
    if (!isCertificateType(fingerprintsOf(keyBlob).keyType)) return verifyPlain(keyBlob);
    // A host certificate: trusted through its CA (@cert-authority for this host, or
    // hostKeys.certificateAuthorities); otherwise its certified key is checked like a plain key.
    const { entries } = loadKnownHosts(files, log);
    return checkHostCertificate(keyBlob, { entries, configuredCas, host, port, verifyPlain });
  }) as HostKeyVerifier;
  verify.expectsCertificates = () => {
    if (configuredCas.length > 0) return true;
    const { entries } = loadKnownHosts(files, () => {});
    return (lookupKnownHosts(entries, host, port, Buffer.alloc(0)).certAuthorities ?? []).length > 0;
  };
  return verify;
}
function validatePolicy(policy: HostKeyPolicy): { files: string[]; pins: PinnedFingerprint[]; insecure: boolean } {
  if (policy === null || typeof policy !== 'object') {
    throw new EdgeError('EDGE_ERR_INVALID_CONFIG', 'hostKeys must be an object.');
  }
  // A misspelt key would otherwise silently drop a pin or a file.
  for (const k of Object.keys(policy)) {
    if (!POLICY_KEYS.has(k)) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `hostKeys.${k} is not a known setting (expected knownHostsFile, fingerprints, certificateAuthorities or insecureAcceptAny).`);
    }
  }

  const kh = policy.knownHostsFile;
  let files: string[] = [];
  if (typeof kh === 'string') files = [kh];
  else if (Array.isArray(kh)) files = kh;
  else if (kh !== undefined) throw new EdgeError('EDGE_ERR_INVALID_CONFIG', 'hostKeys.knownHostsFile must be a path or a list of paths.');
  if (Array.isArray(kh) && kh.length === 0) {
    throw new EdgeError('EDGE_ERR_INVALID_CONFIG', 'hostKeys.knownHostsFile must not be an empty list.');
  }
  files.forEach((f, i) => {
    if (typeof f !== 'string' || f.trim() === '') {
      const key = typeof kh === 'string' ? 'hostKeys.knownHostsFile' : `hostKeys.knownHostsFile[${i}]`;
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key} must be a non-empty path.`);
    }
  });

  const fps = policy.fingerprints;
  if (fps !== undefined && !Array.isArray(fps)) {
    throw new EdgeError('EDGE_ERR_INVALID_CONFIG', 'hostKeys.fingerprints must be a list of fingerprint strings.');
  }
  const pins = (fps ?? []).map((f, i) => parsePinnedFingerprint(f, `hostKeys.fingerprints[${i}]`));

  const insecure = policy.insecureAcceptAny;
  if (insecure !== undefined && typeof insecure !== 'boolean') {
    throw new EdgeError('EDGE_ERR_INVALID_CONFIG', 'hostKeys.insecureAcceptAny must be true or false.');
  }

  const cas = policy.certificateAuthorities;
  if (cas !== undefined && (!Array.isArray(cas) || cas.some((c) => typeof c !== 'string'))) {
    throw new EdgeError('EDGE_ERR_INVALID_CONFIG', 'hostKeys.certificateAuthorities must be a list of CA public keys ("ssh-ed25519 AAAA…").');
  }
  if (files.length === 0 && pins.length === 0 && insecure !== true && !(cas && cas.length > 0)) {
    throw new EdgeError(
      'EDGE_ERR_INVALID_CONFIG',
      'Host keys must be configured: set hostKeys.knownHostsFile (e.g. ~/.ssh/known_hosts), hostKeys.fingerprints ' +
        '(e.g. "SHA256:…" from `ssh-keygen -lf`) and/or hostKeys.certificateAuthorities, or hostKeys.insecureAcceptAny: true (not recommended).',
    );
  }
  return { files, pins, insecure: insecure === true };
}

export function loadKnownHosts(files: string[], log: HostKeyLog): { entries: KnownHostsEntry[]; readErrors: string[] } {
  const entries: KnownHostsEntry[] = [];
  const readErrors: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const why = fileErrorReason(err);
      readErrors.push(`${file} (${why})`);
      continue;
    }
    const problems: KnownHostsProblem[] = [];
    entries.push(...parseKnownHosts(text, file, problems));
    for (const p of problems) log('warn', `${p.source}:${p.line}: ${p.reason}; line ignored.`);
  }
  return { entries, readErrors };
}

function warnUnread(readErrors: string[], log: HostKeyLog): void {
  if (readErrors.length > 0) log('warn', `known_hosts file could not be read: ${readErrors.join('; ')}.`);
}

const loc = (e: { source: string; line: number }): string => `${e.source}:${e.line}`;

/** Host key file name part for a key type: ssh-ed25519 → ed25519, ecdsa-sha2-nistp256 → ecdsa. */
function shortType(keyType: string): string {
  if (keyType.startsWith('ecdsa-')) return 'ecdsa';
  return keyType.replace(/^ssh-/, '');
}
