// The cipher order is decided once in the main thread (ssh2's cpu-features probe fails in all
// but the first worker thread) and passed to sessions explicitly.
import { pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cipherOrderFor, cryptoSupport, mainThreadCipherOrder, supportedCiphers } from '../../src/session/cipher-order.js';
import { nativeBindingAvailable } from '../../src/ssh2/crypto-binding.js';

describe('cipher order', () => {
  it('puts AES-GCM first with AES instructions, chacha20 first without, chacha20 last without the binding', () => {
    expect(cipherOrderFor({ nativeBinding: true, aesInstructions: true, probe: 'cpu-features' })[0]).toBe('aes128-gcm@openssh.com');
    expect(cipherOrderFor({ nativeBinding: true, aesInstructions: false, probe: 'cpu-features' })[0]).toBe('chacha20-poly1305@openssh.com');
    const noBinding = cipherOrderFor({ nativeBinding: false, aesInstructions: false, probe: 'cpu-features' });
    expect(noBinding[0]).toBe('aes128-gcm@openssh.com');
    expect(noBinding.at(-1)).toBe('chacha20-poly1305@openssh.com');
    // unknown CPU: x86 assumed to have AES-NI, ARM not
    expect(cipherOrderFor({ nativeBinding: true, aesInstructions: null, probe: 'none' }, 'x64')[0]).toBe('aes128-gcm@openssh.com');
    expect(cipherOrderFor({ nativeBinding: true, aesInstructions: null, probe: 'none' }, 'arm')[0]).toBe('chacha20-poly1305@openssh.com');
  });

  it('offers only ciphers ssh2 supports', () => {
    const supported = supportedCiphers();
    for (const support of [true, false]) {
      for (const aes of [true, false]) {
        for (const c of cipherOrderFor({ nativeBinding: support, aesInstructions: aes, probe: 'cpu-features' })) expect(supported).toContain(c);
      }
    }
  });

  it('in the main thread: decided from the CPU probe, with ssh2’s native binding reported', () => {
    expect(nativeBindingAvailable()).toBe(true); // the project builds it; /status reports it
    const support = cryptoSupport();
    expect(support.probe).toBe('cpu-features');
    expect(mainThreadCipherOrder()).toEqual(cipherOrderFor(support));
  });

  it('in a worker thread: no decision (the supervisor passes the main thread’s down)', async () => {
    // the same kind of worker the agent runs sessions in (piscina, tsx loader for sources)
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cipher-order-'));
    const task = path.join(dir, 'task.ts');
    const modUrl = new URL('../../src/session/cipher-order.ts', import.meta.url).href;
    const bindingUrl = new URL('../../src/ssh2/crypto-binding.ts', import.meta.url).href;
    writeFileSync(task, `import * as m from ${JSON.stringify(modUrl)};\nimport * as b from ${JSON.stringify(bindingUrl)};\nexport default function () {\n  return { order: m.mainThreadCipherOrder() ?? null, binding: b.nativeBindingAvailable() };\n}\n`);
    const pool = new Piscina({ filename: pathToFileURL(task).href, execArgv: ['--import', 'tsx'], maxThreads: 1 });
    try {
      expect(await pool.run({})).toEqual({ order: null, binding: true });
    } finally {
      await pool.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
