// Two builds of the agent A/B, tightly interleaved: `ssh -R … 'sleep infinity'`, build A and
// build B run side by side through one sshd (nodelay condition), and each measurement window
// (default 1 s) goes to the next of the three in rotation, for many rounds. On a shared, loaded
// machine the load drifts over seconds; adjacent windows see nearly the same load, so the
// per-round ratios (B ÷ A, each ÷ ssh) scatter far less than those of two separate bench runs.
//
//   npx tsx bench/ab-builds.ts --a /old/checkout/dist --b dist [--phase opens|ka32] [--rounds 20]
//     [--seconds 1] [--cipher aes|chacha] [--warmup 5] [--target http] [--profile DIR]
// --target http: A and B forward to the HTTP backend through an http:// target, and the third
// tool is build B with a tcp:// target instead of `ssh -R` (the "ssh" column: http ÷ tcp).
// --profile DIR: the agents under --cpu-prof, profiles written to DIR.
// Prints medians and ranges of opens/s (or req/s and p99) and the tool's CPU µs per channel open
// (or per request), each per round, and the ratios.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startSshd } from '../test/helpers/sshd.js';
import { channelOpens, runWrk } from './lib/measure.js';
import { cpuSeconds } from './lib/proc.js';
import { startBackends } from './lib/setup.js';
import { sleep } from './lib/stats.js';
import { AES, CHACHA, specById } from './lib/tunnel-specs.js';
import { startTunnel, type Tunnel } from './lib/tunnels.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: flags } = parseArgs({
  options: {
    a: { type: 'string' }, b: { type: 'string' }, phase: { type: 'string' }, rounds: { type: 'string' },
    seconds: { type: 'string' }, cipher: { type: 'string' }, warmup: { type: 'string' },
    target: { type: 'string' }, profile: { type: 'string' },
  },
});
const builds = { A: path.resolve(flags.a ?? path.join(ROOT, 'dist')), B: path.resolve(flags.b ?? path.join(ROOT, 'dist')) };
const phase = flags.phase ?? 'opens';
const rounds = Number(flags.rounds ?? 20);
const seconds = Number(flags.seconds ?? 1);
const cipher = flags.cipher === 'chacha' ? CHACHA : AES;
const warmup = Number(flags.warmup ?? 5);

const median = (v: number[]) => { const s = [...v].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const fmt = (v: number[], d = 0) => `${median(v).toFixed(d)} (${Math.min(...v).toFixed(d)}–${Math.max(...v).toFixed(d)})`;

async function main(): Promise<void> {
  const sshd = await startSshd({ extraConfig: ['MaxStartups 200'] });
  const backends = await startBackends(ROOT);
  const env = { sshd, backends, agentCli: '', profileDir: flags.profile ? path.resolve(flags.profile) : undefined };
  const tools: Array<{ name: string; t: Tunnel }> = [];
  try {
    const ssh = specById(cipher === CHACHA ? 'ssh-chacha-nd' : 'ssh-aes-nd');
    const tcpAgent = specById(cipher === CHACHA ? 'agent-chacha-nd' : 'agent-aes-nd');
    const http = flags.target === 'http';
    const agent = http ? { ...tcpAgent, httpTarget: 'http' as const } : tcpAgent;
    tools.push({ name: 'ssh', t: await (http ? startTunnel(tcpAgent, { ...env, agentCli: path.join(builds.B, 'src/cli.js') }) : startTunnel(ssh, env)) });
    for (const [name, dist] of Object.entries(builds)) tools.push({ name, t: await startTunnel({ ...agent, id: `${agent.id}-${name}` }, { ...env, agentCli: path.join(dist, 'src/cli.js') }) });
    await sleep(1000);
    // warm-up, not recorded: the agents' per-channel CPU falls by half over the first seconds (JIT)
    for (const { t } of tools) await (phase === 'opens' ? channelOpens(t.ports.echo, warmup) : runWrk(t.ports.http, 32, warmup));
    const rate: Record<string, number[]> = {};
    const cpu: Record<string, number[]> = {};
    const p99: Record<string, number[]> = {};
    const ratios: Record<string, number[]> = { 'A/ssh': [], 'B/ssh': [], 'B/A': [], 'cpuA/ssh': [], 'cpuB/ssh': [], 'cpuB/A': [], 'p99A/ssh': [], 'p99B/ssh': [], 'p99B/A': [] };
    for (let r = 0; r < rounds; r++) {
      const order = tools.map((_, i) => tools[(i + r) % tools.length]!);
      const got: Record<string, { rate: number; cpu: number; p99: number }> = {};
      for (const { name, t } of order) {
        const c0 = cpuSeconds(t.pid!);
        let n: number;
        let rps: number;
        let p = 0;
        if (phase === 'opens') {
          const o = await channelOpens(t.ports.echo, seconds);
          n = o.opens;
          rps = o.rate;
        } else {
          const w = await runWrk(t.ports.http, 32, seconds);
          rps = w.rps;
          n = w.rps * seconds;
          p = w.p99ms;
        }
        got[name] = { rate: rps, cpu: ((cpuSeconds(t.pid!) - c0) / Math.max(1, n)) * 1e6, p99: p };
        (rate[name] ??= []).push(rps);
        (cpu[name] ??= []).push(got[name]!.cpu);
        (p99[name] ??= []).push(p);
        await sleep(200);
      }
      const { ssh: s, A: a, B: b } = got as Record<'ssh' | 'A' | 'B', { rate: number; cpu: number; p99: number }>;
      ratios['A/ssh']!.push(a.rate / s.rate); ratios['B/ssh']!.push(b.rate / s.rate); ratios['B/A']!.push(b.rate / a.rate);
      ratios['cpuA/ssh']!.push(a.cpu / s.cpu); ratios['cpuB/ssh']!.push(b.cpu / s.cpu); ratios['cpuB/A']!.push(b.cpu / a.cpu);
      if (phase !== 'opens') { ratios['p99A/ssh']!.push(a.p99 / s.p99); ratios['p99B/ssh']!.push(b.p99 / s.p99); ratios['p99B/A']!.push(b.p99 / a.p99); }
      process.stderr.write(`round ${r + 1}: ${Object.entries(got).map(([k, v]) => `${k} ${v.rate.toFixed(0)}/s ${v.cpu.toFixed(0)} µs${phase === 'opens' ? '' : ` p99 ${v.p99.toFixed(2)} ms`}`).join(', ')}\n`);
    }
    const unit = phase === 'opens' ? 'opens/s' : 'req/s';
    const lines = [`A = ${builds.A}`, `B = ${builds.B}`, `${phase}, ${cipher}${flags.target === 'http' ? ', A and B through an http:// target, "ssh" = build B through a tcp:// target' : ''}, ${rounds} rounds × ${seconds} s per tool, rotated`];
    for (const { name } of tools) lines.push(`${name.padEnd(4)} ${unit} ${fmt(rate[name]!)}  CPU µs per ${phase === 'opens' ? 'open' : 'request'} ${fmt(cpu[name]!)}${phase === 'opens' ? '' : `  p99 ms ${fmt(p99[name]!, 2)}`}`);
    for (const [k, v] of Object.entries(ratios)) if (v.length) lines.push(`${k.padEnd(9)} ${fmt(v, 2)}`);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await Promise.all(tools.map(({ t }) => t.stop()));
    backends.stop();
    await sshd.dispose();
  }
}

main().catch((err) => {
  process.stderr.write(`ab-builds failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
