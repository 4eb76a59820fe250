// Builds ssh2's authHandler from the configured credentials: every method we hold is tried in
// a fixed order (public keys, agent, password, keyboard-interactive), skipping those the
// server does not offer. Keys are parsed before connecting so that a bad key or passphrase is
// a clear, non-retryable error instead of a silent "all methods failed".
import type { AuthenticationType, AuthHandlerMiddleware, KeyboardInteractiveCallback, ParsedKey, Prompt } from 'ssh2';
import { EdgeError } from '../errors.js';
import { parseKey } from '../ssh2/client-modules.js';
import type { AuthConfig } from './session-config.js';
import { summarizeCertificate, type AuthKey, type CertificateSummary } from './user-certificate.js';
import { CertificateAwareAgent } from '../ssh2/agent-with-certificates.js';

type NextAuth = Parameters<Parameters<AuthHandlerMiddleware>[2]>[0];
interface Attempt { method: AuthenticationType; describe: string; auth: Exclude<NextAuth, false>; identity: () => AuthIdentity }

/** The identity a session logged in with, for /status (never key material). */
export interface AuthIdentity {
  method: 'publickey' | 'agent' | 'password' | 'keyboard-interactive';
  /** `SHA256:…` of the public key (the certified key for a certificate); null for passwords. */
  keyFingerprint: string | null;
  certificate: CertificateSummary | null;
}

/** Parses every configured private key; throws EDGE_ERR_KEY_PASSPHRASE / EDGE_ERR_KEY_INVALID. */
export function parsePrivateKeys(auth: AuthConfig): Array<{ key: ParsedKey; source: string; certificateFile?: string }> {
  return (auth.privateKeys ?? []).map(({ key, passphrase, source, certificateFile }) => {
    const parsed = parseKey(key, passphrase);
    if (parsed instanceof Error) {
      if (/passphrase/i.test(parsed.message)) {
        throw new EdgeError(
          'EDGE_ERR_KEY_PASSPHRASE',
          passphrase
            ? `The passphrase for private key ${source} is wrong (${parsed.message}); check the passphrase configured for this credential.`
            : `Private key ${source} is encrypted and no passphrase was given; set the credential's passphraseEnv (or pass --passphrase-env) to the variable holding it.`,
          { details: { source } },
        );
      }
      throw new EdgeError('EDGE_ERR_KEY_INVALID', `Private key ${source} could not be parsed: ${parsed.message}. Use an OpenSSH or PEM private key (ed25519, ecdsa or rsa).`, { details: { source } });
    }
    const first = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!first || !first.isPrivateKey()) {
      throw new EdgeError('EDGE_ERR_KEY_INVALID', `${source} holds a public key, not a private key; point the credential at the private key file.`, { details: { source } });
    }
    return certificateFile ? { key: first, source, certificateFile } : { key: first, source };
  });
}

export interface AuthPlan {
  handler: AuthHandlerMiddleware;
  /** Names of the methods tried, for the error message when all fail. */
  tried(): string[];
  /** Whether any method is configured at all. */
  readonly empty: boolean;
  /** The last method tried: once the server says ready, the one that succeeded. */
  used(): AuthIdentity | null;
  /** Whether a certificate was among the methods tried (for the failure message). */
  triedCertificates(): CertificateSummary[];
}

export function createAuthPlan(auth: AuthConfig, keys: AuthKey[]): AuthPlan {
  const username = auth.username;
  const attempts: Attempt[] = [];
  for (const { key, source, keyFingerprint, certificate } of keys) {
    const describe = certificate
      ? `certificate ${certificate.file} ("${certificate.summary.keyId}", serial ${certificate.summary.serial}, principals ${certificate.summary.principals.join(',') || '(any)'}) for ${source}`
      : `publickey ${source}`;
    const identity: AuthIdentity = { method: 'publickey', keyFingerprint, certificate: certificate?.summary ?? null };
    attempts.push({ method: 'publickey', describe, auth: { type: 'publickey', username, key }, identity: () => identity });
  }
  if (auth.agent) {
    // Our agent client keeps the certificates the agent holds (ssh2's drops them) and says which key signed.
    const agent = new CertificateAwareAgent(auth.agent);
    attempts.push({
      method: 'agent', describe: 'ssh-agent', auth: { type: 'agent', username, agent },
      identity: () => ({ method: 'agent', keyFingerprint: agent.lastSigned?.keyFingerprint ?? null, certificate: agent.lastSigned?.certificate ? summarizeCertificate(agent.lastSigned.certificate) : null }),
    });
  }
  if (auth.password !== undefined) {
    const password = auth.password;
    attempts.push({ method: 'password', describe: 'password', auth: { type: 'password', username, password }, identity: () => ({ method: 'password', keyFingerprint: null, certificate: null }) });
    if (auth.keyboardInteractive !== false) {
      const prompt = (_name: string, _instructions: string, _lang: string, prompts: Prompt[], finish: KeyboardInteractiveCallback) => {
        // Headless: answer password-looking prompts with the password, anything else with "".
        finish(prompts.map((p) => (/pass(word|code|phrase)?/i.test(p.prompt) ? password : '')));
      };
      attempts.push({ method: 'keyboard-interactive', describe: 'keyboard-interactive', auth: { type: 'keyboard-interactive', username, prompt }, identity: () => ({ method: 'keyboard-interactive', keyFingerprint: null, certificate: null }) });
    }
  }

  let next = 0;
  const tried: string[] = [];
  const triedAttempts: Attempt[] = [];
  const handler: AuthHandlerMiddleware = (methodsLeft, _partialSuccess, callback) => {
    while (next < attempts.length) {
      const attempt = attempts[next++]!;
      const offered = methodsLeft === null || methodsLeft === undefined
        || methodsLeft.includes(attempt.method === 'agent' ? 'publickey' : attempt.method);
      if (!offered) continue;
      tried.push(attempt.describe);
      triedAttempts.push(attempt);
      callback(attempt.auth);
      return;
    }
    (callback as (next: NextAuth | false) => void)(false);
  };
  return {
    handler,
    tried: () => [...tried],
    empty: attempts.length === 0,
    used: () => triedAttempts.at(-1)?.identity() ?? null,
    triedCertificates: () => triedAttempts.flatMap((a) => { const c = a.identity().certificate; return c ? [c] : []; }),
  };
}
