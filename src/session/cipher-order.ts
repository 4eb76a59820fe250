// Which SSH ciphers the agent offers, in which order, decided once in the main thread and
// passed to every session explicitly (SessionConfig.ciphers).
//
// Why not leave it to ssh2: ssh2 orders its defaults from the `cpu-features` addon, which can
// only be loaded in one JS context per process (it is not context-aware). In the second and
// later worker threads the load fails silently and ssh2 falls back to another order — on an
// AES-less ARM board that moves chacha20-poly1305 from first to last, so those sessions would
// negotiate software AES-GCM at a fraction of the speed.
//
// The order, from `npm run bench` on x86-64 with AES-NI and ssh2's native binding: with
// aes128-gcm the agent moves as many or more bytes per second than with chacha20-poly1305, and
// the OpenSSH end spends about half the CPU per GB (0.9–1.3 vs 1.6–2.2 CPU-s/GB):
//   - CPU with AES instructions and ssh2's binding: aes128-gcm, aes256-gcm, chacha20-poly1305, ctr;
//   - CPU without AES instructions (many ARM boards): chacha20-poly1305 first (OpenSSL reports
//     ~4× AES-GCM's speed there);
//   - no native binding: AES-GCM through Node's crypto first, chacha20 last (ssh2's pure-JS
//     chacha20/poly1305 is several times slower).
import { createRequire } from 'node:module';
import { isMainThread } from 'node:worker_threads';
import { nativeBindingAvailable, nativeBindingBuilt } from '../ssh2/crypto-binding.js';
import { ssh2SupportedAlgorithms } from '../ssh2/supported-algorithms.js';

const require = createRequire(import.meta.url);

export interface CryptoSupport {
  /** ssh2's native crypto addon (sshcrypto.node) loaded: AES-GCM and chacha20 via OpenSSL. */
  nativeBinding: boolean;
  /** CPU has AES instructions; null when it could not be told (no cpu-features). */
  aesInstructions: boolean | null;
  /** What decided aesInstructions. */
  probe: 'cpu-features' | 'none';
}

let cachedSupport: CryptoSupport | undefined;

/**
 * Probes the CPU and ssh2's binding. Call in the main thread only: cpu-features cannot load in
 * a second JS context, which is the very problem this module exists for.
 */
export function cryptoSupport(): CryptoSupport {
  if (cachedSupport) return cachedSupport;
  let aesInstructions: boolean | null = null;
  let probe: CryptoSupport['probe'] = 'none';
  if (isMainThread) {
    try {
      const info = (require('cpu-features') as () => { flags?: Record<string, boolean> })();
      if (info?.flags) {
        aesInstructions = info.flags.aes === true;
        probe = 'cpu-features';
      }
    } catch {
      // optional addon not built: fall back below
    }
  }
  // The main thread only checks that the addon is built: loading ssh2's crypto module there
  // would cost ~9 MB in a thread that never encrypts (the sessions run in workers).
  cachedSupport = { nativeBinding: isMainThread ? nativeBindingBuilt() : nativeBindingAvailable(), aesInstructions, probe };
  return cachedSupport;
}

/** Every cipher name ssh2 accepts in `algorithms.cipher` (its SUPPORTED_CIPHER list). */
export function supportedCiphers(): string[] {
  try {
    return ssh2SupportedAlgorithms().cipher;
  } catch {
    return [...GCM, ...CHACHA, ...CTR];
  }
}

const GCM = ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com'];
const CHACHA = ['chacha20-poly1305@openssh.com'];
const CTR = ['aes128-ctr', 'aes192-ctr', 'aes256-ctr'];

/** The cipher preference list for this machine (see the file header). */
export function cipherOrderFor(support: CryptoSupport, arch: string = process.arch): string[] {
  // Unknown CPU: x86-64 has had AES-NI for over a decade; other architectures often lack it.
  const aes = support.aesInstructions ?? (arch === 'x64' || arch === 'ia32');
  if (!support.nativeBinding) return [...GCM, ...CTR, ...CHACHA];
  if (!aes) return [...CHACHA, ...GCM, ...CTR];
  return [...GCM, ...CHACHA, ...CTR];
}

let cachedOrder: string[] | undefined;

/**
 * The cipher order to pass to sessions. In the main thread it is decided (once); in a worker
 * thread it returns undefined, since the CPU cannot be probed reliably there: the main thread
 * must pass its decision down in SessionConfig.ciphers.
 */
export function mainThreadCipherOrder(): string[] | undefined {
  if (!isMainThread) return undefined;
  cachedOrder ??= cipherOrderFor(cryptoSupport());
  return [...cachedOrder];
}
