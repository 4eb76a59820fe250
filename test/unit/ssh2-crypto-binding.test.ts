// The crypto-binding accessors (src/ssh2/crypto-binding.ts) against a live in-process ssh2
// connection: when they say the native binding is in use, the connection really encrypts with
// ssh2's binding classes. Fails if an ssh2 upgrade moves the addon or the `bindingAvailable`
// flag (the cipher order would then silently assume no binding).
import { afterEach, describe, expect, it } from 'vitest';
import { nativeBindingAvailable, nativeBindingBuilt } from '../../src/ssh2/crypto-binding.js';
import { connectSsh2Pair, type Ssh2Pair } from '../helpers/ssh2-pair.js';

const pairs: Ssh2Pair[] = [];
afterEach(() => { for (const p of pairs.splice(0)) p.close(); });

describe('ssh2 native crypto binding', () => {
  it('is built and loaded (the project builds it), and live connections encrypt with it', async () => {
    expect(nativeBindingBuilt()).toBe(true);
    expect(nativeBindingAvailable()).toBe(true);
    for (const cipher of ['aes128-gcm@openssh.com', 'chacha20-poly1305@openssh.com']) {
      const pair = await connectSsh2Pair({ client: { algorithms: { cipher: [cipher] } as never } });
      pairs.push(pair);
      const current = (pair.client as unknown as { _protocol: { _cipher: object } })._protocol._cipher;
      expect(current.constructor.name, cipher).toMatch(/Binding$/);
    }
  });
});
