// The one place where a session's credentials are loaded, once per connection attempt: a key
// configured with a `file`, and its certificate, are read from disk again every time, so a key or
// certificate replaced on disk is used by the next attempt without a restart. Keys given only as bytes
// (library option `privateKey`) are used as given. Host keys need nothing here: the verifier
// reads known_hosts on every check (host-keys/host-key-verifier.ts).
import { readFileSync } from 'node:fs';
import { EdgeError, isEdgeError } from '../errors.js';
import { parsePrivateKeys } from './auth.js';
import type { AuthConfig } from './session-config.js';
import { keysForAttempt, type AuthKey } from './user-certificate.js';
import { fileErrorReason } from '../lifecycle/errno.js';

export interface LoadedCredentials {
  /** Parsed private keys, in configured order (a key with a certificate as that certificate). */
  keys: AuthKey[];
}

/**
 * Reads every key file named in `auth`, parses every key and reads its certificate. Throws
 * EDGE_ERR_KEY_INVALID (a file that cannot be read or parsed), EDGE_ERR_KEY_PASSPHRASE,
 * EDGE_ERR_CERT_INVALID or EDGE_ERR_CERT_EXPIRED; messages name the file, never
 * key material or passphrases.
 */
export function loadCredentials(auth: AuthConfig, nowMs = Date.now()): LoadedCredentials {
  const privateKeys = (auth.privateKeys ?? []).map((k) => (k.file === undefined ? k : { ...k, key: readKeyFile(k.file) }));
  return { keys: keysForAttempt(parsePrivateKeys({ ...auth, privateKeys }), nowMs) };
}

/**
 * The keys for one connection attempt (loadCredentials), read again each time so a fixed or
 * renewed file is picked up. A certificate that cannot be parsed is worth another attempt: a
 * file briefly missing or half-written mid-rotation.
 */
export function credentialsForAttempt(auth: AuthConfig): AuthKey[] {
  try {
    return loadCredentials(auth).keys;
  } catch (err) {
    if (isEdgeError(err, 'EDGE_ERR_CERT_INVALID')) throw new EdgeError(err.code, err.message, { details: err.details, retryable: true });
    throw err;
  }
}

function readKeyFile(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const why = fileErrorReason(err);
    throw new EdgeError('EDGE_ERR_KEY_INVALID', `Cannot read the private key file ${file} (${why}).`, { details: { source: file } });
  }
}
