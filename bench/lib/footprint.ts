// Footprint figures: the agent as `edge-agent run` (the built CLI, sessions in worker threads)
// with telemetry on and a fleet endpoint configured, and the peak RSS of an agent process while
// bulk data goes through it. Everything from /proc (robust to a loaded machine).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startFleetServer, type FleetServer } from '../../test/helpers/fleet-server.js';
import { startOtlpReceiver, type OtlpReceiver } from '../../test/helpers/otlp-receiver.js';
import { sleep } from './stats.js';
import type { ToolEnv } from './tunnels.js';

export interface RunAgent {
  pid: number;
  /** Spawn to the first forward up / to every forward up, ms. */
  firstUpMs: number;
  allUpMs: number;
  /** Remote port of each forward, by `${session}/${forward}`. */
  ports: Map<string, number>;
  stop(): Promise<void>;
}

export interface FleetAndCollector {
  fleet: FleetServer;
  otlp: OtlpReceiver;
  close(): Promise<void>;
}

/** A fleet endpoint (serving a signed-off empty document) and an OTLP collector on loopback. */
export async function startFleetAndCollector(): Promise<FleetAndCollector> {
  const fleet = await startFleetServer();
  fleet.serve({ revision: 1, sessions: [] });
  const otlp = await startOtlpReceiver();
  return { fleet, otlp, close: async () => { await fleet.close(); await otlp.close(); } };
}

/** When an idle agent's RSS is read: after V8's memory reducer has shrunk the heaps (≈ 8 s after start). */
export const SETTLED_MS = 12_000;

const FORWARDS = ['echo', 'sink', 'source'] as const;

/**
 * `node <cli> run --config FILE` with `sessions` sessions of three tcp:// forwards each
 * (echo, sink and source backends), OTLP telemetry to `extras.otlp` and assignments.url polling
 * `extras.fleet` when given.
 */
export async function startRunAgent(env: ToolEnv, sessions: number, extras: FleetAndCollector | null, nodeFlags: string[] = []): Promise<RunAgent> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-bench-run-'));
  const { sshd, backends } = env;
  const config = {
    agent: { id: 'bench', logLevel: 'info', logFormat: 'text' },
    admin: { listen: '' },
    credentials: { k: { privateKeyFile: sshd.userKeyPath } },
    sessions: Array.from({ length: sessions }, (_, i) => ({
      id: `s${i + 1}`, host: sshd.host, port: sshd.port, username: sshd.username, credential: 'k',
      hostKeys: { knownHostsFile: sshd.knownHostsPath },
      forwards: FORWARDS.map((f) => ({ id: f, bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${backends[f]}` })),
    })),
    assignments: extras ? { url: extras.fleet.url, pollIntervalMs: 30_000 } : { url: '' },
    telemetry: { exporter: extras ? 'otlp' : 'none' },
  };
  const file = path.join(dir, 'agent.json');
  writeFileSync(file, JSON.stringify(config));
  const t0 = performance.now();
  const flags = [...nodeFlags, ...(process.env.BENCH_AGENT_NODE_FLAGS ?? '').split(' ').filter(Boolean)];
  const child = spawn(process.execPath, [...flags, env.agentCli, 'run', '--config', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '', ...(extras ? { OTEL_EXPORTER_OTLP_ENDPOINT: extras.otlp.endpoint } : {}) },
    cwd: path.dirname(env.agentCli),
  });
  let out = '';
  const ports = new Map<string, number>();
  let firstUpMs = 0;
  const want = sessions * FORWARDS.length;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      if (!(await Promise.race([exited.then(() => true), sleep(8000).then(() => false)]))) { child.kill('SIGKILL'); await exited; }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const allUpMs = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { void stop(); reject(new Error(`edge-agent run: ${ports.size}/${want} forwards up after 30 s:\n${out.slice(-3000)}`)); }, 30_000);
    const onData = (d: string) => {
      out += d;
      for (const m of out.matchAll(/session (s\d+): forward (\w+) up: [^:]+:(\d+) on /g)) {
        if (!ports.has(`${m[1]}/${m[2]}`)) {
          ports.set(`${m[1]}/${m[2]}`, Number(m[3]));
          firstUpMs ||= performance.now() - t0;
        }
      }
      if (ports.size >= want) { clearTimeout(timer); resolve(performance.now() - t0); }
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.stderr!.setEncoding('utf8').on('data', onData);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`edge-agent run exited (${code}):\n${out.slice(-3000)}`)); });
  });
  return { pid: child.pid!, firstUpMs, allUpMs, ports, stop };
}

/** Resets the kernel's peak-RSS mark (VmHWM) of a process (Linux ≥ 4.0; own processes). */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}
