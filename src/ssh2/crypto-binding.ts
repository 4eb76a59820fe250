// ssh2 accessor: is ssh2's native crypto addon (sshcrypto.node: AES-GCM and chacha20-poly1305
// through OpenSSL) in use? ssh2 1.17 tells only through its internal module
// `ssh2/lib/protocol/crypto.js` (`bindingAvailable`), and builds the addon at
// `lib/protocol/crypto/build/Release/sshcrypto.node`. The cipher order (src/session/cipher-order.ts)
// and /status depend on it. test/unit/ssh2-crypto-binding.test.ts fails if an ssh2 upgrade
// moves either.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** Whether ssh2's native crypto binding is loaded (loads ssh2's crypto module; any thread). */
export function nativeBindingAvailable(): boolean {
  try {
    return (require('ssh2/lib/protocol/crypto.js') as { bindingAvailable?: boolean }).bindingAvailable === true;
  } catch {
    return false;
  }
}

/** Whether ssh2's native crypto addon was built (present on disk), without loading ssh2. */
export function nativeBindingBuilt(): boolean {
  try {
    return existsSync(require.resolve('ssh2/lib/protocol/crypto/build/Release/sshcrypto.node'));
  } catch {
    return false;
  }
}
