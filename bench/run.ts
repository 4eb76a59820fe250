// `npm run bench` (full, ~17–25 min) / `npm run bench -- --quick` (~1.2 min smoke run).
//
// Starts its own sshd on loopback (test/helpers/sshd.ts), the backends (bench/lib/backends.ts),
// and every tool under test side by side through that sshd: direct, OpenSSH `ssh -R` and the
// built `edge-agent tunnel`, with aes128-gcm and chacha20-poly1305, each in both sshd
// conditions (forward-only: sshd keeps Nagle on; nodelay: a session ran a command, sshd set
// TCP_NODELAY). Measurements are interleaved (every tool once per round, rounds repeated) so
// that drift on a shared machine hits all tools alike; figures are medians with min–max, and
// what counts are the ratios to `ssh -R` with the same cipher and condition in this run.
//
// Options: --quick, --reps N, --only REGEX (tunnel ids), --phases bulk,http,opens,held,startup,footprint,
// --bytes MiB (bulk size), --dirs upload|download (bulk directions), --profile (agents under --cpu-prof; top functions printed),
// --skip-build, --no-install, --help
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSshd, type SshdHandle } from '../test/helpers/sshd.js';
import { log } from './lib/log.js';
import { parseBenchOptions } from './lib/options.js';
import { MB, phaseBulk, phaseFootprint, phaseHeld, phaseHttp, phaseOpens, phaseStartup, type PhaseContext } from './lib/phases.js';
import { findProcess, rss } from './lib/proc.js';
import { summarizeProfile } from './lib/profile-summary.js';
import { Recorder } from './lib/recorder.js';
import { buildReport } from './lib/report.js';
import { buildAgent, ensureWrk, startBackends } from './lib/setup.js';
import { sleep } from './lib/stats.js';
import { selectSpecs } from './lib/tunnel-specs.js';
import { startTunnel, type Tunnel, type ToolEnv } from './lib/tunnels.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// The agent is measured as users run it: `node dist/src/cli.js` (no node flags), built first.
// BENCH_AGENT_DIST=/other/checkout/dist measures another build (before/after figures).
const BUILD = process.env.BENCH_AGENT_DIST ?? path.join(ROOT, 'dist');
const RESULTS = path.join(ROOT, 'bench', 'results');

const opts = parseBenchOptions();
const sizes = opts.sizes;
const specs = selectSpecs(opts.quick, opts.only);
const rec = new Recorder(RESULTS, opts.quick);
const ctx: PhaseContext = { rec, sizes, quick: opts.quick, httpReps: opts.httpReps, bulkDirs: opts.bulkDirs, root: ROOT, build: BUILD };

async function main(): Promise<void> {
  const started = Date.now();
  if (!opts.quick || !opts.skipBuild) ensureWrk(opts.noInstall);
  buildAgent(ROOT, BUILD, opts.skipBuild);
  const sshd: SshdHandle = await startSshd({ extraConfig: ['MaxStartups 200'] });
  const backends = await startBackends(ROOT);
  const profileDir = opts.profile ? path.join(RESULTS, `profiles-${rec.runId}`) : undefined;
  const env: ToolEnv = { sshd, backends, agentCli: path.join(BUILD, 'src/cli.js'), profileDir };
  const sshdPid = findProcess(sshd.configPath);
  if (!sshdPid) throw new Error('cannot find the sshd listener process');
  const tunnels: Tunnel[] = [];
  const stopAll = async () => {
    await Promise.all(tunnels.map((t) => t.stop()));
    backends.stop();
    await sshd.dispose();
  };
  process.once('SIGINT', () => { void stopAll().then(() => process.exit(130)); });
  try {
    log(`${opts.quick ? 'quick' : 'full'} run ${rec.runId}; results → ${path.relative(ROOT, rec.jsonl)}`);
    for (const spec of specs) {
      const t = await startTunnel(spec, env);
      tunnels.push(t);
      if (t.pid) rec.record('start-to-forward-first', spec.id, t.startupMs, 'ms');
    }
    await sleep(1500);
    for (const t of tunnels) if (t.pid) rec.record('rss-idle', t.spec.id, rss(t.pid) / MB, 'MB');

    if (opts.phases.has('bulk')) {
      await phaseBulk(ctx, tunnels, sshdPid);
      await sleep(2000);
      for (const t of tunnels) if (t.pid) rec.record('rss-after-bulk', t.spec.id, rss(t.pid) / MB, 'MB');
    }
    if (opts.phases.has('http')) await phaseHttp(ctx, tunnels);
    if (opts.phases.has('opens')) await phaseOpens(ctx, tunnels);
    // (held and startup use fresh processes)
    for (const t of tunnels) {
      if (t.spec.tool === 'agent' && /error|EDGE_ERR/i.test(t.stderr())) log(`${t.spec.id} stderr:\n${t.stderr().slice(-2000)}`);
    }
    await Promise.all(tunnels.map((t) => t.stop()));
    tunnels.length = 0;
    if (profileDir) {
      for (const f of readdirSync(profileDir).filter((x) => x.endsWith('.cpuprofile'))) process.stderr.write(summarizeProfile(path.join(profileDir, f), 20) + '\n');
    }
    if (opts.phases.has('held')) await phaseHeld(ctx, env);
    if (opts.phases.has('startup')) await phaseStartup(ctx, env, sshdPid);
    if (opts.phases.has('footprint')) await phaseFootprint(ctx, env);
  } finally {
    await stopAll();
  }

  const cpu = readFileSync('/proc/cpuinfo', 'utf8');
  const meta = {
    machine: `${os.cpus().length} × ${/model name\s*:\s*(.*)/.exec(cpu)?.[1] ?? os.cpus()[0]?.model}, Linux ${os.release()}, Node ${process.version}`,
    'OpenSSH': execFileSync('ssh', ['-V'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim() || spawnSync('ssh', ['-V'], { encoding: 'utf8' }).stderr.trim(),
    'load generator': `wrk (${spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout?.split('\n')[0]?.trim() ?? 'not installed'}), 1 thread; bulk and channel-open clients in Node`,
    sizes: `bulk ${sizes.bulkBytes / 2 ** 20} MiB × ${sizes.reps} per direction; HTTP ${sizes.httpSeconds} s × ${opts.httpReps}; opens ${sizes.opensSeconds} s × ${opts.httpReps} (16 parallel); ${sizes.held} held`,
    duration: `${((Date.now() - started) / 60000).toFixed(1)} min`,
    'raw results': path.relative(ROOT, rec.jsonl),
  };
  const report = buildReport({ rec, sizes, quick: opts.quick }, specs, meta);
  process.stdout.write('\n' + report);
  if (!opts.quick && !opts.only && !opts.phasesGiven) writeFileSync(path.join(RESULTS, 'latest.md'), report);
  writeFileSync(path.join(RESULTS, opts.quick ? 'last-quick.md' : 'last-full.md'), report);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
