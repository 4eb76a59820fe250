// `npx tsx bench/gateway-fleet.ts [--agents 1000] [--concurrency 8]`: the built-in gateway at
// fleet scale (issue 16 item 5). Not part of `npm test`: it holds 1000 SSH connections.
//
// The gateway runs alone in a child process (bench/lib/gateway-fleet-child.ts, --expose-gc);
// this process plays N agents (ssh2 clients, one key each, one port-0 forward each, idle).
// Reported: gateway memory per idle agent connection (heap, heap + external, RSS; the slope
// between a warm-up of 20 agents and N, after full GCs; target ≤ 100 KB), and GET /status with
// N agents listed (median / max wall time of 20 requests, the gateway's CPU per answer, body
// size; target < 100 ms). Wall times on a shared machine include waiting for a CPU.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import ssh2 from 'ssh2';
import { generateEd25519 } from '../src/gateway/host-key.js';
import { cpuSeconds } from './lib/proc.js';

const { values } = parseArgs({ options: { agents: { type: 'string' }, concurrency: { type: 'string' } } });
const AGENTS = Number(values.agents ?? 1000);
const CONCURRENCY = Number(values.concurrency ?? 8); // below the default maxStartups start (10)
const WARMUP = 20;
const KB = 1024;

interface Memory { rss: number; heapUsed: number; external: number; arrayBuffers: number; connections: number; ports: number }

const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-agent-gateway-fleet-'));
const keys = Array.from({ length: AGENTS }, (_, i) => generateEd25519(`device-${i}`));
writeFileSync(path.join(dir, 'authorized_keys'), keys.map((k) => k.public.trim()).join('\n') + '\n');

const child = fork(fileURLToPath(new URL('./lib/gateway-fleet-child.ts', import.meta.url)), [dir, String(AGENTS + 100)], {
  execArgv: ['--import', 'tsx', '--expose-gc'],
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const nextMessage = <T>(type: string) => new Promise<T>((resolve) => {
  const on = (m: { type: string }) => { if (m.type === type) { child.off('message', on); resolve(m as T); } };
  child.on('message', on);
});
const measure = async (): Promise<Memory> => {
  const reply = nextMessage<Memory>('memory');
  child.send({ type: 'measure' });
  return reply;
};

const clients: ssh2.Client[] = [];
try {
  const gw = await nextMessage<{ port: number; fingerprint: string; adminPort: number }>('started');
  const connectAgent = async (i: number): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const client = await new Promise<ssh2.Client>((resolve, reject) => {
          const c = new ssh2.Client();
          c.once('ready', () => resolve(c));
          c.once('error', reject);
          c.connect({ host: '127.0.0.1', port: gw.port, username: `device-${i}`, privateKey: Buffer.from(keys[i]!.private), readyTimeout: 60_000, keepaliveInterval: 0 });
        });
        client.on('error', () => {});
        client.on('tcp connection', (_info, accept) => { const ch = accept(); ch.pipe(ch); }); // an echo "service"
        await new Promise<void>((resolve, reject) => client.forwardIn('127.0.0.1', 0, (err) => (err ? reject(err) : resolve())));
        clients.push(client);
        return;
      } catch (err) {
        if (attempt >= 5) throw new Error(`agent ${i}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  };
  const connectRange = async (from: number, to: number) => {
    let next = from;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < to) await connectAgent(next++);
    }));
  };

  const base = await measure();
  await connectRange(0, WARMUP);
  const warm = await measure();
  const started = Date.now();
  await connectRange(WARMUP, AGENTS);
  const connectSeconds = (Date.now() - started) / 1000;
  await new Promise((r) => setTimeout(r, 2_000)); // let the last handshakes' garbage settle
  const full = await measure();

  // A forwarded port still answers (echo through a random agent).
  const statusUrl = `http://127.0.0.1:${gw.adminPort}/status`;
  const status = await (await fetch(statusUrl)).json() as { connections: Array<{ forwards: Array<{ port: number }> }> };
  const somePort = status.connections[Math.floor(status.connections.length / 2)]!.forwards[0]!.port;
  const echoed = await new Promise<string>((resolve, reject) => {
    const s = net.connect(somePort, '127.0.0.1', () => s.write('ping'));
    s.once('data', (d) => { resolve(d.toString()); s.destroy(); });
    s.once('error', reject);
  });

  const times: number[] = [];
  let bodyBytes = 0;
  const cpuBefore = cpuSeconds(child.pid!);
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    const res = await fetch(statusUrl);
    bodyBytes = (await res.arrayBuffer()).byteLength;
    times.push(performance.now() - t0);
  }
  // Gateway CPU per answer: unlike wall time, not inflated by other processes on the machine.
  const cpuMsPerAnswer = ((cpuSeconds(child.pid!) - cpuBefore) * 1000) / 20;
  times.sort((a, b) => a - b);
  const serverSide: Array<{ buildMs: number; stringifyMs: number }> = [];
  for (let i = 0; i < 5; i++) {
    const reply = nextMessage<{ buildMs: number; stringifyMs: number }>('status-time');
    child.send({ type: 'time-status' });
    serverSide.push(await reply);
  }
  const bestOf = (k: 'buildMs' | 'stringifyMs') => Number(Math.min(...serverSide.map((x) => x[k])).toFixed(1));

  const per = (a: number, b: number) => (b - a) / (AGENTS - WARMUP) / KB;
  const result = {
    agents: AGENTS,
    connectedInSeconds: Number(connectSeconds.toFixed(1)),
    gatewayConnections: full.connections,
    gatewayPorts: full.ports,
    perIdleConnectionKB: {
      heap: Number(per(warm.heapUsed, full.heapUsed).toFixed(1)),
      heapPlusExternal: Number(per(warm.heapUsed + warm.external, full.heapUsed + full.external).toFixed(1)),
      rss: Number(per(warm.rss, full.rss).toFixed(1)),
    },
    gatewayMB: {
      idle: { rss: Math.round(base.rss / KB / KB), heap: Math.round(base.heapUsed / KB / KB) },
      withAgents: { rss: Math.round(full.rss / KB / KB), heap: Math.round(full.heapUsed / KB / KB) },
    },
    status: {
      medianMs: Number(times[10]!.toFixed(1)), maxMs: Number(times[19]!.toFixed(1)), bodyKB: Math.round(bodyBytes / KB),
      gatewayCpuMsPerAnswer: Number(cpuMsPerAnswer.toFixed(1)),
      serverSide: { buildMs: bestOf('buildMs'), stringifyMs: bestOf('stringifyMs') },
    },
    echoThroughAgent: echoed === 'ping',
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  for (const c of clients) c.end();
  child.send({ type: 'stop' });
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
