// The http:// target of two builds A/B against a tcp:// target, tightly interleaved: one sshd
// (nodelay condition, where the agent's CPU is the limit), three agents side by side — build B
// with a tcp:// forward to the HTTP backend, builds A and B with an http:// forward to it — and
// each wrk window (keep-alive, default 32 connections, 1 s) goes to the next of the three in
// rotation. Per round: req/s, p99 and the agent's CPU µs per request; ratios http ÷ tcp per build
// and B ÷ A, medians with the per-round range (the machine is shared: ratios, not absolutes).
//
//   npx tsx bench/http-target-ab.ts --a /old/dist --b dist [--conns 32] [--rounds 12] [--seconds 1]
//     [--warmup 3] [--profile DIR]   (--profile: the agents under --cpu-prof, written to DIR)
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startSshd } from '../test/helpers/sshd.js';
import { runWrk } from './lib/measure.js';
import { cpuSeconds } from './lib/proc.js';
import { startBackends } from './lib/setup.js';
import { sleep } from './lib/stats.js';
import { specById } from './lib/tunnel-specs.js';
import { startTunnel, type Tunnel } from './lib/tunnels.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: flags } = parseArgs({
  options: {
    a: { type: 'string' }, b: { type: 'string' }, conns: { type: 'string' }, rounds: { type: 'string' },
    seconds: { type: 'string' }, warmup: { type: 'string' }, profile: { type: 'string' },
  },
});
const builds = { A: path.resolve(flags.a ?? path.join(ROOT, 'dist')), B: path.resolve(flags.b ?? path.join(ROOT, 'dist')) };
const conns = Number(flags.conns ?? 32);
const rounds = Number(flags.rounds ?? 12);
const seconds = Number(flags.seconds ?? 1);
const warmup = Number(flags.warmup ?? 3);

const median = (v: number[]) => { const s = [...v].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const fmt = (v: number[], d = 0) => `${median(v).toFixed(d)} (${Math.min(...v).toFixed(d)}–${Math.max(...v).toFixed(d)})`;

async function main(): Promise<void> {
  const sshd = await startSshd({ extraConfig: ['MaxStartups 200'] });
  const backends = await startBackends(ROOT);
  const profileDir = flags.profile ? path.resolve(flags.profile) : undefined;
  const env = { sshd, backends, agentCli: '', profileDir };
  const tools: Array<{ name: 'tcp' | 'A' | 'B'; t: Tunnel }> = [];
  try {
    const tcp = specById('agent-aes-nd');
    const http = specById('agent-http-aes-nd');
    tools.push({ name: 'tcp', t: await startTunnel(tcp, { ...env, agentCli: path.join(builds.B, 'src/cli.js') }) });
    tools.push({ name: 'A', t: await startTunnel({ ...http, id: `${http.id}-A` }, { ...env, agentCli: path.join(builds.A, 'src/cli.js') }) });
    tools.push({ name: 'B', t: await startTunnel({ ...http, id: `${http.id}-B` }, { ...env, agentCli: path.join(builds.B, 'src/cli.js') }) });
    await sleep(1000);
    for (const { t } of tools) await runWrk(t.ports.http, conns, warmup); // JIT and pool warm-up, not recorded
    const rate: Record<string, number[]> = {};
    const cpu: Record<string, number[]> = {};
    const p99: Record<string, number[]> = {};
    const ratios: Record<string, number[]> = { 'A/tcp': [], 'B/tcp': [], 'B/A': [], 'cpuA/tcp': [], 'cpuB/tcp': [], 'cpuB/A': [], 'p99A/tcp': [], 'p99B/tcp': [], 'p99B/A': [] };
    for (let r = 0; r < rounds; r++) {
      const order = tools.map((_, i) => tools[(i + r) % tools.length]!);
      const got: Record<string, { rate: number; cpu: number; p99: number }> = {};
      for (const { name, t } of order) {
        const c0 = cpuSeconds(t.pid!);
        const w = await runWrk(t.ports.http, conns, seconds);
        got[name] = { rate: w.rps, cpu: ((cpuSeconds(t.pid!) - c0) / Math.max(1, w.rps * seconds)) * 1e6, p99: w.p99ms };
        (rate[name] ??= []).push(w.rps);
        (cpu[name] ??= []).push(got[name]!.cpu);
        (p99[name] ??= []).push(w.p99ms);
        await sleep(200);
      }
      const { tcp: s, A: a, B: b } = got as Record<'tcp' | 'A' | 'B', { rate: number; cpu: number; p99: number }>;
      ratios['A/tcp']!.push(a.rate / s.rate); ratios['B/tcp']!.push(b.rate / s.rate); ratios['B/A']!.push(b.rate / a.rate);
      ratios['cpuA/tcp']!.push(a.cpu / s.cpu); ratios['cpuB/tcp']!.push(b.cpu / s.cpu); ratios['cpuB/A']!.push(b.cpu / a.cpu);
      ratios['p99A/tcp']!.push(a.p99 / s.p99); ratios['p99B/tcp']!.push(b.p99 / s.p99); ratios['p99B/A']!.push(b.p99 / a.p99);
      process.stderr.write(`round ${r + 1}: ${Object.entries(got).map(([k, v]) => `${k} ${v.rate.toFixed(0)}/s ${v.cpu.toFixed(0)} µs p99 ${v.p99.toFixed(2)} ms`).join(', ')}\n`);
    }
    const lines = [`A = ${builds.A}`, `B = ${builds.B}`, `keep-alive, ${conns} conns, nodelay, aes128-gcm, ${rounds} rounds × ${seconds} s per agent, rotated (tcp = build B with a tcp:// target)`];
    for (const { name } of tools) lines.push(`${name.padEnd(4)} req/s ${fmt(rate[name]!)}  CPU µs per request ${fmt(cpu[name]!)}  p99 ms ${fmt(p99[name]!, 2)}`);
    for (const [k, v] of Object.entries(ratios)) lines.push(`${k.padEnd(9)} ${fmt(v, 2)}`);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await Promise.all(tools.map(({ t }) => t.stop()));
    backends.stop();
    await sshd.dispose();
  }
}

main().catch((err) => {
  process.stderr.write(`http-target-ab failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
