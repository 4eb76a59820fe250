// System calls per GB of a bulk transfer, agent beside `ssh -R` through the same sshd: which
// calls, on which socket, how many bytes each. `perf trace` (tracepoints, no ptrace stop per
// call) records the tool's process while one transfer runs; fds are told apart by what they
// carry (the SSH socket reads most on upload, the target socket writes most).
//
//   npx tsx bench/syscalls.ts [--ids agent-aes-fo,ssh-aes-fo] [--dir upload] [--bytes 512] [--rounds 1]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startSshd } from '../test/helpers/sshd.js';
import { bulkDownload, bulkUpload } from './lib/measure.js';
import { cpuSeconds } from './lib/proc.js';
import { startBackends } from './lib/setup.js';
import { sleep } from './lib/stats.js';
import { specById } from './lib/tunnel-specs.js';
import { startTunnel, type Tunnel, type ToolEnv } from './lib/tunnels.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: flags } = parseArgs({
  options: { ids: { type: 'string' }, dir: { type: 'string' }, bytes: { type: 'string' }, rounds: { type: 'string' }, trace: { type: 'string' }, perf: { type: 'string' } },
});
const ids = (flags.ids ?? 'agent-aes-fo,ssh-aes-fo').split(',');
const dir = flags.dir === 'download' ? 'download' : 'upload';
const bytes = Number(flags.bytes ?? 512) * 2 ** 20;
const rounds = Number(flags.rounds ?? 1);
const traced = flags.trace !== 'off';
/** --perf DIR: `perf record -g` of each tool instead of the trace (node needs --perf-basic-prof). */
const perfDir = flags.perf;

function userSys(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(f[11]) / 100, Number(f[12]) / 100];
}

interface Row { calls: number; bytes: number; sizes: Map<number, number> }
type Table = Map<string, Row>; // "syscall fd"

function parseTrace(file: string): Table {
  const table: Table = new Map();
  const re = /\s(\w+)\((?:fd: (\d+))?[^)]*\)\s+=\s+(-?\d+)/;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const key = `${m[1]} ${m[2] ?? '0'}`;
    const ret = Number(m[3]);
    const row = table.get(key) ?? { calls: 0, bytes: 0, sizes: new Map() };
    row.calls += 1;
    if (ret > 0) row.bytes += ret;
    const bucket = ret <= 0 ? ret : 2 ** Math.ceil(Math.log2(ret));
    row.sizes.set(bucket, (row.sizes.get(bucket) ?? 0) + 1);
    table.set(key, row);
  }
  return table;
}

function print(id: string, table: Table, seconds: number, cpu: number): void {
  const gb = bytes / 1e9;
  process.stdout.write(`\n## ${id}: ${dir} ${bytes / 2 ** 20} MiB in ${seconds.toFixed(2)} s (${(bytes / 2 ** 20 / seconds).toFixed(0)} MiB/s), CPU ${(cpu / gb).toFixed(2)} s/GB\n`);
  const rows = [...table.entries()].filter(([, r]) => r.calls / gb >= 50).sort((a, b) => b[1].calls - a[1].calls);
  for (const [key, r] of rows) {
    const top = [...r.sizes.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3)
      .map(([s, n]) => `≤${s >= 1024 ? `${s / 1024}K` : s}:${((100 * n) / r.calls).toFixed(0)}%`).join(' ');
    process.stdout.write(`${key.padEnd(22)} ${(r.calls / gb).toFixed(0).padStart(8)}/GB  avg ${(r.bytes / Math.max(1, r.calls) / 1024).toFixed(1).padStart(6)} KiB  ${top}\n`);
  }
}

interface Result { id: string; round: number; mibs: number; cpu: number; user: number; sys: number }
const results: Result[] = [];

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const range = (xs: number[], d = 2) => `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`;

/** Medians with min–max per tool, and per-round ratios to the first tool named. */
function summary(order: string[]): void {
  process.stdout.write(`\n| tool | MiB/s | CPU-s/GB | user | sys | MiB/s ÷ ${order[0]} | CPU ÷ ${order[0]} |\n|---|---|---|---|---|---|---|\n`);
  for (const id of order) {
    const mine = results.filter((r) => r.id === id);
    const ratio = (f: (r: Result) => number) => mine.map((r) => f(r) / f(results.find((b) => b.id === order[0] && b.round === r.round)!));
    process.stdout.write(`| ${id} | ${range(mine.map((r) => r.mibs), 0)} | ${range(mine.map((r) => r.cpu))} | ${range(mine.map((r) => r.user))} | ${range(mine.map((r) => r.sys))} | ${range(ratio((r) => r.mibs))} | ${range(ratio((r) => r.cpu))} |\n`);
  }
}

async function main(): Promise<void> {
  if (traced && spawnSync('perf', ['--version']).error) throw new Error('needs `perf` (Debian: apt-get install linux-perf), or --trace off');
  const sshd = await startSshd({ extraConfig: ['MaxStartups 200'] });
  const backends = await startBackends(ROOT);
  const env: ToolEnv = { sshd, backends, agentCli: path.join(process.env.BENCH_AGENT_DIST ?? path.join(ROOT, 'dist'), 'src/cli.js') };
  const tunnels: Tunnel[] = [];
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'syscalls-'));
  try {
    // `id@NAME=value` starts that tool with one extra environment variable (A/B of a setting);
    // `id@dist=/other/dist` runs another build of the agent (before/after)
    for (const item of ids) {
      const [id, assign] = item.split('@') as [string, string | undefined];
      const [name, value] = assign?.split('=') ?? [];
      const build = name === 'dist' ? { ...env, agentCli: path.join(value!, 'src/cli.js') } : env;
      if (name && name !== 'dist') process.env[name] = value ?? '';
      const t = await startTunnel(specById(id), build);
      if (name && name !== 'dist') delete process.env[name];
      tunnels.push({ ...t, spec: { ...t.spec, id: item } });
    }
    await sleep(1000);
    for (const t of tunnels) await (dir === 'upload' ? bulkUpload(t.ports.sink, 64 * 2 ** 20, 60_000) : bulkDownload(t.ports.source, 64 * 2 ** 20, 60_000)); // warm
    for (let round = 0; round < rounds; round++) {
      for (const t of tunnels) {
        const out = path.join(tmp, `${t.spec.id}-${round}.txt`);
        const args = perfDir
          ? ['record', '-F', '1999', '-g', '-o', path.join(perfDir, `${t.spec.id}-${round}.data`), '-p', String(t.pid)]
          : ['trace', '-o', out, '-p', String(t.pid)];
        const perf = traced ? spawn('perf', args, { stdio: 'ignore' }) : undefined;
        await sleep(traced ? 1500 : 100);
        const cpu0 = cpuSeconds(t.pid!);
        const [u0, s0] = userSys(t.pid!);
        const seconds = await (dir === 'upload' ? bulkUpload(t.ports.sink, bytes, 120_000) : bulkDownload(t.ports.source, bytes, 120_000));
        const cpu = cpuSeconds(t.pid!) - cpu0;
        const [u1, s1] = userSys(t.pid!);
        const gb = bytes / 1e9;
        results.push({ id: t.spec.id, round, mibs: bytes / 2 ** 20 / seconds, cpu: cpu / gb, user: (u1 - u0) / gb, sys: (s1 - s0) / gb });
        process.stdout.write(`${t.spec.id}: user ${((u1 - u0) / gb).toFixed(2)} sys ${((s1 - s0) / gb).toFixed(2)} s/GB\n`);
        if (perf) {
          const done = new Promise((r) => perf.once('exit', r));
          perf.kill('SIGINT');
          await done;
        }
        print(t.spec.id, traced && !perfDir ? parseTrace(out) : new Map(), seconds, cpu);
        // SYSCALLS_KEEP=/tmp/x keeps each raw trace as /tmp/x-ID-ROUND.txt
        if (process.env.SYSCALLS_KEEP && traced && !perfDir) execFileSync('cp', [out, `${process.env.SYSCALLS_KEEP}-${t.spec.id}-${round}.txt`]);
      }
    }
    summary(tunnels.map((t) => t.spec.id));
  } finally {
    await Promise.all(tunnels.map((t) => t.stop()));
    backends.stop();
    await sshd.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
