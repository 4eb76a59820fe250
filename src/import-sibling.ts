// Loads a module that sits next to the caller, on demand, however the agent runs: from the build
// (dist/, bundled by scripts/bundle.mjs), or from sources through tsx — where a worker thread's
// modules are compiled to CommonJS by tsx's require hook and a later import() does not pass tsx's
// hooks (Node 20), so require() of the .ts file is the way in there.
// `load` is the caller's own `() => import('./name.js')` with a literal path: the bundler sees
// it and keeps the module a separate chunk, loaded only when called.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** `stem`: the same module as `load` imports, './name' relative to `callerUrl` (the caller's import.meta.url), without extension. */
export async function importSibling<T>(callerUrl: string, stem: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if (!callerUrl.endsWith('.ts')) throw err;
    return createRequire(callerUrl)(fileURLToPath(new URL(`${stem}.ts`, callerUrl))) as T;
  }
}
