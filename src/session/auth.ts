// Builds ssh2's authHandler from the configured credentials: every method we hold is tried in
// a fixed order (public keys, agent, password, keyboard-interactive), skipping those the
// server does not offer. Keys are parsed before connecting so that a bad key or passphrase is
// a clear, non-retryable error instead of a silent "all methods failed".
import ssh2, { type AuthenticationType, type AuthHandlerMiddleware, type KeyboardInteractiveCallback, type ParsedKey, type Prompt } from 'ssh2';
import { EdgeError } from '../errors.js';

const { utils } = ssh2; // CommonJS: named exports are not visible to Node's ESM loader
import type { AuthConfig } from './session-config.js';

type NextAuth = Parameters<Parameters<AuthHandlerMiddleware>[2]>[0];
interface Attempt { method: AuthenticationType; describe: string; auth: Exclude<NextAuth, false> }

/** Parses every configured private key; throws EDGE_ERR_KEY_PASSPHRASE / EDGE_ERR_KEY_INVALID. */
export function parsePrivateKeys(auth: AuthConfig): Array<{ key: ParsedKey; source: string }> {
  return (auth.privateKeys ?? []).map(({ key, passphrase, source }) => {
    const parsed = utils.parseKey(key, passphrase);
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
    return { key: first, source };
  });
}

export interface AuthPlan {
  handler: AuthHandlerMiddleware;
  /** Names of the methods tried, for the error message when all fail. */
  tried(): string[];
  /** Whether any method is configured at all. */
  readonly empty: boolean;
}

export function createAuthPlan(auth: AuthConfig, keys: Array<{ key: ParsedKey; source: string }>): AuthPlan {
  const username = auth.username;
  const attempts: Attempt[] = [];
  for (const { key, source } of keys) {
    attempts.push({ method: 'publickey', describe: `publickey ${source}`, auth: { type: 'publickey', username, key } });
  }
  if (auth.agent) {
    attempts.push({ method: 'agent', describe: 'ssh-agent', auth: { type: 'agent', username, agent: auth.agent } });
  }
  if (auth.password !== undefined) {
    const password = auth.password;
    attempts.push({ method: 'password', describe: 'password', auth: { type: 'password', username, password } });
    if (auth.keyboardInteractive !== false) {
      const prompt = (_name: string, _instructions: string, _lang: string, prompts: Prompt[], finish: KeyboardInteractiveCallback) => {
        // Headless: answer password-looking prompts with the password, anything else with "".
        finish(prompts.map((p) => (/pass(word|code|phrase)?/i.test(p.prompt) ? password : '')));
      };
      attempts.push({ method: 'keyboard-interactive', describe: 'keyboard-interactive', auth: { type: 'keyboard-interactive', username, prompt } });
    }
  }

  let next = 0;
  const tried: string[] = [];
  const handler: AuthHandlerMiddleware = (methodsLeft, _partialSuccess, callback) => {
    while (next < attempts.length) {
      const attempt = attempts[next++]!;
      const offered = methodsLeft === null || methodsLeft === undefined
        || methodsLeft.includes(attempt.method === 'agent' ? 'publickey' : attempt.method);
      if (!offered) continue;
      tried.push(attempt.describe);
      callback(attempt.auth);
      return;
    }
    (callback as (next: NextAuth | false) => void)(false);
  };
  return { handler, tried: () => [...tried], empty: attempts.length === 0 };
}
