// What a run needs before it measures: wrk, a fresh build of the agent, the backends.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { log } from './log.js';
import type { Backends } from './tunnels.js';

/** wrk (the HTTP load generator); installed with apt-get when running as root, unless --no-install. */
export function ensureWrk(noInstall: boolean): void {
  if (spawnSync('sh', ['-c', 'command -v wrk'], { stdio: 'ignore' }).status === 0) return;
  const root = process.getuid?.() === 0;
  if (!noInstall && root && spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0) {
    log('wrk not found: installing it with apt-get (Debian package "wrk") ...');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', 'wrk']]) {
      const r = spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env });
      if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed`);
    }
    return;
  }
  throw new Error("npm run bench needs wrk (the HTTP load generator): install it with 'sudo apt-get install wrk'");
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (/\.ts$/.test(e.name)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds dist/'s JavaScript (scripts/bundle.mjs, as `npm run build` does after tsc's type check) when a source is newer than the last build; BENCH_AGENT_DIST or --skip-build skip it. */
export function buildAgent(root: string, build: string, skipBuild: boolean): void {
  const stamp = path.join(build, '.stamp');
  const sources = Math.max(...['src', 'workers', 'config', 'telemetry'].map((d) => newestMtime(path.join(root, d))));
  if (process.env.BENCH_AGENT_DIST || skipBuild || (existsSync(stamp) && statSync(stamp).mtimeMs > sources)) return;
  // No type check here: a work tree mid-edit should not stop a benchmark (esbuild strips the types).
  log('building the agent into dist/ (scripts/bundle.mjs) ...');
  const bundle = spawnSync(process.execPath, [path.join(root, 'scripts/bundle.mjs')], { encoding: 'utf8' });
  if (bundle.status !== 0) throw new Error(`the build failed:\n${bundle.stdout}${bundle.stderr}`);
  writeFileSync(stamp, new Date().toISOString());
}

/** The backends (bench/lib/backends.ts) in their own process; it prints its ports as one JSON line. */
export async function startBackends(root: string): Promise<Backends & { stop(): void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'bench/lib/backends.ts')], { stdio: ['ignore', 'pipe', 'inherit'], cwd: root });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.once('exit', (c) => reject(new Error(`backends exited (${c})`)));
  });
  return { ...(JSON.parse(line) as Backends), stop: () => child.kill('SIGTERM') };
}
