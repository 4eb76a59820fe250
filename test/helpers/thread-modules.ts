// What a thread has loaded after it imports one of the agent's modules: a fresh `node --import tsx`
// process imports `module` (relative to the repository) and reports ssh2's files in the require
// cache and the Node builtins it loaded. For tests that keep weight out of session threads.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ThreadModules {
  /** Files of node_modules/ssh2/ in the require cache, relative to the package (`lib/client.js`). */
  ssh2Files: string[];
  /** Node builtins loaded (`tls`, `internal/tls/secure-context`, …). */
  builtins: string[];
}

export function modulesLoadedBy(module: string): ThreadModules {
  const script = `
    await import(${JSON.stringify(new URL(module, `file://${ROOT}`).href)});
    const { createRequire } = await import('node:module');
    const cache = createRequire(import.meta.url).cache;
    process.stdout.write(JSON.stringify({
      ssh2Files: Object.keys(cache).filter((f) => f.includes('/node_modules/ssh2/')).map((f) => f.replace(/.*\\/node_modules\\/ssh2\\//, '')),
      builtins: process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length)),
    }));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`importing ${module} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as ThreadModules;
}
