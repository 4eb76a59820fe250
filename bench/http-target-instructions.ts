// Instructions per request through an http:// (or tcp://) target, counted by valgrind's callgrind:
// a figure that does not move with the load of a shared machine, unlike CPU time (which on the
// 2-core box shared by several engineers scattered by 3× between adjacent one-second windows).
// User-space instructions only (the kernel's share of each system call is not counted), so it
// measures the JavaScript and native work the agent does per request — what a change to the
// request path changes. Each build is started under callgrind (tens of seconds), warmed up, its
// counters zeroed, then the client sends N keep-alive requests over C connections and the
// counters are dumped; the main thread's event loop is counted (V8's compiler threads are warm-up).
//
//   npx tsx bench/http-target-instructions.ts --builds old=/old/dist,new=dist [--requests 2000]
//     [--conns 8] [--warmup 1500] [--target http|tcp]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startSshd } from '../test/helpers/sshd.js';
import { startBackends } from './lib/setup.js';
import { sleep } from './lib/stats.js';
import { specById } from './lib/tunnel-specs.js';
import { agentArgs } from './lib/tunnels.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: flags } = parseArgs({
  options: { builds: { type: 'string' }, requests: { type: 'string' }, conns: { type: 'string' }, warmup: { type: 'string' }, target: { type: 'string' } },
});
const builds = (flags.builds ?? `current=${path.join(ROOT, 'dist')}`).split(',').map((b) => {
  const [name, dir] = b.split('=');
  return { name: name!, dist: path.resolve(dir!) };
});
const requests = Number(flags.requests ?? 2000);
const conns = Number(flags.conns ?? 8);
const warmup = Number(flags.warmup ?? 1500);
const target = flags.target === 'tcp' ? 'tcp' : 'http';

/** `n` GET / requests spread over `c` keep-alive connections, each connection sequential. */
async function load(port: number, n: number, c: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: c });
  const one = () => new Promise<void>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    }).on('error', reject);
  });
  let left = n;
  await Promise.all(Array.from({ length: c }, async () => {
    while (left > 0) {
      left -= 1;
      // Under valgrind everything is ~50× slower: a keep-alive race (the agent closing an idle
      // connection as the client reuses it) is retried, and counted.
      await one().catch(async () => {
        retried += 1;
        await one();
      });
    }
  }));
  agent.destroy();
}

let retried = 0;

/**
 * Instructions of the main thread's event loop (inclusive: the agent's JavaScript, GC with
 * --single-threaded-gc, native calls), without V8's background threads: under valgrind's
 * slowness TurboFan still compiles during the measured window (≈ 70% of all instructions
 * of the process), which is warm-up, not per-request work.
 */
function mainThreadInstructions(file: string): number {
  const r = spawnSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', file], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  const m = /^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+\S*:node::SpinEventLoopInternal/m.exec(r.stdout);
  if (!m) throw new Error(`no main event loop in ${file}:\n${r.stdout.slice(0, 2000)}`);
  return Number(m[1]!.replace(/,/g, ''));
}

async function measure(name: string, dist: string, env: { sshd: Awaited<ReturnType<typeof startSshd>>; backends: Awaited<ReturnType<typeof startBackends>> }): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cg-'));
  const spec = specById(target === 'http' ? 'agent-http-aes-nd' : 'agent-aes-nd');
  const forward = target === 'http' ? `127.0.0.1:0:http://127.0.0.1:${env.backends.http}` : `127.0.0.1:0:127.0.0.1:${env.backends.http}`;
  const child = spawn('valgrind', ['--tool=callgrind', '--smc-check=all', `--callgrind-out-file=${dir}/cg.%p`, process.execPath,
    path.join(dist, 'src/cli.js'), ...agentArgs(spec, { sshd: env.sshd, backends: env.backends, agentCli: '' }, [forward])], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' }, cwd: path.dirname(dist),
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr!.resume();
  try {
    let port = 0;
    for (let i = 0; i < 600 && !port; i++) {
      await sleep(500);
      port = Number(/forward R1 up: 127\.0\.0\.1:(\d+) on /.exec(out)?.[1] ?? 0);
    }
    if (!port) throw new Error(`${name}: forward not up under valgrind:\n${out}`);
    await load(port, warmup, conns);
    spawnSync('callgrind_control', ['-z', String(child.pid)]);
    await load(port, requests, conns);
    spawnSync('callgrind_control', ['-d', 'measured', String(child.pid)]);
    await sleep(500);
    const dump = readdirSync(dir).find((f) => f.includes('measured') || /\.\d+\.\d+$/.test(f));
    if (!dump) throw new Error(`${name}: no callgrind dump in ${dir}: ${readdirSync(dir).join(', ')}`);
    return mainThreadInstructions(path.join(dir, dump)) / requests;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

async function main(): Promise<void> {
  const sshd = await startSshd({ extraConfig: ['MaxStartups 200'] });
  const backends = await startBackends(ROOT);
  try {
    const lines = [`${target}:// target, ${requests} keep-alive requests over ${conns} connections after ${warmup} warm-up requests; user-space instructions of the main thread per request (callgrind)`];
    for (const { name, dist } of builds) {
      const perRequest = await measure(name, dist, { sshd, backends });
      lines.push(`${name.padEnd(10)} ${(perRequest / 1000).toFixed(0)} k instructions per request${retried ? ` (${retried} requests retried)` : ''}`);
      retried = 0;
      process.stderr.write(`${lines[lines.length - 1]}\n`);
    }
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    backends.stop();
    await sshd.dispose();
  }
}

main().catch((err) => {
  process.stderr.write(`http-target-instructions failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
