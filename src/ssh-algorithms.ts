// The SSH algorithms offered by default (agent and gateway), no weaker than OpenSSH 9.x and
// free of every name ssh-audit fails: curve25519 key exchange (plus DH group16/group18 with
// SHA-512 for servers without it), no SHA-1 anywhere (no ssh-rsa host key signatures, no
// hmac-sha1, no group14-sha1/group1/gex-sha1), no NIST-curve key exchange or host keys, no
// compression before authentication (only zlib@openssh.com, which starts after it). ssh2 adds
// the strict-kex markers (kex-strict-*-v00@openssh.com, Terrapin) to any kex list by itself.
//
// An operator can widen a category for a legacy host (`algorithms` in a session's config, the
// gateway's flag): the names are added after the defaults, so a modern peer still negotiates a
// default. Only names ssh2 supports are accepted.
import { createRequire } from 'node:module';
import { EdgeError } from './errors.js';

const require = createRequire(import.meta.url);

export type AlgorithmCategory = 'kex' | 'serverHostKey' | 'cipher' | 'hmac' | 'compress';
export type SshAlgorithms = Record<AlgorithmCategory, string[]>;
/** An operator's additions, per category (config key `algorithms`). */
export type AlgorithmWidening = Partial<Record<AlgorithmCategory, string[]>>;

export const ALGORITHM_CATEGORIES: readonly AlgorithmCategory[] = ['kex', 'serverHostKey', 'cipher', 'hmac', 'compress'];

export const DEFAULT_KEX: readonly string[] = [
  'curve25519-sha256',
  'curve25519-sha256@libssh.org',
  'diffie-hellman-group16-sha512',
  'diffie-hellman-group18-sha512',
];
export const DEFAULT_SERVER_HOST_KEY: readonly string[] = ['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256'];
/** The set of ciphers; the agent orders them per machine (src/session/cipher-order.ts). */
export const DEFAULT_CIPHER: readonly string[] = [
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'chacha20-poly1305@openssh.com',
  'aes128-ctr',
  'aes192-ctr',
  'aes256-ctr',
];
export const DEFAULT_HMAC: readonly string[] = [
  'hmac-sha2-256-etm@openssh.com',
  'hmac-sha2-512-etm@openssh.com',
  'hmac-sha2-256',
  'hmac-sha2-512',
];
export const DEFAULT_COMPRESS: readonly string[] = ['none', 'zlib@openssh.com'];

export const DEFAULT_ALGORITHMS: Readonly<SshAlgorithms> = {
  kex: [...DEFAULT_KEX],
  serverHostKey: [...DEFAULT_SERVER_HOST_KEY],
  cipher: [...DEFAULT_CIPHER],
  hmac: [...DEFAULT_HMAC],
  compress: [...DEFAULT_COMPRESS],
};

/** Every name ssh2 implements, per category (its SUPPORTED_* lists). */
export function supportedAlgorithms(): SshAlgorithms {
  const c = require('ssh2/lib/protocol/constants.js') as Record<string, string[]>;
  return {
    kex: [...c.SUPPORTED_KEX!],
    serverHostKey: [...c.SUPPORTED_SERVER_HOST_KEY!],
    cipher: [...c.SUPPORTED_CIPHER!],
    hmac: [...c.SUPPORTED_MAC!],
    compress: [...c.SUPPORTED_COMPRESSION!],
  };
}

/**
 * Checks an operator's `algorithms` setting (throws EDGE_ERR_INVALID_CONFIG naming `key`) and
 * returns it in canonical form.
 */
export function checkAlgorithmWidening(value: unknown, key = 'algorithms'): AlgorithmWidening {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: must be an object with lists of algorithm names (${ALGORITHM_CATEGORIES.join(', ')}).`);
  const supported = supportedAlgorithms();
  const out: AlgorithmWidening = {};
  for (const [category, names] of Object.entries(value as Record<string, unknown>)) {
    if (!(ALGORITHM_CATEGORIES as readonly string[]).includes(category)) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.${category} is not an algorithm category (expected ${ALGORITHM_CATEGORIES.join(', ')}).`);
    }
    const cat = category as AlgorithmCategory;
    if (!Array.isArray(names) || names.some((n) => typeof n !== 'string' || n === '')) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.${cat}: must be a list of algorithm names.`);
    }
    const unknown = names.filter((n) => !supported[cat].includes(n as string));
    if (unknown.length) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.${cat}: unsupported ${unknown.join(', ')} (supported: ${supported[cat].join(', ')}).`);
    }
    out[cat] = [...names as string[]];
  }
  return out;
}

/**
 * The lists to offer: `base` (the defaults) with the operator's additions appended after them,
 * each name once. Validates `widening` like checkAlgorithmWidening.
 */
export function widenAlgorithms(widening: AlgorithmWidening | undefined, base: Readonly<SshAlgorithms> = DEFAULT_ALGORITHMS): SshAlgorithms {
  const extra = checkAlgorithmWidening(widening);
  const result = {} as SshAlgorithms;
  for (const cat of ALGORITHM_CATEGORIES) {
    result[cat] = [...new Set([...base[cat], ...(extra[cat] ?? [])])];
  }
  return result;
}
