// `npx tsx bench/idle-ab.ts OLD_DIST NEW_DIST [--rounds N]`: idle RSS of two builds, interleaved.
//
// The footprint phase's idle figures (bench/lib/phases.ts phaseFootprint, phaseStartup's
// startAgent() child), without the bulk peaks: each round starts every configuration once per
// build, the builds' order alternating per round, so drift on a shared machine hits both alike.
// Per figure: median and min–max per build, and new ÷ old per round. RSS is VmRSS from /proc
// after 1.5 s idle; anon / file split from /proc/PID/status (file = pages of the node binary and
// shared libraries, shared with other node processes but counted in RSS). `--settle-ms N` waits N ms
// instead of 1.5 s: V8's memory reducer shrinks every thread's heap ≈ 8 s after start (a
// memory-reducing GC once the thread is idle: new space 2 → 0.25 MB, old space compacted), so
// `--settle-ms 12000` gives the RSS an idle agent keeps (docs/performance.md).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startSshd } from '../test/helpers/sshd.js';
import { startFleetAndCollector, startRunAgent } from './lib/footprint.js';
import { startBackends } from './lib/setup.js';
import { sleep, summarize } from './lib/stats.js';
import { specById } from './lib/tunnel-specs.js';
import { startTunnel, type ToolEnv } from './lib/tunnels.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MB = 1e6;
const { values, positionals } = parseArgs({ allowPositionals: true, options: { rounds: { type: 'string' }, only: { type: 'string' }, 'settle-ms': { type: 'string' } } });
if (positionals.length !== 2) {
  process.stderr.write('usage: tsx bench/idle-ab.ts OLD_DIST NEW_DIST [--rounds N] [--only REGEX] [--settle-ms N]\n');
  process.exit(2);
}
const builds = positionals.map((d) => path.resolve(d));
const rounds = Number(values.rounds ?? 3);
const only = values.only ? new RegExp(values.only) : undefined;
const settleMs = Number(values['settle-ms'] ?? 1500);

function mem(pid: number): { rss: number; anon: number; file: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') };
}

const results = new Map<string, number[][]>(); // figure → [build][round]
function record(figure: string, build: number, value: number): void {
  if (!results.has(figure)) results.set(figure, [[], []]);
  results.get(figure)![build]!.push(value);
}
/** VmRSS of `pid` as `figure`, and its anonymous / file parts. */
function recordMem(figure: string, build: number, pid: number): number {
  const m = mem(pid);
  record(figure, build, m.rss); record(`${figure}: anon`, build, m.anon); record(`${figure}: file`, build, m.file);
  return m.rss;
}

const sshd = await startSshd({ extraConfig: ['MaxStartups 200'] });
const backends = await startBackends(ROOT);
const extras = await startFleetAndCollector();
const aes = specById('agent-aes-fo');
const want = (name: string) => !only || only.test(name);

async function measure(b: number): Promise<void> {
  const dist = builds[b]!;
  const env: ToolEnv = { sshd, backends, agentCli: path.join(dist, 'src/cli.js') };
  if (want('tunnel')) {
    const t = await startTunnel(aes, env, ['echo']);
    await sleep(settleMs);
    recordMem('tunnel, 1 forward', b, t.pid!);
    await t.stop();
  }
  if (want('run-bare')) {
    const bare = await startRunAgent(env, 1, null);
    await sleep(settleMs);
    recordMem('run, 1 session (no telemetry, no fleet)', b, bare.pid);
    await bare.stop();
  }
  if (want('run')) {
    const one = await startRunAgent(env, 1, extras);
    await sleep(settleMs);
    const rss1 = recordMem('run, 1 session, OTLP, fleet', b, one.pid);
    await one.stop();
    const three = await startRunAgent(env, 3, extras);
    await sleep(settleMs);
    const rss3 = mem(three.pid).rss;
    record('run, 3 sessions, OTLP, fleet', b, rss3);
    record('run, per extra session', b, (rss3 - rss1) / 2);
    await three.stop();
  }
  if (want('lib')) {
    const child = path.join(ROOT, 'bench/lib/agent-child.mjs');
    const runChild = (sessions: number) => {
      const arg = JSON.stringify({
        index: path.join(dist, 'src/agent.js'), host: sshd.host, port: sshd.port, username: sshd.username,
        keyPath: sshd.userKeyPath, knownHostsPath: sshd.knownHostsPath, echoPort: backends.echo, sessions, settleMs,
      });
      const out = execFileSync(process.execPath, [child, arg], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 60_000 });
      return JSON.parse(out.trim().split('\n').pop()!) as { rssBytes: number };
    };
    const one = runChild(1).rssBytes;
    const three = runChild(3).rssBytes;
    record('startAgent(), 1 session', b, one);
    record('startAgent(), per extra session', b, (three - one) / 2);
  }
}

try {
  for (let r = 0; r < rounds; r++) {
    for (const b of r % 2 === 0 ? [0, 1] : [1, 0]) await measure(b);
    process.stderr.write(`round ${r + 1}/${rounds} done\n`);
  }
} finally {
  await extras.close();
  backends.stop();
  await sshd.dispose();
}

const fmt = (v: number[]) => { const s = summarize(v)!; return `${(s.median / MB).toFixed(1)} (${(s.min / MB).toFixed(1)}–${(s.max / MB).toFixed(1)})`; };
const lines = [`| figure (MB, ${rounds} rounds) | old ${builds[0]} | new ${builds[1]} | new ÷ old per round |`, '|---|---|---|---|'];
for (const [figure, [a, b]] of results) {
  const ratios = a!.map((x, i) => b![i]! / x);
  const s = summarize(ratios)!;
  lines.push(`| ${figure} | ${fmt(a!)} | ${fmt(b!)} | ${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)}) |`);
}
process.stdout.write(lines.join('\n') + '\n');
process.exit(0);
