// Loads a module that sits next to the caller, on demand (import()), however the agent runs:
// from the build (ESM .js files), or from sources through tsx — where a worker thread's modules
// are compiled to CommonJS by tsx's require hook and a later import() does not pass tsx's
// hooks (Node 20), so require() of the .ts file is the way in there.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** `stem`: './name' relative to `callerUrl` (the caller's import.meta.url), without extension. */
export async function importSibling<T>(callerUrl: string, stem: string): Promise<T> {
  const fromSources = callerUrl.endsWith('.ts');
  const url = new URL(`${stem}${fromSources ? '.ts' : '.js'}`, callerUrl);
  try {
    return (await import(url.href)) as T;
  } catch (err) {
    if (!fromSources) throw err;
    return createRequire(callerUrl)(fileURLToPath(url)) as T;
  }
}
