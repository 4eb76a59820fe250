// The SSH algorithms the agent and the built-in gateway offer by default, and the one way an
// operator changes them. Shared by both sides so their offers cannot drift apart.
//
// Defaults are no weaker than OpenSSH 9.x and carry nothing ssh-audit marks [fail]:
//   kex       curve25519 first; DH group16/group18 (sha512) for old servers. No NIST-curve
//             ECDH, no SHA-1 (group1/group14-sha1, gex-sha1), no 2048-bit group14.
//             (Strict kex, kex-strict-[cs]-v00@openssh.com, is appended by ssh2 itself on both
//             sides, whatever the list — the Terrapin countermeasure stays on.)
//   hostkey   ed25519 and RSA with SHA-2 signatures only (never ssh-rsa = SHA-1, never DSA,
//             no NIST curves).
//   cipher    AEAD ciphers and CTR; no CBC, no 3DES. (The agent orders them per machine:
//             src/session/cipher-order.ts.)
//   mac       SHA-2 HMACs, encrypt-then-MAC first; no hmac-sha1, no MD5, no truncated MACs.
//   compress  none, or zlib@openssh.com (delayed: only after authentication). Plain "zlib"
//             (compression before authentication) is not offered.
//
// Changing them is explicit and meant for legacy peers only. Per category, OpenSSH's list
// syntax (ssh_config/sshd_config):
//   "a,b"   exactly this list        "+a,b"  append to the default
//   "-a,b"  remove from the default  "^a,b"  put first
// The gateway flag joins categories with ';' (kex=+diffie-hellman-group14-sha1;mac=+hmac-sha1);
// a session's `algorithms` config key lists names to append ({ "kex": ["…"] } = "+…").
import { EdgeError } from './errors.js';
import { ssh2SupportedAlgorithms } from './ssh2/supported-algorithms.js';

/** ssh2's names for the algorithm categories (its `algorithms` config object). */
export type AlgorithmCategory = 'kex' | 'serverHostKey' | 'cipher' | 'hmac' | 'compress';
export const ALGORITHM_CATEGORIES: readonly AlgorithmCategory[] = ['kex', 'serverHostKey', 'cipher', 'hmac', 'compress'];

export type AlgorithmLists = Record<AlgorithmCategory, string[]>;
/** Per category an OpenSSH-style list: "a,b", "+a,b", "-a,b" or "^a,b". */
export type AlgorithmChanges = Partial<Record<AlgorithmCategory, string>>;
/** A session's `algorithms` config key: names to append after the defaults, per category. */
export type AlgorithmWidening = Partial<Record<AlgorithmCategory, string[]>>;

export const DEFAULT_ALGORITHMS: Readonly<{ [K in AlgorithmCategory]: readonly string[] }> = Object.freeze({
  kex: Object.freeze([
    'curve25519-sha256',
    'curve25519-sha256@libssh.org',
    'diffie-hellman-group16-sha512',
    'diffie-hellman-group18-sha512',
  ]),
  serverHostKey: Object.freeze(['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256']),
  cipher: Object.freeze([
    'aes128-gcm@openssh.com',
    'aes256-gcm@openssh.com',
    'chacha20-poly1305@openssh.com',
    'aes128-ctr',
    'aes192-ctr',
    'aes256-ctr',
  ]),
  hmac: Object.freeze([
    'hmac-sha2-256-etm@openssh.com',
    'hmac-sha2-512-etm@openssh.com',
    'hmac-sha2-256',
    'hmac-sha2-512',
  ]),
  compress: Object.freeze(['none', 'zlib@openssh.com']),
});
/** The secure cipher set; the agent only reorders it (src/session/cipher-order.ts). */
export const DEFAULT_CIPHER = DEFAULT_ALGORITHMS.cipher;

/**
 * Names that must never be in a default offer: SHA-1 anywhere, NIST-curve key exchange,
 * small or SHA-1 DH groups, CBC/3DES, MD5/SHA-1/RIPEMD/truncated MACs, DSA, pre-auth zlib.
 * An operator may still add them (they are supported, just not offered).
 */
export const WEAK_ALGORITHMS: ReadonlySet<string> = new Set([
  'diffie-hellman-group1-sha1', 'diffie-hellman-group14-sha1', 'diffie-hellman-group-exchange-sha1',
  'ecdh-sha2-nistp256', 'ecdh-sha2-nistp384', 'ecdh-sha2-nistp521',
  'ssh-rsa', 'ssh-dss',
  'aes128-cbc', 'aes192-cbc', 'aes256-cbc', '3des-cbc',
  'hmac-sha1', 'hmac-sha1-etm@openssh.com', 'hmac-sha1-96', 'hmac-md5', 'hmac-md5-96', 'hmac-ripemd160',
  'hmac-sha2-256-96', 'hmac-sha2-512-96',
  'zlib',
]);

/** Every name ssh2 implements per category (its SUPPORTED_* lists). */
export function supportedAlgorithms(): AlgorithmLists {
  return ssh2SupportedAlgorithms();
}

/** A fresh, mutable copy of the defaults. */
export function defaultAlgorithms(): AlgorithmLists {
  const lists = {} as AlgorithmLists;
  for (const c of ALGORITHM_CATEGORIES) lists[c] = [...DEFAULT_ALGORITHMS[c]];
  return lists;
}

/**
 * Applies OpenSSH-style per-category changes to `base` (the defaults unless given). Throws
 * EDGE_ERR_INVALID_CONFIG, naming `key`, for an unknown category or algorithm, or a list
 * that would end up empty.
 */
export function resolveAlgorithms(changes: AlgorithmChanges | undefined, key = 'algorithms', base: AlgorithmLists = defaultAlgorithms()): AlgorithmLists {
  const result: AlgorithmLists = { ...base };
  if (changes === undefined) return result;
  if (typeof changes !== 'object' || changes === null || Array.isArray(changes)) {
    throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: must be an object with per-category lists (${ALGORITHM_CATEGORIES.join(', ')}).`);
  }
  const supported = supportedAlgorithms();
  for (const [category, spec] of Object.entries(changes)) {
    if (!(ALGORITHM_CATEGORIES as readonly string[]).includes(category)) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: unknown category "${category}" (use ${ALGORITHM_CATEGORIES.join(', ')}).`);
    }
    if (spec === undefined) continue;
    const cat = category as AlgorithmCategory;
    if (typeof spec !== 'string' || spec.trim() === '') throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.${cat}: must be a non-empty list such as "+name1,name2".`);
    const op = '+-^'.includes(spec[0]!) ? spec[0]! : '';
    const names = spec.slice(op.length).split(',').map((n) => n.trim()).filter(Boolean);
    if (names.length === 0) throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.${cat}: "${spec}" names no algorithm.`);
    for (const name of names) {
      if (!supported[cat].includes(name)) {
        throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.${cat}: "${name}" is not supported (supported: ${supported[cat].join(', ')}).`);
      }
    }
    const current = result[cat];
    let next: string[];
    switch (op) {
      case '+': next = [...current, ...names.filter((n) => !current.includes(n))]; break;
      case '-': next = current.filter((n) => !names.includes(n)); break;
      case '^': next = [...names, ...current.filter((n) => !names.includes(n))]; break;
      default: next = [...new Set(names)];
    }
    if (next.length === 0) throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.${cat}: "${spec}" leaves no algorithm to offer.`);
    result[cat] = next;
  }
  return result;
}

/**
 * Checks a session's `algorithms` setting (lists of names to append; throws
 * EDGE_ERR_INVALID_CONFIG naming `key`) and returns it in canonical form.
 */
export function checkAlgorithmWidening(value: unknown, key = 'algorithms'): AlgorithmWidening {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: must be an object with lists of algorithm names (${ALGORITHM_CATEGORIES.join(', ')}).`);
  const out: AlgorithmWidening = {};
  for (const [category, names] of Object.entries(value as Record<string, unknown>)) {
    if (!(ALGORITHM_CATEGORIES as readonly string[]).includes(category)) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.${category} is not an algorithm category (expected ${ALGORITHM_CATEGORIES.join(', ')}).`);
    }
    if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string' || n === '' || n.includes(','))) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.${category}: must be a non-empty list of algorithm names.`);
    }
    out[category as AlgorithmCategory] = [...names as string[]];
  }
  resolveAlgorithms(wideningAsChanges(out), key); // validates categories and names
  return out;
}

/** The lists to offer: `base` (the defaults) with a session's additions appended, each name once. */
export function widenAlgorithms(widening: AlgorithmWidening | undefined, base: AlgorithmLists = defaultAlgorithms()): AlgorithmLists {
  return resolveAlgorithms(wideningAsChanges(checkAlgorithmWidening(widening)), 'algorithms', base);
}

function wideningAsChanges(widening: AlgorithmWidening): AlgorithmChanges {
  const changes: AlgorithmChanges = {};
  for (const [cat, names] of Object.entries(widening)) changes[cat as AlgorithmCategory] = `+${names!.join(',')}`;
  return changes;
}

/**
 * Parses the command-line form "kex=+a,b;mac=-c" into per-category changes. Category names
 * are ssh2's or OpenSSH's (KexAlgorithms → kex, HostKeyAlgorithms → hostkey, Ciphers →
 * cipher, MACs → mac, Compression → compression). Throws EDGE_ERR_INVALID_CONFIG.
 */
export function parseAlgorithmsSpec(text: string, key = 'algorithms'): AlgorithmChanges {
  const changes: AlgorithmChanges = {};
  for (const part of text.split(';').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: "${part}" must be CATEGORY=LIST (e.g. kex=+diffie-hellman-group14-sha256).`);
    const name = part.slice(0, eq).trim().toLowerCase();
    const category = CATEGORY_ALIASES[name];
    if (!category) throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: unknown category "${name}" (use kex, hostkey, cipher, mac, compression).`);
    if (changes[category] !== undefined) throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: category "${name}" given twice.`);
    changes[category] = part.slice(eq + 1).trim();
  }
  if (Object.keys(changes).length === 0) throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: no category given (e.g. kex=+diffie-hellman-group14-sha256;mac=+hmac-sha1).`);
  return changes;
}

const CATEGORY_ALIASES: Record<string, AlgorithmCategory> = {
  kex: 'kex', kexalgorithms: 'kex',
  hostkey: 'serverHostKey', serverhostkey: 'serverHostKey', hostkeyalgorithms: 'serverHostKey',
  cipher: 'cipher', ciphers: 'cipher',
  mac: 'hmac', macs: 'hmac', hmac: 'hmac',
  compress: 'compress', compression: 'compress',
};

/** The weak names in a set of lists (empty for the defaults). */
export function weakAlgorithmsIn(lists: AlgorithmLists): string[] {
  return ALGORITHM_CATEGORIES.flatMap((c) => lists[c].filter((n) => WEAK_ALGORITHMS.has(n)));
}
