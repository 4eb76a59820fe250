// The one place where a session's credentials are loaded, once per connection attempt: a key
// configured with a `file` is read from disk again every time, so a key (or, later, certificate)
// replaced on disk is used by the next attempt without a restart. Keys given only as bytes
// (library option `privateKey`) are used as given. Host keys need nothing here: the verifier
// reads known_hosts on every check (host-keys/host-key-verifier.ts).
import { readFileSync } from 'node:fs';
import type { ParsedKey } from 'ssh2';
import { EdgeError } from '../errors.js';
import { parsePrivateKeys } from './auth.js';
import type { AuthConfig } from './session-config.js';

export interface LoadedCredentials {
  /** Parsed private keys, in configured order, each with where it came from (for messages). */
  keys: Array<{ key: ParsedKey; source: string }>;
}

/**
 * Reads every key file named in `auth` and parses every key. Throws EDGE_ERR_KEY_INVALID (a
 * file that cannot be read or parsed) or EDGE_ERR_KEY_PASSPHRASE; messages name the file, never
 * key material or passphrases.
 */
export function loadCredentials(auth: AuthConfig): LoadedCredentials {
  const privateKeys = (auth.privateKeys ?? []).map((k) => (k.file === undefined ? k : { ...k, key: readKeyFile(k.file) }));
  return { keys: parsePrivateKeys({ ...auth, privateKeys }) };
}

function readKeyFile(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'it is a directory' : (e.code ?? e.message);
    throw new EdgeError('EDGE_ERR_KEY_INVALID', `Cannot read the private key file ${file} (${why}).`, { details: { source: file } });
  }
}
