// A/B of the start-up figures between two builds, interleaved in one run (A, B, A, B, … each
// round, order alternating), using the bench's own helpers: start → first forward up for
// `edge-agent tunnel`, `startAgent()` (library, one session) and `edge-agent run` without and
// with telemetry + fleet endpoint; `ssh -N -R` once per round for scale.
// npx tsx bench/start-ab.ts --a /path/to/old/dist --b dist [--rounds 5] [--idle 0.7 --max-minutes 30]
// --idle: a round starts only once the machine's CPUs were at least that idle over one second
// (start-up overlap needs a free second core, which a machine busy with other work does not
// have); the run ends after --rounds rounds or --max-minutes. A summary is printed after each round.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startSshd } from '../test/helpers/sshd.js';
import { startFleetAndCollector, startRunAgent } from './lib/footprint.js';
import { startBackends } from './lib/setup.js';
import { sleep } from './lib/stats.js';
import { specById } from './lib/tunnel-specs.js';
import { startTunnel, type ToolEnv } from './lib/tunnels.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { a: { type: 'string' }, b: { type: 'string' }, rounds: { type: 'string', default: '5' }, idle: { type: 'string', default: '0' }, 'max-minutes': { type: 'string', default: '60' } } });
const builds = { A: path.resolve(values.a!), B: path.resolve(values.b!) };
const rounds = Number(values.rounds);
const minIdle = Number(values.idle);
const endAt = Date.now() + Number(values['max-minutes']) * 60_000;

/** Fraction of all CPUs' time idle over the next `ms` (/proc/stat). */
async function idleFraction(ms = 1000): Promise<number> {
  const read = () => readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const a = read();
  await sleep(ms);
  const b = read();
  const d = b.map((x, i) => x - a[i]!);
  const total = d.reduce((x, y) => x + y, 0);
  return total > 0 ? (d[3]! + d[4]!) / total : 0;
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const fmt = (xs: number[]) => `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;
function summary(): void {
  if (!figures.has('ssh -N -R')) { console.log('no round was run'); return; }
  console.log(`ssh -N -R: ${fmt(figures.get('ssh -N -R')!)} ms; CPU idle before each round: ${figures.get('idle before round')!.map((x) => x.toFixed(2)).join(' ')}`);
  console.log('| figure | A | B | ratio B/A per round: median (min–max) |');
  console.log('|---|---|---|---|');
  for (const name of ['startAgent()', 'tunnel', 'run', 'run+telemetry+fleet']) {
    const a = figures.get(`A ${name}`)!;
    const b = figures.get(`B ${name}`)!;
    const ratios = a.map((x, i) => b[i]! / x);
    console.log(`| ${name} | ${fmt(a)} ms | ${fmt(b)} ms | ${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}) |`);
}
console.log(`raw: ${JSON.stringify(Object.fromEntries(figures))}`);
}

const sshd = await startSshd({ extraConfig: ['MaxStartups 200'] });
const backends = await startBackends(ROOT);
const extras = await startFleetAndCollector();
const figures = new Map<string, number[]>();
const put = (k: string, v: number) => { figures.set(k, [...(figures.get(k) ?? []), v]); };
try {
  for (let round = 1; round <= rounds; round++) {
    let idle = minIdle > 0 ? await idleFraction() : 1;
    while (idle < minIdle && Date.now() < endAt) idle = await idleFraction();
    if (idle < minIdle) break;
    put('idle before round', idle);
    const ssh = await startTunnel(specById('ssh-aes-fo'), { sshd, backends, agentCli: '' });
    put('ssh -N -R', ssh.firstUpMs);
    await ssh.stop();
    const order = round % 2 ? (['A', 'B'] as const) : (['B', 'A'] as const);
    for (const which of order) {
      const build = builds[which];
      const env: ToolEnv = { sshd, backends, agentCli: path.join(build, 'src/cli.js') };
      const arg = JSON.stringify({
        index: path.join(build, 'src/index.js'), host: sshd.host, port: sshd.port, username: sshd.username,
        keyPath: sshd.userKeyPath, knownHostsPath: sshd.knownHostsPath, echoPort: backends.echo, sessions: 1, settleMs: 0,
      });
      const out = execFileSync(process.execPath, [path.join(ROOT, 'bench/lib/agent-child.mjs'), arg], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 60_000 });
      put(`${which} startAgent()`, (JSON.parse(out.trim().split('\n').pop()!) as { firstUpMs: number }).firstUpMs);
      await sleep(200);
      const t = await startTunnel(specById('agent-aes-fo'), env, ['echo']);
      put(`${which} tunnel`, t.firstUpMs);
      await t.stop();
      await sleep(200);
      const bare = await startRunAgent(env, 1, null);
      put(`${which} run`, bare.firstUpMs);
      await bare.stop();
      await sleep(200);
      const full = await startRunAgent(env, 1, extras);
      put(`${which} run+telemetry+fleet`, full.firstUpMs);
      await full.stop();
      await sleep(200);
    }
    process.stderr.write(`round ${round}/${rounds} done\n`);
    summary();
  }
} finally {
  await extras.close();
  backends.stop();
  await sshd.dispose();
}
