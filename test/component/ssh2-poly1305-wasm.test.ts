// The poly1305 WebAssembly hook (src/ssh2/poly1305-wasm.ts) against live ssh2: installed before
// ssh2 loads, no WebAssembly module is instantiated, and chacha20-poly1305 connections still work
// (with the native binding, which this project builds). In a thread where ssh2's binding is not
// loaded, the stand-in instantiates the real module. Fails if an ssh2 upgrade moves the module
// or starts using it beside the binding.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// Count WebAssembly instantiations from here on (this test file runs in its own process).
let instantiations = 0;
const original = { instantiate: WebAssembly.instantiate, Instance: WebAssembly.Instance };
WebAssembly.instantiate = ((...args: Parameters<typeof WebAssembly.instantiate>) => { instantiations++; return original.instantiate(...args); }) as typeof WebAssembly.instantiate;
WebAssembly.Instance = new Proxy(original.Instance, { construct(target, args) { instantiations++; return Reflect.construct(target, args); } });

describe('ssh2 poly1305 WebAssembly deferred when the native binding serves chacha20-poly1305', () => {
  it('loads ssh2 without instantiating it; chacha20-poly1305 and aes128-gcm connections work', async () => {
    const { poly1305WasmHook } = await import('../../src/ssh2/poly1305-wasm.js'); // before ssh2
    expect(poly1305WasmHook).toBe('deferred');
    const { connectSsh2Pair } = await import('../helpers/ssh2-pair.js'); // loads ssh2
    for (const cipher of ['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com']) {
      const pair = await connectSsh2Pair({ client: { algorithms: { cipher: [cipher] } as never } });
      try {
        // an exec round trip: packets both ways after key exchange
        const ok = await new Promise<boolean>((resolve) => {
          pair.server.once('session', (accept) => accept().once('exec', (acc) => { const ch = acc(); ch.end('pong'); ch.exit(0); }));
          pair.client.exec('ping', (err, ch) => {
            if (err) return resolve(false);
            let out = '';
            ch.on('data', (d: Buffer) => { out += d.toString(); }).on('close', () => resolve(out === 'pong'));
          });
        });
        expect(ok, cipher).toBe(true);
        const current = (pair.client as unknown as { _protocol: { _cipher: object } })._protocol._cipher;
        expect(current.constructor.name, cipher).toMatch(/Binding$/);
      } finally {
        pair.close();
      }
    }
    expect(instantiations).toBe(0);
  });

  it('instantiates the real module where the binding is not loaded (fallback)', async () => {
    // As in a thread where sshcrypto.node failed to load: the stand-in finds no binding in the cache.
    const require = createRequire(import.meta.url);
    const polyPath = require.resolve('ssh2/lib/protocol/crypto/poly1305.js');
    const bindingPath = require.resolve('ssh2/lib/protocol/crypto/build/Release/sshcrypto.node');
    const standIn = require.cache[polyPath]!.exports as () => Promise<Record<string, unknown>>;
    const binding = require.cache[bindingPath]!;
    delete require.cache[bindingPath];
    try {
      const before = instantiations;
      const mod = await standIn();
      expect(typeof mod._malloc).toBe('function');
      expect(mod.HEAPU8).toBeInstanceOf(Uint8Array); // the Emscripten module itself
      expect(instantiations).toBe(before + 1);
    } finally {
      require.cache[bindingPath] = binding;
    }
  });
});
