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
// --skip-build, --no-install
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startSshd, type SshdHandle } from '../test/helpers/sshd.js';
import { bulkDownload, bulkUpload, channelOpens, closeAll, holdConnections, pingAll, runWrk } from './lib/measure.js';
import { startFleetAndCollector, startRunAgent, resetPeakRss } from './lib/footprint.js';
import { cpuSeconds, findProcess, peakRss, rss, treeCpuSeconds } from './lib/proc.js';
import { summarizeProfile } from './lib/profile-summary.js';
import { sleep, summarize, type Summary } from './lib/stats.js';
import { startTunnel, type Backends, type Tunnel, type TunnelSpec, type ToolEnv } from './lib/tunnels.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// The agent is measured as users run it: `node dist/src/cli.js` (no node flags), built first.
// BENCH_AGENT_DIST=/other/checkout/dist measures another build (before/after figures).
const BUILD = process.env.BENCH_AGENT_DIST ?? path.join(ROOT, 'dist');
const RESULTS = path.join(ROOT, 'bench', 'results');

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    reps: { type: 'string' },
    only: { type: 'string' },
    'skip-build': { type: 'boolean' },
    'no-install': { type: 'boolean' },
    phases: { type: 'string' },
    profile: { type: 'boolean' },
    bytes: { type: 'string' },
    dirs: { type: 'string' },
  },
});
const QUICK = flags.quick ?? false;
const P = QUICK
  ? { reps: 1, bulkBytes: 64 * 2 ** 20, httpSeconds: 1, opensSeconds: 1, held: 1000, startReps: 1, libReps: 1 }
  : { reps: 5, bulkBytes: 2 ** 30, httpSeconds: 4, opensSeconds: 3, held: 1000, startReps: 5, libReps: 5 };
if (flags.reps) P.reps = Math.max(1, Number(flags.reps));
if (flags.bytes) P.bulkBytes = Number(flags.bytes) * 2 ** 20;
const BULK_DIRS = (flags.dirs ?? 'upload,download').split(',').filter((d): d is 'upload' | 'download' => d === 'upload' || d === 'download');
const PHASES = new Set((flags.phases ?? 'bulk,http,opens,held,startup,footprint').split(','));
const HTTP_REPS = QUICK ? 1 : 3;

const AES = 'aes128-gcm@openssh.com' as const;
const CHACHA = 'chacha20-poly1305@openssh.com' as const;

// ------------------------------------------------------------------------------- the tools

const ALL: TunnelSpec[] = [
  { id: 'direct', tool: 'direct', condition: 'forward-only', httpTarget: 'tcp', label: 'direct (no tunnel)' },
  { id: 'ssh-aes-fo', tool: 'ssh', cipher: AES, condition: 'forward-only', httpTarget: 'tcp', label: 'ssh -N -R, aes128-gcm' },
  { id: 'ssh-aes-nd', tool: 'ssh', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', label: "ssh -R … 'sleep infinity', aes128-gcm" },
  { id: 'ssh-chacha-fo', tool: 'ssh', cipher: CHACHA, condition: 'forward-only', httpTarget: 'tcp', label: 'ssh -N -R, chacha20' },
  { id: 'ssh-chacha-nd', tool: 'ssh', cipher: CHACHA, condition: 'nodelay', httpTarget: 'tcp', label: "ssh -R … 'sleep infinity', chacha20" },
  { id: 'agent-aes-fo', tool: 'agent', cipher: AES, condition: 'forward-only', httpTarget: 'tcp', label: 'edge-agent, aes128-gcm' },
  { id: 'agent-aes-nd', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', label: 'edge-agent --sshd-nodelay-exec, aes128-gcm' },
  { id: 'agent-chacha-fo', tool: 'agent', cipher: CHACHA, condition: 'forward-only', httpTarget: 'tcp', label: 'edge-agent, chacha20' },
  { id: 'agent-chacha-nd', tool: 'agent', cipher: CHACHA, condition: 'nodelay', httpTarget: 'tcp', label: 'edge-agent --sshd-nodelay-exec, chacha20' },
  { id: 'agent-http-aes-fo', tool: 'agent', cipher: AES, condition: 'forward-only', httpTarget: 'http', label: 'edge-agent http:// target, aes128-gcm' },
  { id: 'agent-http-aes-nd', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'http', label: 'edge-agent http:// target --sshd-nodelay-exec, aes128-gcm' },
  // before/after of the levers (same build, levers switched off through EDGE_DIAG_DISABLE)
  // (write batching is only active where sshd sends with TCP_NODELAY, i.e. in the nodelay rows)
  { id: 'agent-aes-fo-nopool', tool: 'agent', cipher: AES, condition: 'forward-only', httpTarget: 'tcp', disableLevers: 'padding-pool', label: 'edge-agent, padding pool off' },
  { id: 'agent-aes-nd-nobatch', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', disableLevers: 'write-batching', label: 'edge-agent --sshd-nodelay-exec, write batching off' },
  // single-threaded GC is applied by the agent itself (src/runtime-flags.ts): off = V8's default GC; the node flag itself for comparison
  { id: 'agent-aes-nd-nosgc', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', disableLevers: 'single-threaded-gc', label: 'edge-agent --sshd-nodelay-exec, V8 default GC (runtime flags off)' },
  { id: 'agent-aes-nd-sgc', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', nodeFlags: ['--single-threaded-gc'], label: 'edge-agent --sshd-nodelay-exec, node --single-threaded-gc' },
  // the upload data path (inbound packet pool + reused read buffer; target writes batched per turn)
  { id: 'agent-aes-nd-noinpool', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', disableLevers: 'inbound-pool', label: 'edge-agent --sshd-nodelay-exec, inbound pool off' },
  { id: 'agent-aes-nd-notwb', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', disableLevers: 'target-write-batching', label: 'edge-agent --sshd-nodelay-exec, target write batching off' },
  { id: 'agent-aes-nd-nodatapath', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', disableLevers: 'inbound-pool,target-write-batching', label: 'edge-agent --sshd-nodelay-exec, inbound pool and target batching off' },
  { id: 'agent-aes-nd-nolevers', tool: 'agent', cipher: AES, condition: 'nodelay', httpTarget: 'tcp', disableLevers: 'write-batching,padding-pool', label: 'edge-agent --sshd-nodelay-exec, batching and pool off' },
];
const QUICK_IDS = ['direct', 'ssh-aes-fo', 'ssh-aes-nd', 'agent-aes-fo', 'agent-aes-nd', 'agent-http-aes-fo', 'agent-aes-nd-nobatch'];
const isLeverVariant = (s: TunnelSpec) => s.disableLevers !== undefined || s.nodeFlags !== undefined;

let specs = QUICK ? ALL.filter((s) => QUICK_IDS.includes(s.id)) : ALL;
if (flags.only) {
  // the named tunnels plus the `ssh -R` each is compared with
  const re = new RegExp(flags.only);
  const chosen = ALL.filter((s) => re.test(s.id));
  const bases = new Set(chosen.map(baselineOf).filter(Boolean));
  specs = ALL.filter((s) => chosen.includes(s) || bases.has(s.id));
}

/** The `ssh -R` a tunnel is compared with: same cipher, same condition. */
function baselineOf(spec: TunnelSpec): string | null {
  if (spec.tool !== 'agent') return null;
  return `ssh-${spec.cipher === CHACHA ? 'chacha' : 'aes'}-${spec.condition === 'nodelay' ? 'nd' : 'fo'}`;
}

// ------------------------------------------------------------------------------- recording

const runId = new Date().toISOString().replace(/[:.]/g, '-');
mkdirSync(RESULTS, { recursive: true });
const jsonl = path.join(RESULTS, `${runId}${QUICK ? '-quick' : ''}.jsonl`);
const samples = new Map<string, number[]>(); // `${figure}|${tunnel}` → values
const pairs = new Map<string, Record<string, number>>(); // `${figure}|${rep}` → tunnel → value

function record(figure: string, tunnel: string, value: number, unit: string, rep = 0, extra: Record<string, unknown> = {}): void {
  const key = `${figure}|${tunnel}`;
  if (!samples.has(key)) samples.set(key, []);
  samples.get(key)!.push(value);
  const pk = `${figure}|${rep}`;
  if (!pairs.has(pk)) pairs.set(pk, {});
  pairs.get(pk)![tunnel] = value;
  appendFileSync(jsonl, JSON.stringify({ run: runId, quick: QUICK, at: new Date().toISOString(), figure, tunnel, rep, value, unit, ...extra }) + '\n');
}

function stat(figure: string, tunnel: string): Summary | null {
  return summarize(samples.get(`${figure}|${tunnel}`) ?? []);
}

/** Ratios agent/ssh paired by repetition (same round), then summarised. */
function pairedRatio(figure: string, tunnel: string, base: string): Summary | null {
  const ratios: number[] = [];
  for (const [key, r] of pairs) {
    if (!key.startsWith(`${figure}|`)) continue;
    if (r[tunnel] !== undefined && r[base] !== undefined && r[base] !== 0) ratios.push(r[tunnel]! / r[base]!);
  }
  return summarize(ratios);
}

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

// ------------------------------------------------------------------------------- setup

function ensureWrk(): void {
  if (spawnSync('sh', ['-c', 'command -v wrk'], { stdio: 'ignore' }).status === 0) return;
  const root = process.getuid?.() === 0;
  if (!flags['no-install'] && root && spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0) {
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

function buildAgent(): void {
  const stamp = path.join(BUILD, '.stamp');
  const sources = Math.max(...['src', 'workers', 'config', 'telemetry'].map((d) => newestMtime(path.join(ROOT, d))));
  if (process.env.BENCH_AGENT_DIST || flags['skip-build'] || (existsSync(stamp) && statSync(stamp).mtimeMs > sources)) return;
  log('building the agent into dist/ (tsc) ...');
  const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.json')], { encoding: 'utf8' });
  if (tsc.status !== 0) {
    // tsc still emits JavaScript on type errors; a work tree mid-edit should not stop a benchmark
    if (!existsSync(path.join(BUILD, 'src/cli.js'))) throw new Error(`tsc failed:\n${tsc.stdout}${tsc.stderr}`);
    log(`warning: tsc reported type errors (the build was emitted anyway):\n${tsc.stdout.split('\n').slice(0, 5).join('\n')}`);
  }
  // the built config loader looks for its JSON Schema next to itself first
  copyFileSync(path.join(ROOT, 'config/assignment.schema.json'), path.join(BUILD, 'config/assignment.schema.json'));
  writeFileSync(stamp, new Date().toISOString());
}

async function startBackends(): Promise<Backends & { stop(): void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/lib/backends.ts')], { stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT });
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

// ------------------------------------------------------------------------------- phases

const MB = 1e6;

async function phaseBulk(tunnels: Tunnel[], sshdPid: number): Promise<void> {
  const bulk = tunnels.filter((t) => t.spec.httpTarget === 'tcp');
  for (let rep = 1; rep <= P.reps; rep++) {
    for (const dir of BULK_DIRS) {
      // rotate the order every round so that no tool is always first after a pause
      const order = bulk.map((_, i) => bulk[(i + rep) % bulk.length]!);
      for (const t of order) {
        const port = dir === 'upload' ? t.ports.sink : t.ports.source;
        const cpu0 = t.pid ? cpuSeconds(t.pid) : 0;
        const sshd0 = treeCpuSeconds(sshdPid);
        let seconds: number;
        try {
          seconds = dir === 'upload'
            ? await bulkUpload(port, P.bulkBytes, 120_000)
            : await bulkDownload(port, P.bulkBytes, 120_000);
        } catch (err) {
          log(`${t.spec.id} ${dir} failed: ${(err as Error).message}`);
          record(`bulk-${dir}-errors`, t.spec.id, 1, 'count', rep);
          continue;
        }
        const gb = P.bulkBytes / 1e9;
        const mbps = P.bulkBytes / MB / seconds;
        record(`bulk-${dir}`, t.spec.id, mbps, 'MB/s', rep);
        if (t.pid) record(`cpu-per-gb-${dir}`, t.spec.id, (cpuSeconds(t.pid) - cpu0) / gb, 'CPU-s/GB', rep);
        if (t.spec.tool !== 'direct') record(`sshd-cpu-per-gb-${dir}`, t.spec.id, (treeCpuSeconds(sshdPid) - sshd0) / gb, 'CPU-s/GB', rep);
        log(`${dir.padEnd(8)} ${t.spec.id.padEnd(24)} ${mbps.toFixed(0)} MB/s`);
        await sleep(300);
      }
    }
  }
}

async function phaseHttp(tunnels: Tunnel[]): Promise<void> {
  const tests = [
    { figure: 'ka1', connections: 1, newConnection: false },
    { figure: 'ka32', connections: 32, newConnection: false },
    { figure: 'newconn', connections: 32, newConnection: true },
  ];
  // Warm-up, not recorded: an http:// target's request path (Node's HTTP server, undici, the
  // service pool) has not run before this phase, while a tcp:// target's pipe code was warmed by
  // the bulk phase; unwarmed, its first seconds (JIT, pool connections) ran at a third of its
  // steady rate and a single-rep run (--quick) measured mostly that.
  for (const t of tunnels) await runWrk(t.ports.http, 32, QUICK ? 1 : 2, false).catch(() => undefined);
  for (let rep = 1; rep <= HTTP_REPS; rep++) {
    for (const test of tests) {
      const eligible = tunnels.filter((t) => test.figure === 'ka32' || !isLeverVariant(t.spec));
      const order = eligible.map((_, i) => eligible[(i + rep) % eligible.length]!);
      for (const t of order) {
        const r = await runWrk(t.ports.http, test.connections, P.httpSeconds, test.newConnection);
        record(`${test.figure}-rps`, t.spec.id, r.rps, 'req/s', rep);
        if (!test.newConnection) {
          record(`${test.figure}-p50`, t.spec.id, r.p50ms, 'ms', rep);
          record(`${test.figure}-p99`, t.spec.id, r.p99ms, 'ms', rep);
        }
        record(`${test.figure}-errors`, t.spec.id, r.errors + r.non2xx, 'count', rep);
        log(`${test.figure.padEnd(8)} ${t.spec.id.padEnd(24)} ${r.rps.toFixed(0)} req/s p50 ${r.p50ms.toFixed(2)} ms p99 ${r.p99ms.toFixed(2)} ms${r.errors + r.non2xx ? ` errors ${r.errors + r.non2xx}` : ''}`);
        await sleep(300);
      }
    }
  }
}

async function phaseOpens(tunnels: Tunnel[]): Promise<void> {
  const eligible = tunnels.filter((t) => t.spec.httpTarget === 'tcp' && !isLeverVariant(t.spec));
  for (let rep = 1; rep <= HTTP_REPS; rep++) {
    const order = eligible.map((_, i) => eligible[(i + rep) % eligible.length]!);
    for (const t of order) {
      const r = await channelOpens(t.ports.echo, P.opensSeconds);
      record('opens', t.spec.id, r.rate, 'opens/s', rep);
      record('opens-errors', t.spec.id, r.errors, 'count', rep);
      log(`opens    ${t.spec.id.padEnd(24)} ${r.rate.toFixed(0)} /s${r.errors ? ` errors ${r.errors}` : ''}`);
      await sleep(500);
    }
  }
}

async function phaseHeld(env: ToolEnv): Promise<void> {
  // Fresh processes: an agent's RSS after bulk transfers is mostly garbage-collected heap that
  // has not been returned yet, which would drown the per-channel figure.
  const ids = QUICK ? ['ssh-aes-fo', 'agent-aes-fo'] : ['ssh-aes-fo', 'agent-aes-fo', 'ssh-chacha-fo', 'agent-chacha-fo'];
  for (const spec of ALL.filter((x) => ids.includes(x.id))) {
    const t = await startTunnel(spec, env);
    try {
      await sleep(1500);
      const before = rss(t.pid!);
      const cpu0 = cpuSeconds(t.pid!);
      const held = await holdConnections(t.ports.echo, P.held);
      await sleep(1000);
      const answering = await pingAll(held.sockets);
      await sleep(500);
      const during = rss(t.pid!);
      record('held-open', spec.id, held.opened, 'connections');
      record('held-answering', spec.id, answering, 'connections');
      record('held-errors', spec.id, held.errors + (held.opened - answering), 'count');
      record('held-open-seconds', spec.id, held.openSeconds, 's');
      record('rss-held-before', spec.id, before / MB, 'MB');
      record('rss-held', spec.id, during / MB, 'MB');
      record('rss-per-channel', spec.id, (during - before) / held.opened / 1024, 'KiB');
      record('cpu-held', spec.id, cpuSeconds(t.pid!) - cpu0, 'CPU-s');
      log(`held     ${spec.id.padEnd(24)} ${held.opened}/${P.held} open, ${answering} answering, errors ${held.errors}, RSS ${(before / MB).toFixed(1)} → ${(during / MB).toFixed(1)} MB`);
      await closeAll(held.sockets);
    } finally {
      await t.stop();
    }
  }
}

async function phaseStartup(env: ToolEnv, sshdPid: number): Promise<void> {
  void sshdPid;
  // Process start to all four forwards up: the built CLI vs ssh (same four -R forwards).
  const which: TunnelSpec[] = [ALL.find((s) => s.id === 'ssh-aes-fo')!, ALL.find((s) => s.id === 'agent-aes-fo')!];
  for (let rep = 1; rep <= P.startReps; rep++) {
    for (const spec of which) {
      const t = await startTunnel(spec, env);
      record('start-to-forward-cli', spec.id, t.startupMs, 'ms', rep);
      record('start-to-first-forward-cli', spec.id, t.firstUpMs, 'ms', rep);
      await t.stop();
      await sleep(200);
    }
  }
  // The CLI from the sources (scripts/edge-agent-dev.js → tsx, `npm run dev`), for reference.
  for (let rep = 1; rep <= (QUICK ? 1 : 2); rep++) {
    const t = await startTunnel(ALL.find((s) => s.id === 'agent-aes-fo')!, { ...env, agentCli: path.join(ROOT, 'scripts/edge-agent-dev.js') });
    record('start-to-forward-cli-tsx', 'agent-aes-fo', t.startupMs, 'ms', rep);
    await t.stop();
  }
  // The library: startAgent() (sessions in worker threads) to the first forward up; RSS with 1
  // and 3 sessions (per extra session).
  const child = path.join(ROOT, 'bench/lib/agent-child.mjs');
  const runChild = (sessions: number, entry = 'src/index.js') => {
    const arg = JSON.stringify({
      index: path.join(BUILD, entry), host: env.sshd.host, port: env.sshd.port, username: env.sshd.username,
      keyPath: env.sshd.userKeyPath, knownHostsPath: env.sshd.knownHostsPath, echoPort: env.backends.echo, sessions, settleMs: 1500,
    });
    const out = execFileSync(process.execPath, [child, arg], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 60_000 });
    return JSON.parse(out.trim().split('\n').pop()!) as { importMs: number; firstUpMs: number; allUpMs: number; rssBytes: number; crypto: unknown[]; error?: string };
  };
  for (let rep = 1; rep <= P.libReps; rep++) {
    const one = runChild(1);
    if (one.error) throw new Error(one.error);
    record('start-to-forward-lib', 'agent-lib', one.firstUpMs, 'ms', rep, { importMs: one.importMs, crypto: one.crypto });
    record('rss-lib-1-session', 'agent-lib', one.rssBytes / MB, 'MB', rep);
    // `import { startAgent } from 'ssh-edge-agent/agent'`: the agent's modules only
    const sub = runChild(1, 'src/agent.js');
    record('start-to-forward-lib-subpath', 'agent-lib', sub.firstUpMs, 'ms', rep);
    record('rss-lib-1-session-subpath', 'agent-lib', sub.rssBytes / MB, 'MB', rep);
    if (rep <= (QUICK ? 1 : 3)) {
      const three = runChild(3);
      record('rss-lib-3-sessions', 'agent-lib', three.rssBytes / MB, 'MB', rep);
      record('rss-lib-per-extra-session', 'agent-lib', (three.rssBytes - one.rssBytes) / 2 / MB, 'MB', rep);
    }
    log(`startAgent() → forward up ${one.firstUpMs.toFixed(0)} ms (import ${one.importMs.toFixed(0)} ms), RSS 1 session ${(one.rssBytes / MB).toFixed(1)} MB`);
  }
}

async function phaseFootprint(env: ToolEnv): Promise<void> {
  // Idle RSS: `edge-agent tunnel` with one forward (the session in the main thread), and
  // `edge-agent run` (sessions in worker threads) with three forwards per session, OTLP
  // telemetry on and a fleet endpoint configured, with 1 and 3 sessions.
  const extras = await startFleetAndCollector();
  const aes = ALL.find((s) => s.id === 'agent-aes-fo')!;
  try {
    for (let rep = 1; rep <= (QUICK ? 1 : 3); rep++) {
      const t = await startTunnel(aes, env, ['echo']);
      await sleep(1500);
      record('rss-idle-tunnel-1', 'agent-cli', rss(t.pid!) / MB, 'MB', rep);
      await t.stop();
      // the same without telemetry and fleet endpoint: what those two cost
      const bare = await startRunAgent(env, 1, null);
      record('start-to-first-forward-run-bare', 'agent-run', bare.firstUpMs, 'ms', rep);
      await sleep(1500);
      record('rss-idle-run-1-bare', 'agent-run', rss(bare.pid) / MB, 'MB', rep);
      await bare.stop();
      const one = await startRunAgent(env, 1, extras);
      record('start-to-first-forward-run', 'agent-run', one.firstUpMs, 'ms', rep);
      await sleep(1500);
      const rss1 = rss(one.pid);
      record('rss-idle-run-1', 'agent-run', rss1 / MB, 'MB', rep);
      await one.stop();
      const three = await startRunAgent(env, 3, extras);
      await sleep(1500);
      const rss3 = rss(three.pid);
      record('rss-idle-run-3', 'agent-run', rss3 / MB, 'MB', rep);
      record('rss-per-extra-session-run', 'agent-run', (rss3 - rss1) / 2 / MB, 'MB', rep);
      await three.stop();
      log(`footprint tunnel 1 forward / run 1 session / per extra session: ${stat('rss-idle-tunnel-1', 'agent-cli')!.median.toFixed(1)} / ${(rss1 / MB).toFixed(1)} / ${((rss3 - rss1) / 2 / MB).toFixed(1)} MB`);
    }
    // Peak RSS (VmHWM, reset before each direction) while bulk goes through one forward.
    for (let rep = 1; rep <= (QUICK ? 1 : 2); rep++) {
      const cli = await startTunnel(aes, env, ['sink', 'source']);
      const run = await startRunAgent(env, 1, extras);
      await sleep(1000);
      const agents = [
        { id: 'agent-cli', pid: cli.pid!, sink: cli.ports.sink, source: cli.ports.source },
        { id: 'agent-run', pid: run.pid, sink: run.ports.get('s1/sink')!, source: run.ports.get('s1/source')! },
      ];
      for (const a of agents) {
        for (const dir of ['upload', 'download'] as const) {
          const before = rss(a.pid);
          resetPeakRss(a.pid);
          await (dir === 'upload' ? bulkUpload(a.sink, P.bulkBytes, 120_000) : bulkDownload(a.source, P.bulkBytes, 120_000));
          record(`rss-peak-bulk-${dir}`, a.id, peakRss(a.pid) / MB, 'MB', rep);
          // the rise over the RSS just before the transfer: what the data path itself holds
          record(`rss-rise-bulk-${dir}`, a.id, (peakRss(a.pid) - before) / MB, 'MB', rep);
          log(`peak RSS ${dir} ${a.id} ${(peakRss(a.pid) / MB).toFixed(1)} MB (+${((peakRss(a.pid) - before) / MB).toFixed(1)} over ${(before / MB).toFixed(1)} MB before)`);
        }
      }
      await cli.stop();
      await run.stop();
    }
  } finally {
    await extras.close();
  }
}

// ------------------------------------------------------------------------------- report

function fmt(s: Summary | null, digits = 0): string {
  if (!s) return '–';
  const f = (x: number) => (Math.abs(x) >= 100 || digits === 0 ? x.toFixed(digits === 0 && Math.abs(x) < 10 ? 1 : digits) : x.toFixed(digits));
  return s.n > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median);
}

function ratioText(figure: string, tunnel: string, base: string): { text: string; ratio: number | null } {
  const a = stat(figure, tunnel);
  const b = stat(figure, base);
  if (!a || !b || b.median === 0) return { text: '–', ratio: null };
  const ratio = a.median / b.median;
  const paired = pairedRatio(figure, tunnel, base);
  return { text: `${ratio.toFixed(2)}×${paired && paired.n > 1 ? ` (${paired.min.toFixed(2)}–${paired.max.toFixed(2)})` : ''}`, ratio };
}

interface Target { min?: number; max?: number; text: string }
interface Row { figure: string; label: string; digits: number; target?: Target; nodelayTarget?: Target }

const verdict = (value: number, target: Target) => ((target.min !== undefined ? value >= target.min : value <= target.max!) ? 'PASS' : '**MISS**');

// Targets of issue 14: bulk and CPU per GB for every cipher and condition; request/response and
// channel opens against `ssh -R … 'sleep infinity'` (sshd with NODELAY, agent with
// sshdNoDelayExec); forward-only (`ssh -N`) figures are reported and must not regress.
const RATIO_ROWS: Row[] = [
  { figure: 'bulk-upload', label: 'bulk upload MB/s (client → service)', digits: 0, target: { min: 0.95, text: '≥ 0.95×' } },
  { figure: 'bulk-download', label: 'bulk download MB/s (service → client)', digits: 0, target: { min: 0.95, text: '≥ 0.95×' } },
  { figure: 'cpu-per-gb-upload', label: 'tool CPU-s per GB, upload', digits: 2, target: { max: 1.5, text: '≤ 1.5×' } },
  { figure: 'cpu-per-gb-download', label: 'tool CPU-s per GB, download', digits: 2, target: { max: 1.5, text: '≤ 1.5×' } },
  { figure: 'ka1-rps', label: 'HTTP keep-alive req/s, 1 conn', digits: 0 },
  { figure: 'ka1-p50', label: 'HTTP keep-alive p50 ms, 1 conn', digits: 2 },
  { figure: 'ka1-p99', label: 'HTTP keep-alive p99 ms, 1 conn', digits: 2 },
  { figure: 'ka32-rps', label: 'HTTP keep-alive req/s, 32 conns', digits: 0, nodelayTarget: { min: 1.0, text: '≥ 1.0× (nodelay)' } },
  { figure: 'ka32-p50', label: 'HTTP keep-alive p50 ms, 32 conns', digits: 2 },
  { figure: 'ka32-p99', label: 'HTTP keep-alive p99 ms, 32 conns', digits: 2, nodelayTarget: { max: 1.0, text: '≤ 1.0× (nodelay)' } },
  { figure: 'newconn-rps', label: 'new connection per request, req/s', digits: 0 },
  { figure: 'opens', label: 'channel opens per second', digits: 0, nodelayTarget: { min: 1.0, text: '≥ 1.0× (nodelay)' } },
];

function buildReport(tunnels: TunnelSpec[], meta: Record<string, string>): string {
  const lines: string[] = [];
  const agentTunnels = tunnels.filter((t) => t.tool === 'agent' && !isLeverVariant(t));
  lines.push(`# edge-agent vs OpenSSH \`ssh -R\` — ${QUICK ? 'quick smoke run' : 'full run'} ${runId}`);
  lines.push('');
  for (const [k, v] of Object.entries(meta)) lines.push(`- ${k}: ${v}`);
  lines.push('');
  lines.push('Medians with min–max over the repetitions; ratios are median/median with the range of per-round ratios (agent ÷ `ssh -R` with the same cipher and sshd condition, measured in the same round). The machine is shared and has 2 cores: compare ratios, not absolute numbers, across runs.');
  lines.push('');
  lines.push('| figure | edge-agent variant | `ssh -R` | edge-agent | ratio | target | met |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const row of RATIO_ROWS) {
    for (const t of agentTunnels) {
      if (t.httpTarget === 'http' && !row.figure.startsWith('ka') && !row.figure.startsWith('newconn')) continue;
      const base = baselineOf(t)!;
      const a = stat(row.figure, t.id);
      const b = stat(row.figure, base);
      if (!a || !b) continue;
      const r = ratioText(row.figure, t.id, base);
      const target = t.httpTarget === 'http' ? undefined : row.target ?? (t.condition === 'nodelay' ? row.nodelayTarget : undefined);
      const met = !target || r.ratio === null ? '' : verdict(r.ratio, target);
      lines.push(`| ${row.label} | ${t.label} | ${fmt(b, row.digits)} | ${fmt(a, row.digits)} | ${r.text} | ${target?.text ?? ''} | ${met} |`);
    }
  }
  lines.push('');

  // the HTTP-aware target against a tcp:// target through the same kind of tunnel
  const httpRows = [
    { figure: 'ka32-rps', label: 'HTTP keep-alive req/s, 32 conns', target: { min: 0.6, text: '≥ 0.6×' } as Target },
    { figure: 'ka32-p99', label: 'HTTP keep-alive p99 ms, 32 conns', target: { max: 2.0, text: '≤ 2×' } as Target },
    { figure: 'ka1-rps', label: 'HTTP keep-alive req/s, 1 conn', target: undefined },
  ];
  const httpTunnels = agentTunnels.filter((t) => t.httpTarget === 'http');
  if (httpTunnels.some((t) => stat('ka32-rps', t.id))) {
    lines.push('| figure (http:// target ÷ tcp:// target, same run) | edge-agent variant | tcp:// target | http:// target | ratio | target | met |');
    lines.push('|---|---|---|---|---|---|---|');
    for (const row of httpRows) {
      for (const t of httpTunnels) {
        const base = agentTunnels.find((x) => x.httpTarget === 'tcp' && x.cipher === t.cipher && x.condition === t.condition);
        const a = stat(row.figure, t.id);
        const b = base && stat(row.figure, base.id);
        if (!a || !b || !base) continue;
        const r = ratioText(row.figure, t.id, base.id);
        lines.push(`| ${row.label} | ${t.label} | ${fmt(b, 2)} | ${fmt(a, 2)} | ${r.text} | ${row.target?.text ?? ''} | ${row.target && r.ratio !== null ? verdict(r.ratio, row.target) : ''} |`);
      }
    }
    lines.push('');
  }

  // absolute figures and the non-ratio targets
  lines.push('| figure | value | target | met |');
  lines.push('|---|---|---|---|');
  const abs = (label: string, figure: string, tunnel: string, digits: number, target?: { max?: number; min?: number; text: string }) => {
    const s = stat(figure, tunnel);
    if (!s) return;
    const met = !target ? '' : verdict(s.median, target);
    lines.push(`| ${label} | ${fmt(s, digits)} | ${target?.text ?? ''} | ${met} |`);
  };
  for (const id of ['ssh-aes-fo', 'agent-aes-fo', 'ssh-chacha-fo', 'agent-chacha-fo']) {
    const open = stat('held-open', id);
    if (!open) continue;
    const answering = stat('held-answering', id)!;
    const errors = stat('held-errors', id)!;
    const ok = open.median === P.held && answering.median === P.held && errors.median === 0;
    lines.push(`| ${P.held} held channels, ${id}: open / answering / errors | ${open.median} / ${answering.median} / ${errors.median} (all opened in ${fmt(stat('held-open-seconds', id), 1)} s) | all, 0 errors | ${id.startsWith('agent') ? (ok ? 'PASS' : '**MISS**') : ''} |`);
  }
  abs('RSS MB idle, `edge-agent tunnel` with one forward', 'rss-idle-tunnel-1', 'agent-cli', 1, { max: 55, text: '≤ 55 MB' });
  abs('RSS MB idle, `edge-agent run`: 1 session, 3 forwards, OTLP telemetry, fleet endpoint', 'rss-idle-run-1', 'agent-run', 1, { max: 65, text: '≤ 65 MB' });
  abs('RSS MB idle, `edge-agent run`: the same session, telemetry off, no fleet endpoint', 'rss-idle-run-1-bare', 'agent-run', 1);
  abs('RSS MB idle, `edge-agent run`: 3 such sessions (telemetry, fleet endpoint)', 'rss-idle-run-3', 'agent-run', 1);
  abs('RSS MB per additional session, `edge-agent run` (3 vs 1 sessions)', 'rss-per-extra-session-run', 'agent-run', 1, { max: 15, text: '≤ 15 MB' });
  for (const [id, what] of [['agent-cli', '`edge-agent tunnel` (session in the main thread)'], ['agent-run', '`edge-agent run` (session in a worker)']] as const) {
    for (const dir of ['upload', 'download']) abs(`RSS MB peak during ${P.bulkBytes / 2 ** 20} MiB ${dir} through one forward, ${what}`, `rss-peak-bulk-${dir}`, id, 1, { max: 90, text: '≤ 90 MB' });
    for (const dir of ['upload', 'download']) abs(`RSS MB rise during that ${dir} over the RSS just before it, ${what}`, `rss-rise-bulk-${dir}`, id, 1);
  }
  for (const id of ['ssh-aes-fo', 'agent-aes-fo', 'ssh-chacha-fo', 'agent-chacha-fo']) {
    abs(`RSS MB idle (connected, 4 forwards), ${id}`, 'rss-idle', id, 1);
    abs(`RSS MB after bulk, ${id}`, 'rss-after-bulk', id, 1);
    abs(`RSS MB fresh process, before the ${P.held} channels, ${id}`, 'rss-held-before', id, 1);
    abs(`RSS MB with ${P.held} channels open, ${id}`, 'rss-held', id, 1);
    abs(`RSS KiB per open channel, ${id}`, 'rss-per-channel', id, 1, id.startsWith('agent') ? { max: 30, text: '≤ 30 KB' } : undefined);
  }
  abs('RSS MB, startAgent() with 1 session (worker thread, telemetry off), idle', 'rss-lib-1-session', 'agent-lib', 1);
  abs("RSS MB, the same imported from 'ssh-edge-agent/agent'", 'rss-lib-1-session-subpath', 'agent-lib', 1);
  abs('RSS MB per extra session (startAgent(), 3 vs 1 sessions)', 'rss-lib-per-extra-session', 'agent-lib', 1, { max: 15, text: '≤ 15 MB' });
  abs('start → first forward up, startAgent() (library), ms', 'start-to-forward-lib', 'agent-lib', 0, { max: 300, text: '≤ 300 ms' });
  abs("start → first forward up, startAgent() from 'ssh-edge-agent/agent', ms", 'start-to-forward-lib-subpath', 'agent-lib', 0);
  abs('start → first forward up, `node dist/src/cli.js tunnel` process, ms', 'start-to-first-forward-cli', 'agent-aes-fo', 0, { max: 400, text: '≤ 400 ms' });
  abs('start → first forward up, `node dist/src/cli.js run` (telemetry, fleet endpoint), ms', 'start-to-first-forward-run', 'agent-run', 0);
  abs('start → first forward up, `node dist/src/cli.js run` (telemetry off, no fleet endpoint), ms', 'start-to-first-forward-run-bare', 'agent-run', 0);
  abs('start → first forward up, `ssh -N -R` process, ms', 'start-to-first-forward-cli', 'ssh-aes-fo', 0);
  abs('start → 4 forwards up, `edge-agent tunnel` built CLI process, ms', 'start-to-forward-cli', 'agent-aes-fo', 0);
  abs('start → 4 forwards up, `edge-agent tunnel` from a checkout (tsx), ms', 'start-to-forward-cli-tsx', 'agent-aes-fo', 0);
  abs('start → 4 forwards up, `ssh -N -R` process, ms', 'start-to-forward-cli', 'ssh-aes-fo', 0);
  for (const t of tunnels.filter((x) => x.tool === 'direct')) {
    abs('direct (no tunnel) bulk upload MB/s', 'bulk-upload', t.id, 0);
    abs('direct (no tunnel) bulk download MB/s', 'bulk-download', t.id, 0);
    abs('direct (no tunnel) keep-alive req/s, 32 conns', 'ka32-rps', t.id, 0);
    abs('direct (no tunnel) keep-alive p99 ms, 32 conns', 'ka32-p99', t.id, 2);
    abs('direct (no tunnel) new connection per request, req/s', 'newconn-rps', t.id, 0);
    abs('direct (no tunnel) channel (connection) opens/s', 'opens', t.id, 0);
  }
  for (const id of ['ssh-aes-fo', 'agent-aes-fo']) abs(`sshd CPU-s per GB, download, ${id}`, 'sshd-cpu-per-gb-download', id, 2);
  lines.push('');

  // lever before/after
  const levers = tunnels.filter(isLeverVariant);
  if (levers.length) {
    lines.push('Levers, before/after (same build; EDGE_DIAG_DISABLE switches a lever off):');
    lines.push('');
    lines.push('| figure | variant | value | ratio to `ssh -R` | vs all levers on |');
    lines.push('|---|---|---|---|---|');
    for (const figure of ['bulk-upload', 'bulk-download', 'cpu-per-gb-upload', 'cpu-per-gb-download', 'ka32-rps', 'ka32-p99']) {
      for (const t of [...levers, ...agentTunnels.filter((x) => x.httpTarget === 'tcp' && x.cipher === AES)]) {
        const s = stat(figure, t.id);
        if (!s) continue;
        const full = t.condition === 'nodelay' ? 'agent-aes-nd' : 'agent-aes-fo';
        lines.push(`| ${figure} | ${t.label} | ${fmt(s, figure.includes('cpu') || figure.includes('p99') ? 2 : 0)} | ${ratioText(figure, t.id, baselineOf(t)!).text} | ${t.id === full ? '' : ratioText(figure, t.id, full).text} |`);
      }
    }
    lines.push('');
    lines.push('sshd condition lever (`--sshd-nodelay-exec`): compare the forward-only and nodelay rows above.');
  }
  return lines.join('\n') + '\n';
}

// ------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const started = Date.now();
  if (!QUICK || !flags['skip-build']) ensureWrk();
  buildAgent();
  const sshd: SshdHandle = await startSshd({ extraConfig: ['MaxStartups 200'] });
  const backends = await startBackends();
  const profileDir = flags.profile ? path.join(RESULTS, `profiles-${runId}`) : undefined;
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
    log(`${QUICK ? 'quick' : 'full'} run ${runId}; results → ${path.relative(ROOT, jsonl)}`);
    for (const spec of specs) {
      const t = await startTunnel(spec, env);
      tunnels.push(t);
      if (t.pid) record('start-to-forward-first', spec.id, t.startupMs, 'ms');
    }
    await sleep(1500);
    for (const t of tunnels) if (t.pid) record('rss-idle', t.spec.id, rss(t.pid) / MB, 'MB');

    if (PHASES.has('bulk')) {
      await phaseBulk(tunnels, sshdPid);
      await sleep(2000);
      for (const t of tunnels) if (t.pid) record('rss-after-bulk', t.spec.id, rss(t.pid) / MB, 'MB');
    }
    if (PHASES.has('http')) await phaseHttp(tunnels);
    if (PHASES.has('opens')) await phaseOpens(tunnels);
    // (held and startup use fresh processes)
    for (const t of tunnels) {
      if (t.spec.tool === 'agent' && /error|EDGE_ERR/i.test(t.stderr())) log(`${t.spec.id} stderr:\n${t.stderr().slice(-2000)}`);
    }
    await Promise.all(tunnels.map((t) => t.stop()));
    tunnels.length = 0;
    if (profileDir) {
      for (const f of readdirSync(profileDir).filter((x) => x.endsWith('.cpuprofile'))) process.stderr.write(summarizeProfile(path.join(profileDir, f), 20) + '\n');
    }
    if (PHASES.has('held')) await phaseHeld(env);
    if (PHASES.has('startup')) await phaseStartup(env, sshdPid);
    if (PHASES.has('footprint')) await phaseFootprint(env);
  } finally {
    await stopAll();
  }

  const cpu = readFileSync('/proc/cpuinfo', 'utf8');
  const meta = {
    machine: `${os.cpus().length} × ${/model name\s*:\s*(.*)/.exec(cpu)?.[1] ?? os.cpus()[0]?.model}, Linux ${os.release()}, Node ${process.version}`,
    'OpenSSH': execFileSync('ssh', ['-V'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim() || spawnSync('ssh', ['-V'], { encoding: 'utf8' }).stderr.trim(),
    'load generator': `wrk (${spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout?.split('\n')[0]?.trim() ?? 'not installed'}), 1 thread; bulk and channel-open clients in Node`,
    sizes: `bulk ${P.bulkBytes / 2 ** 20} MiB × ${P.reps} per direction; HTTP ${P.httpSeconds} s × ${HTTP_REPS}; opens ${P.opensSeconds} s × ${HTTP_REPS} (16 parallel); ${P.held} held`,
    duration: `${((Date.now() - started) / 60000).toFixed(1)} min`,
    'raw results': path.relative(ROOT, jsonl),
  };
  const report = buildReport(specs, meta);
  process.stdout.write('\n' + report);
  if (!QUICK && !flags.only && !flags.phases) writeFileSync(path.join(RESULTS, 'latest.md'), report);
  writeFileSync(path.join(RESULTS, QUICK ? 'last-quick.md' : 'last-full.md'), report);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
