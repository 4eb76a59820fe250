// ssh2 instantiates its poly1305 WebAssembly module (an Emscripten build) the moment its crypto
// module loads, in every thread that loads ssh2: ~3.6 MB of RSS per thread (measured in a worker
// thread, docs/performance.md). That code only serves chacha20-poly1305 *without* ssh2's native
// binding (ChaChaPolyCipherNative / ChaChaPolyDecipherNative); with the binding loaded, the
// binding's classes compute poly1305 in OpenSSL and the WebAssembly instance is never used.
//
// This hook puts a stand-in for `ssh2/lib/protocol/crypto/poly1305.js` into the CommonJS module
// cache before ssh2's crypto module is first required. When crypto.js calls it (once, at load,
// right after it tried to load its binding), the stand-in looks whether the binding loaded: if
// it did, crypto.js gets an inert module; if not, the real WebAssembly module is instantiated
// as before. It touches ssh2 internals in this one file only; test/unit/ssh2-poly1305-wasm.test.ts
// fails when ssh2 changes how crypto.js uses the module.
import { createRequire, Module } from 'node:module';

const require = createRequire(import.meta.url);

type Poly1305Factory = () => Promise<{ _malloc(size: number): number; cwrap(...args: unknown[]): (...args: unknown[]) => void }>;

let installed = false;

/** What the hook did in this thread: 'deferred' (stand-in installed), or why it did not. */
export type Poly1305WasmHook = 'deferred' | 'already-loaded' | 'unavailable';

/**
 * Installs the stand-in (idempotent; per thread: each worker thread has its own module cache).
 * Must run before anything in this thread requires ssh2; later it changes nothing.
 */
export function deferPoly1305Wasm(): Poly1305WasmHook {
  if (installed) return 'deferred';
  let cryptoPath: string;
  let polyPath: string;
  let bindingPath: string;
  try {
    cryptoPath = require.resolve('ssh2/lib/protocol/crypto.js');
    polyPath = require.resolve('ssh2/lib/protocol/crypto/poly1305.js');
    bindingPath = require.resolve('ssh2/lib/protocol/crypto/build/Release/sshcrypto.node');
  } catch {
    return 'unavailable'; // ssh2 moved its files, or the binding was never built: ssh2 as is
  }
  if (require.cache[cryptoPath]) return 'already-loaded';
  const standIn = new Module(polyPath);
  standIn.filename = polyPath;
  standIn.loaded = true;
  const factory: Poly1305Factory = () => {
    if (!require.cache[bindingPath]) {
      // No binding in this thread: the WebAssembly poly1305 is needed after all.
      delete require.cache[polyPath];
      return (require(polyPath) as Poly1305Factory)();
    }
    return Promise.resolve({
      _malloc: () => 0,
      cwrap: () => () => {
        throw new Error('ssh2 poly1305 WebAssembly was not loaded: the native binding handles chacha20-poly1305 (src/ssh2/poly1305-wasm.ts)');
      },
    });
  };
  standIn.exports = factory;
  require.cache[polyPath] = standIn;
  installed = true;
  return 'deferred';
}

/** Installed on import: entry modules import this file before anything that loads ssh2. */
export const poly1305WasmHook: Poly1305WasmHook = deferPoly1305Wasm();
