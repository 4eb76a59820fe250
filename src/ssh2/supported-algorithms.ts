// ssh2 accessor: every algorithm name ssh2 implements, per category. ssh2 1.17 validates
// `algorithms` against its SUPPORTED_* lists but exports them only from the internal module
// `ssh2/lib/protocol/constants.js`. Loaded on first call (keeps ssh2 out of threads that never
// ask). test/unit/ssh2-supported-algorithms.test.ts fails if an ssh2 upgrade moves them.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface Ssh2SupportedAlgorithms {
  kex: string[];
  serverHostKey: string[];
  cipher: string[];
  hmac: string[];
  compress: string[];
}

/** Fresh copies of ssh2's SUPPORTED_* lists (throws if ssh2's constants moved). */
export function ssh2SupportedAlgorithms(): Ssh2SupportedAlgorithms {
  const c = require('ssh2/lib/protocol/constants.js') as Record<string, string[] | undefined>;
  const list = (name: string): string[] => {
    const value = c[name];
    if (!Array.isArray(value)) throw new Error(`ssh2 internals changed: constants.${name} is missing; see src/ssh2/supported-algorithms.ts`);
    return [...value];
  };
  return {
    kex: list('SUPPORTED_KEX'),
    serverHostKey: list('SUPPORTED_SERVER_HOST_KEY'),
    cipher: list('SUPPORTED_CIPHER'),
    hmac: list('SUPPORTED_MAC'),
    compress: list('SUPPORTED_COMPRESSION'),
  };
}
