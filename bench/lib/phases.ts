// The measurements. bulk, http and opens run on the tunnels a run started (interleaved: every
// tunnel once per round, the order rotated each round); held, startup and footprint start fresh
// processes of their own.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { SETTLED_MS, startFleetAndCollector, startRunAgent, resetPeakRss } from './footprint.js';
import { log } from './log.js';
import { bulkDownload, bulkUpload, channelOpens, closeAll, holdConnections, pingAll, runWrk } from './measure.js';
import type { BenchSizes, BulkDir } from './options.js';
import { cpuSeconds, peakRss, rss, treeCpuSeconds } from './proc.js';
import type { Recorder } from './recorder.js';
import { sleep } from './stats.js';
import { ALL_SPECS, isLeverVariant, specById } from './tunnel-specs.js';
import { startTunnel, type Tunnel, type TunnelSpec, type ToolEnv } from './tunnels.js';

export interface PhaseContext {
  rec: Recorder;
  sizes: BenchSizes;
  quick: boolean;
  httpReps: number;
  bulkDirs: BulkDir[];
  /** The checkout (scripts/, bench/lib/agent-child.mjs). */
  root: string;
  /** The measured build (dist/ or BENCH_AGENT_DIST). */
  build: string;
}

export const MB = 1e6;

export async function phaseBulk(ctx: PhaseContext, tunnels: Tunnel[], sshdPid: number): Promise<void> {
  const { rec, sizes, bulkDirs } = ctx;
  const bulk = tunnels.filter((t) => t.spec.httpTarget === 'tcp');
  for (let rep = 1; rep <= sizes.reps; rep++) {
    for (const dir of bulkDirs) {
      // rotate the order every round so that no tool is always first after a pause
      const order = bulk.map((_, i) => bulk[(i + rep) % bulk.length]!);
      for (const t of order) {
        const port = dir === 'upload' ? t.ports.sink : t.ports.source;
        const cpu0 = t.pid ? cpuSeconds(t.pid) : 0;
        const sshd0 = treeCpuSeconds(sshdPid);
        let seconds: number;
        try {
          seconds = dir === 'upload'
            ? await bulkUpload(port, sizes.bulkBytes, 120_000)
            : await bulkDownload(port, sizes.bulkBytes, 120_000);
        } catch (err) {
          log(`${t.spec.id} ${dir} failed: ${(err as Error).message}`);
          rec.record(`bulk-${dir}-errors`, t.spec.id, 1, 'count', rep);
          continue;
        }
        const gb = sizes.bulkBytes / 1e9;
        const mbps = sizes.bulkBytes / MB / seconds;
        rec.record(`bulk-${dir}`, t.spec.id, mbps, 'MB/s', rep);
        if (t.pid) rec.record(`cpu-per-gb-${dir}`, t.spec.id, (cpuSeconds(t.pid) - cpu0) / gb, 'CPU-s/GB', rep);
        if (t.spec.tool !== 'direct') rec.record(`sshd-cpu-per-gb-${dir}`, t.spec.id, (treeCpuSeconds(sshdPid) - sshd0) / gb, 'CPU-s/GB', rep);
        log(`${dir.padEnd(8)} ${t.spec.id.padEnd(24)} ${mbps.toFixed(0)} MB/s`);
        await sleep(300);
      }
    }
  }
}

export async function phaseHttp(ctx: PhaseContext, tunnels: Tunnel[]): Promise<void> {
  const { rec, sizes, quick, httpReps } = ctx;
  const tests = [
    { figure: 'ka1', connections: 1, newConnection: false },
    { figure: 'ka32', connections: 32, newConnection: false },
    { figure: 'newconn', connections: 32, newConnection: true },
  ];
  // Warm-up, not recorded: an http:// target's request path (Node's HTTP server, undici, the
  // service pool) has not run before this phase, while a tcp:// target's pipe code was warmed by
  // the bulk phase; unwarmed, its first seconds (JIT, pool connections) ran at a third of its
  // steady rate and a single-rep run (--quick) measured mostly that.
  for (const t of tunnels) await runWrk(t.ports.http, 32, quick ? 1 : 2, false).catch(() => undefined);
  for (let rep = 1; rep <= httpReps; rep++) {
    for (const test of tests) {
      const eligible = tunnels.filter((t) => test.figure === 'ka32' || !isLeverVariant(t.spec));
      const order = eligible.map((_, i) => eligible[(i + rep) % eligible.length]!);
      for (const t of order) {
        const r = await runWrk(t.ports.http, test.connections, sizes.httpSeconds, test.newConnection);
        rec.record(`${test.figure}-rps`, t.spec.id, r.rps, 'req/s', rep);
        if (!test.newConnection) {
          rec.record(`${test.figure}-p50`, t.spec.id, r.p50ms, 'ms', rep);
          rec.record(`${test.figure}-p99`, t.spec.id, r.p99ms, 'ms', rep);
        }
        rec.record(`${test.figure}-errors`, t.spec.id, r.errors + r.non2xx, 'count', rep);
        log(`${test.figure.padEnd(8)} ${t.spec.id.padEnd(24)} ${r.rps.toFixed(0)} req/s p50 ${r.p50ms.toFixed(2)} ms p99 ${r.p99ms.toFixed(2)} ms${r.errors + r.non2xx ? ` errors ${r.errors + r.non2xx}` : ''}`);
        await sleep(300);
      }
    }
  }
}

export async function phaseOpens(ctx: PhaseContext, tunnels: Tunnel[]): Promise<void> {
  const { rec, sizes, httpReps } = ctx;
  const eligible = tunnels.filter((t) => t.spec.httpTarget === 'tcp' && !isLeverVariant(t.spec));
  for (let rep = 1; rep <= httpReps; rep++) {
    const order = eligible.map((_, i) => eligible[(i + rep) % eligible.length]!);
    for (const t of order) {
      const cpu0 = t.pid ? cpuSeconds(t.pid) : 0;
      const r = await channelOpens(t.ports.echo, sizes.opensSeconds);
      rec.record('opens', t.spec.id, r.rate, 'opens/s', rep);
      // the tool's own CPU per channel (issue 14: ≈ 400 µs agent vs ≈ 150 µs ssh)
      if (t.pid && r.opens > 0) rec.record('cpu-per-open', t.spec.id, ((cpuSeconds(t.pid) - cpu0) / r.opens) * 1e6, 'µs', rep);
      rec.record('opens-errors', t.spec.id, r.errors, 'count', rep);
      log(`opens    ${t.spec.id.padEnd(24)} ${r.rate.toFixed(0)} /s${r.errors ? ` errors ${r.errors}` : ''}`);
      await sleep(500);
    }
  }
}

export async function phaseHeld(ctx: PhaseContext, env: ToolEnv): Promise<void> {
  const { rec, sizes, quick } = ctx;
  // Fresh processes: an agent's RSS after bulk transfers is mostly garbage-collected heap that
  // has not been returned yet, which would drown the per-channel figure.
  const ids = quick ? ['ssh-aes-fo', 'agent-aes-fo'] : ['ssh-aes-fo', 'agent-aes-fo', 'ssh-chacha-fo', 'agent-chacha-fo'];
  for (const spec of ALL_SPECS.filter((x) => ids.includes(x.id))) {
    const t = await startTunnel(spec, env);
    try {
      await sleep(1500);
      const before = rss(t.pid!);
      const cpu0 = cpuSeconds(t.pid!);
      const held = await holdConnections(t.ports.echo, sizes.held);
      await sleep(1000);
      const answering = await pingAll(held.sockets);
      await sleep(500);
      const during = rss(t.pid!);
      rec.record('held-open', spec.id, held.opened, 'connections');
      rec.record('held-answering', spec.id, answering, 'connections');
      rec.record('held-errors', spec.id, held.errors + (held.opened - answering), 'count');
      rec.record('held-open-seconds', spec.id, held.openSeconds, 's');
      rec.record('rss-held-before', spec.id, before / MB, 'MB');
      rec.record('rss-held', spec.id, during / MB, 'MB');
      rec.record('rss-per-channel', spec.id, (during - before) / held.opened / 1024, 'KiB');
      rec.record('cpu-held', spec.id, cpuSeconds(t.pid!) - cpu0, 'CPU-s');
      log(`held     ${spec.id.padEnd(24)} ${held.opened}/${sizes.held} open, ${answering} answering, errors ${held.errors}, RSS ${(before / MB).toFixed(1)} → ${(during / MB).toFixed(1)} MB`);
      await closeAll(held.sockets);
    } finally {
      await t.stop();
    }
  }
}

export async function phaseStartup(ctx: PhaseContext, env: ToolEnv, sshdPid: number): Promise<void> {
  const { rec, sizes, quick, root, build } = ctx;
  void sshdPid;
  // Process start to all four forwards up: the built CLI vs ssh (same four -R forwards).
  const which: TunnelSpec[] = [specById('ssh-aes-fo'), specById('agent-aes-fo')];
  for (let rep = 1; rep <= sizes.startReps; rep++) {
    for (const spec of which) {
      const t = await startTunnel(spec, env);
      rec.record('start-to-forward-cli', spec.id, t.startupMs, 'ms', rep);
      rec.record('start-to-first-forward-cli', spec.id, t.firstUpMs, 'ms', rep);
      await t.stop();
      await sleep(200);
    }
  }
  // The CLI from the sources (scripts/edge-agent-dev.js → tsx, `npm run dev`), for reference.
  for (let rep = 1; rep <= (quick ? 1 : 2); rep++) {
    const t = await startTunnel(specById('agent-aes-fo'), { ...env, agentCli: path.join(root, 'scripts/edge-agent-dev.js') });
    rec.record('start-to-forward-cli-tsx', 'agent-aes-fo', t.startupMs, 'ms', rep);
    await t.stop();
  }
  // The library: startAgent() (sessions in worker threads) to the first forward up; RSS with 1
  // and 3 sessions (per extra session).
  const child = path.join(root, 'bench/lib/agent-child.mjs');
  const runChild = (sessions: number, entry = 'src/index.js') => {
    const arg = JSON.stringify({
      index: path.join(build, entry), host: env.sshd.host, port: env.sshd.port, username: env.sshd.username,
      keyPath: env.sshd.userKeyPath, knownHostsPath: env.sshd.knownHostsPath, echoPort: env.backends.echo, sessions, settleMs: 1500,
    });
    const out = execFileSync(process.execPath, [child, arg], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 60_000 });
    return JSON.parse(out.trim().split('\n').pop()!) as { importMs: number; firstUpMs: number; allUpMs: number; rssBytes: number; crypto: unknown[]; error?: string };
  };
  for (let rep = 1; rep <= sizes.libReps; rep++) {
    const one = runChild(1);
    if (one.error) throw new Error(one.error);
    rec.record('start-to-forward-lib', 'agent-lib', one.firstUpMs, 'ms', rep, { importMs: one.importMs, crypto: one.crypto });
    rec.record('rss-lib-1-session', 'agent-lib', one.rssBytes / MB, 'MB', rep);
    // `import { startAgent } from 'ssh-edge-agent/agent'`: the agent's modules only
    const sub = runChild(1, 'src/agent.js');
    rec.record('start-to-forward-lib-subpath', 'agent-lib', sub.firstUpMs, 'ms', rep);
    rec.record('rss-lib-1-session-subpath', 'agent-lib', sub.rssBytes / MB, 'MB', rep);
    if (rep <= (quick ? 1 : 3)) {
      const three = runChild(3);
      rec.record('rss-lib-3-sessions', 'agent-lib', three.rssBytes / MB, 'MB', rep);
      rec.record('rss-lib-per-extra-session', 'agent-lib', (three.rssBytes - one.rssBytes) / 2 / MB, 'MB', rep);
    }
    log(`startAgent() → forward up ${one.firstUpMs.toFixed(0)} ms (import ${one.importMs.toFixed(0)} ms), RSS 1 session ${(one.rssBytes / MB).toFixed(1)} MB`);
  }
}

export async function phaseFootprint(ctx: PhaseContext, env: ToolEnv): Promise<void> {
  const { rec, sizes, quick } = ctx;
  // Idle RSS: `edge-agent tunnel` with one forward (the session in the main thread), and
  // `edge-agent run` (sessions in worker threads) with three forwards per session, OTLP
  // telemetry on and a fleet endpoint configured, with 1 and 3 sessions. Read twice per start:
  // 1.5 s after the forwards are up (`rss-start-*`: start-up's leftovers still resident) and
  // SETTLED_MS after (`rss-idle-*`, the idle figures the targets are about): V8's memory reducer
  // shrinks each thread's heap ≈ 8 s after start (docs/performance.md), as it does on a device.
  const extras = await startFleetAndCollector();
  const aes = specById('agent-aes-fo');
  /** RSS of `pid` 1.5 s and SETTLED_MS after its forwards came up (the caller has just seen them up). */
  const readings = async (pid: number): Promise<{ start: number; idle: number }> => {
    await sleep(1500);
    const start = rss(pid);
    await sleep(SETTLED_MS - 1500);
    return { start, idle: rss(pid) };
  };
  try {
    for (let rep = 1; rep <= (quick ? 1 : 3); rep++) {
      const t = await startTunnel(aes, env, ['echo']);
      const tr = await readings(t.pid!);
      rec.record('rss-start-tunnel-1', 'agent-cli', tr.start / MB, 'MB', rep);
      rec.record('rss-idle-tunnel-1', 'agent-cli', tr.idle / MB, 'MB', rep);
      await t.stop();
      // the same without telemetry and fleet endpoint: what those two cost
      const bare = await startRunAgent(env, 1, null);
      rec.record('start-to-first-forward-run-bare', 'agent-run', bare.firstUpMs, 'ms', rep);
      const br = await readings(bare.pid);
      rec.record('rss-start-run-1-bare', 'agent-run', br.start / MB, 'MB', rep);
      rec.record('rss-idle-run-1-bare', 'agent-run', br.idle / MB, 'MB', rep);
      await bare.stop();
      const one = await startRunAgent(env, 1, extras);
      rec.record('start-to-first-forward-run', 'agent-run', one.firstUpMs, 'ms', rep);
      const r1 = await readings(one.pid);
      rec.record('rss-start-run-1', 'agent-run', r1.start / MB, 'MB', rep);
      rec.record('rss-idle-run-1', 'agent-run', r1.idle / MB, 'MB', rep);
      await one.stop();
      const three = await startRunAgent(env, 3, extras);
      const r3 = await readings(three.pid);
      rec.record('rss-start-run-3', 'agent-run', r3.start / MB, 'MB', rep);
      rec.record('rss-idle-run-3', 'agent-run', r3.idle / MB, 'MB', rep);
      rec.record('rss-start-per-extra-session-run', 'agent-run', (r3.start - r1.start) / 2 / MB, 'MB', rep);
      rec.record('rss-per-extra-session-run', 'agent-run', (r3.idle - r1.idle) / 2 / MB, 'MB', rep);
      await three.stop();
      log(`footprint idle (${SETTLED_MS / 1000} s after up) tunnel 1 forward / run 1 session / per extra session: ${(tr.idle / MB).toFixed(1)} / ${(r1.idle / MB).toFixed(1)} / ${((r3.idle - r1.idle) / 2 / MB).toFixed(1)} MB (1.5 s after up: ${(tr.start / MB).toFixed(1)} / ${(r1.start / MB).toFixed(1)} / ${((r3.start - r1.start) / 2 / MB).toFixed(1)})`);
    }
    // Peak RSS (VmHWM, reset before each direction) while bulk goes through one forward.
    for (let rep = 1; rep <= (quick ? 1 : 2); rep++) {
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
          await (dir === 'upload' ? bulkUpload(a.sink, sizes.bulkBytes, 120_000) : bulkDownload(a.source, sizes.bulkBytes, 120_000));
          rec.record(`rss-peak-bulk-${dir}`, a.id, peakRss(a.pid) / MB, 'MB', rep);
          // the rise over the RSS just before the transfer: what the data path itself holds
          rec.record(`rss-rise-bulk-${dir}`, a.id, (peakRss(a.pid) - before) / MB, 'MB', rep);
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
