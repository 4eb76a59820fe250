// startAgent() starts the static sessions' workers before the main thread loads telemetry, so
// that the worker's boot (thread, ssh2) and the OpenTelemetry SDK's load overlap on two cores;
// the session's first events wait until metrics and spans can take them. Checked by order, not
// timing: in a child process (sources through tsx) a module loader hook holds the main thread's
// telemetry module until the session's forward is up and its first spans have arrived — which
// only happens if the worker started first (the old order waits forever) — and the metrics and
// spans then still count the events that came in while telemetry was held.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import type { Worker } from 'node:worker_threads';
import { startAgent } from '../../src/agent.js';
import { startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

const AGENT = fileURLToPath(new URL('../../src/agent.ts', import.meta.url));

// The loader hook (runs in Node's hooks thread): reports when the main thread asks for the
// telemetry module, and holds it until the child's main thread says "release".
const HOOKS = `
let port;
let release;
const released = new Promise((resolve) => { release = resolve; });
export async function initialize(data) {
  port = data.port;
  port.on('message', (m) => { if (m === 'release') release(); });
}
export async function load(url, context, next) {
  if (/\\/telemetry\\/agent-telemetry\\.[jt]s$/.test(new URL(url).pathname)) {
    port.postMessage('telemetry module requested');
    await released;
  }
  return next(url, context);
}
`;

const CHILD = `
import { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
const opts = JSON.parse(process.env.START_ORDER_OPTS);
const order = [];
const { port1, port2 } = new MessageChannel();
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOKS)}), { data: { port: port2 }, transferList: [port2] });
port1.on('message', (m) => order.push(m));
port1.unref();
process.on('worker', () => order.push('worker created'));
const fail = setTimeout(() => { process.stdout.write(JSON.stringify({ order, error: 'telemetry still held after 30 s' }) + '\\n'); process.exit(1); }, 30_000);
const { startAgent } = await import(opts.agent);
let up = false;
let spans = false;
const lines = [];
const agent = await startAgent({
  agent: { logLevel: 'warn' }, admin: { listen: '' }, telemetry: { exporter: 'console' },
  credentials: { k: { privateKeyFile: opts.keyPath } },
  sessions: [{ id: 's1', host: opts.host, port: opts.port, username: opts.username, credential: 'k', hostKeys: { knownHostsFile: opts.knownHostsPath },
    forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: 'tcp://127.0.0.1:' + opts.echoPort }] }],
}, {
  runtimeFlags: false,
  log: () => {},
  consoleSpans: (line) => lines.push(line),
  onEvent: (_id, event) => {
    if (event.type === 'forward' && event.status.state === 'up' && !up) { up = true; order.push('forward up'); }
    if (event.type === 'spans' && !spans) { spans = true; order.push('first spans'); }
    if (up && spans) port1.postMessage('release');
  },
});
order.push('startAgent resolved');
clearTimeout(fail);
const metrics = await agent.metrics();
await agent.close(); // flushes the span pipeline
process.stdout.write(JSON.stringify({ order, metrics, spanLines: lines }) + '\\n');
process.exit(0);
`;

describe('startAgent() start order', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  let dir: string;
  beforeAll(async () => {
    [sshd, echo] = await Promise.all([startSshd(), startEchoServer()]);
    dir = mkdtempSync(path.join(os.tmpdir(), 'edge-start-order-'));
  });
  afterAll(async () => {
    await Promise.all([sshd?.dispose(), echo?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the session worker starts before telemetry loads; the events that arrive meanwhile still reach metrics and spans', async () => {
    const script = path.join(dir, 'child.mjs');
    writeFileSync(script, CHILD);
    const opts = { agent: AGENT, host: sshd.host, port: sshd.port, username: sshd.username, keyPath: sshd.userKeyPath, knownHostsPath: sshd.knownHostsPath, echoPort: echo.port };
    const child = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, NODE_OPTIONS: '', START_ORDER_OPTS: JSON.stringify(opts) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const result = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { order?: string[]; metrics?: string; spanLines?: string[]; error?: string };
    expect(result.error, err.slice(-2000)).toBeUndefined();
    expect(code).toBe(0);
    const order = result.order!;
    // The worker exists before the main thread even asks for the telemetry module…
    expect(order.indexOf('worker created')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('worker created')).toBeLessThan(order.indexOf('telemetry module requested'));
    // …the session was up (and had sent spans) while telemetry was held…
    expect(order.indexOf('forward up')).toBeLessThan(order.indexOf('startAgent resolved'));
    expect(order.indexOf('first spans')).toBeLessThan(order.indexOf('startAgent resolved'));
    // …and what arrived meanwhile counts: the first connection attempt, its ssh.connect span.
    expect(result.metrics).toMatch(/^edge_agent_connect_attempts_total\{[^}]*session="s1"[^}]*\} 1$/m);
    expect(result.spanLines!.some((l) => l.includes('ssh.connect'))).toBe(true);
  }, 90_000);

  it('a fleet setting that fails after the workers started (unreadable caFile) fails the start and stops those workers', async () => {
    const workers: Worker[] = [];
    const exited = new Set<Worker>();
    const onWorker = (w: Worker) => { workers.push(w); w.once('exit', () => exited.add(w)); };
    process.on('worker', onWorker);
    try {
      const start = startAgent({
        agent: { logLevel: 'warn' }, admin: { listen: '' },
        assignments: { url: 'https://127.0.0.1:1/assignments', caFile: path.join(dir, 'no-such-ca.pem') },
        credentials: { k: { privateKeyFile: sshd.userKeyPath } },
        sessions: [{ id: 's1', host: sshd.host, port: sshd.port, username: sshd.username, credential: 'k', hostKeys: { knownHostsFile: sshd.knownHostsPath },
          forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }] }],
      }, { runtimeFlags: false, log: () => {} });
      await expect(start).rejects.toMatchObject({ code: 'EDGE_ERR_INVALID_CONFIG', message: expect.stringMatching(/assignments\.caFile: cannot read/) });
      expect(workers.length).toBeGreaterThan(0); // the session had started…
      await waitUntil(() => workers.every((w) => exited.has(w)), 15_000, 'the session worker to exit'); // …and is gone
    } finally {
      process.off('worker', onWorker);
    }
  }, 60_000);
});
