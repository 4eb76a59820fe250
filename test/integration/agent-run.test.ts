// `edge-agent run --config FILE` as a device runs it, against two real OpenSSH sshd instances:
// the real CLI as a child process, its admin endpoint, its signals and its exit codes.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliToExit, type CliProcess } from '../helpers/cli.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, pseudoRandomChunks, pseudoRandomSha256, startEchoServer, startSinkServer, type SinkServer, type TcpService } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

const MB = 1024 * 1024;

interface StatusDoc {
  agentId: string;
  sessions: Array<{ id: string; state: string; threadId: number | null; attempt: number; lastError: { code: string } | null; forwards: Array<{ id: string; state: string; remotePort: number | null; channels: { total: number } }> }>;
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await request(url);
  return { status: res.statusCode, body: await res.body.text() };
}

describe('edge-agent run', () => {
  let a: SshdHandle;
  let b: SshdHandle;
  let echo: TcpService;
  let sink: SinkServer;
  let dir: string;

  beforeAll(async () => {
    [a, b] = await Promise.all([startSshd(), startSshd()]);
    echo = await startEchoServer();
    sink = await startSinkServer();
    dir = mkdtempSync(path.join(os.tmpdir(), 'edge-agent-run-'));
  });
  afterAll(async () => {
    await Promise.all([echo?.close(), sink?.close(), a?.dispose(), b?.dispose()]);
  });

  function session(sshd: SshdHandle, id: string, forwards: unknown[], extra: Record<string, unknown> = {}) {
    return {
      id, host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: id === 'a' ? 'ka' : 'kb',
      hostKeys: { knownHostsFile: sshd.knownHostsPath },
      reconnect: { retryIntervalMs: 200, maxRetryIntervalMs: 1000 },
      forwards, ...extra,
    };
  }

  function writeConfig(name: string, config: Record<string, unknown>): string {
    const file = path.join(dir, name);
    writeFileSync(file, JSON.stringify(config, null, 2));
    return file;
  }

  const baseConfig = () => ({
    agent: { id: 'device-test', drainTimeoutMs: 15000, logFormat: 'text' },
    admin: { listen: '127.0.0.1:0' },
    credentials: { ka: { privateKeyFile: a.userKeyPath }, kb: { privateKeyFile: b.userKeyPath } },
    sessions: [
      session(a, 'a', [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }]),
      session(b, 'b', [
        { id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` },
        { id: 'sink', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${sink.port}` },
      ]),
    ],
  });

  async function startRun(config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<{ cli: CliProcess; admin: string }> {
    const cli = runCli(['run', '--config', writeConfig(`config-${Math.random().toString(16).slice(2)}.json`, config)], env);
    const m = await cli.waitForLine(/status at (http:\/\/\S+)\/status/);
    return { cli, admin: m[1]! };
  }

  async function status(admin: string): Promise<StatusDoc> {
    return JSON.parse((await get(`${admin}/status`)).body) as StatusDoc;
  }

  it('holds two sessions in two threads with three forwards up; /status, /readyz and /metrics tell the truth', async () => {
    const { cli, admin } = await startRun(baseConfig());
    try {
      await waitUntil(async () => (await get(`${admin}/readyz`)).status === 200, 20_000, '/readyz 200');
      const doc = await status(admin);
      expect(doc.agentId).toBe('device-test');
      expect(doc.sessions.map((s) => s.id).sort()).toEqual(['a', 'b']);
      const threads = doc.sessions.map((s) => s.threadId);
      expect(new Set(threads).size).toBe(2);
      expect(threads.every((t) => typeof t === 'number' && t > 0)).toBe(true);
      const forwards = doc.sessions.flatMap((s) => s.forwards.map((f) => ({ session: s.id, ...f })));
      expect(forwards).toHaveLength(3);
      for (const f of forwards) {
        expect(f.state).toBe('up');
        expect(f.remotePort).toBeGreaterThan(0);
      }
      for (const f of forwards.filter((x) => x.id === 'echo')) {
        expect((await connectAndCollect(f.remotePort!, Buffer.from(f.session))).data.toString()).toBe(f.session);
      }

      const metrics = (await get(`${admin}/metrics`)).body;
      // Prometheus text: every non-comment line is `name{labels} value`.
      for (const line of metrics.split('\n').filter((l) => l && !l.startsWith('#'))) {
        expect(line).toMatch(/^[a-z_]+(\{[^}]*\})? -?[0-9.e+]+$/);
      }
      expect(metrics).toContain('edge_agent_channels_total{session="a",forward="echo"} 1');
      expect(metrics).toContain('edge_agent_channels_total{session="b",forward="echo"} 1');
      expect(metrics).toContain('edge_agent_forward_up{session="b",forward="sink"} 1');
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('SIGTERM during a 20 MB transfer: the transfer completes, new connections are refused, exit 0', async () => {
    const { cli, admin } = await startRun(baseConfig());
    try {
      await waitUntil(async () => (await get(`${admin}/readyz`)).status === 200, 20_000, '/readyz 200');
      const port = (await status(admin)).sessions.find((s) => s.id === 'b')!.forwards.find((f) => f.id === 'sink')!.remotePort!;
      const before = sink.results.length;
      const transfer = connectAndCollect(port, (async function* () {
        for (const chunk of pseudoRandomChunks(20 * MB, 5)) {
          yield chunk;
          await new Promise((r) => setTimeout(r, 2));
        }
      })(), { timeoutMs: 60_000 });
      await waitUntil(() => sink.bytesReceived > 0, 10_000, 'transfer to start');
      cli.child.kill('SIGTERM');
      await waitUntil(async () => {
        const r = await connectAndCollect(port, Buffer.from('late'), { allowError: true, timeoutMs: 2_000 }).catch((e: Error) => ({ error: e }));
        return 'error' in r && r.error !== undefined;
      }, 10_000, 'new connections to be refused');
      await transfer;
      // (a "late" probe may have slipped in before the cancel reached sshd: look for the big one)
      await waitUntil(() => sink.results.slice(before).some((r) => r.bytes === 20 * MB), 30_000, 'the transfer to reach the service');
      expect(sink.results.slice(before).find((r) => r.bytes === 20 * MB)!.sha256).toBe(pseudoRandomSha256(20 * MB, 5));
      const { code } = await cli.exit;
      expect(code).toBe(0);
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('a second SIGTERM aborts the drain at once with exit code 1', async () => {
    const { cli, admin } = await startRun(baseConfig());
    try {
      await waitUntil(async () => (await get(`${admin}/readyz`)).status === 200, 20_000, '/readyz 200');
      const port = (await status(admin)).sessions.find((s) => s.id === 'a')!.forwards[0]!.remotePort!;
      const net = await import('node:net');
      const held = net.connect({ host: '127.0.0.1', port });
      held.on('error', () => {});
      held.write('hold');
      await new Promise((r) => held.once('data', r));
      cli.child.kill('SIGTERM');
      // The second signal only once the first was handled: two SIGTERMs sent while the process
      // is not scheduled merge into one pending signal (then it drains for 15 s and exits 0).
      await waitUntil(() => cli.stderr().includes('SIGTERM: draining'), 15_000, 'the first SIGTERM to start the drain');
      const started = Date.now();
      cli.child.kill('SIGTERM');
      const { code } = await cli.exit;
      if (code !== 1) console.log(cli.stderr());
      expect(code).toBe(1);
      expect(Date.now() - started).toBeLessThan(10_000); // not the 15 s drain deadline
      held.destroy();
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('a session with a wrong host key shows backoff with its code in /status and is not retried before authRetryIntervalMs', async () => {
    const bad = path.join(dir, 'bad_known_hosts');
    writeFileSync(bad, `[127.0.0.1]:${a.port} ${b.hostPublicKeyLine}\n`);
    const config = baseConfig();
    config.sessions[0] = session(a, 'a', [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }], { hostKeys: { knownHostsFile: bad } });
    const { cli, admin } = await startRun(config);
    try {
      await waitUntil(async () => (await status(admin)).sessions.find((s) => s.id === 'a')!.lastError?.code === 'EDGE_ERR_HOST_KEY_MISMATCH', 20_000, 'session a failed its host key check');
      await new Promise((r) => setTimeout(r, 1_000));
      const a1 = (await status(admin)).sessions.find((s) => s.id === 'a')!;
      expect(a1.state).toBe('backoff');
      expect(a1.lastError?.code).toBe('EDGE_ERR_HOST_KEY_MISMATCH');
      expect(a1.attempt).toBe(1);
      expect((await get(`${admin}/readyz`)).status).toBe(503);
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it.each([
    ['unknown key', (c: ReturnType<typeof baseConfig>) => ({ ...c, bogus: 1 }), 'bogus'],
    ['bad port', (c: ReturnType<typeof baseConfig>) => { c.sessions[0]!.forwards[0]!.port = 70000; return c; }, 'sessions[0].forwards[0].port'],
    ['unknown credential', (c: ReturnType<typeof baseConfig>) => { c.sessions[0]!.credential = 'nope'; return c; }, 'sessions[0].credential'],
    ['target outside policy', (c: ReturnType<typeof baseConfig>) => { c.sessions[0]!.forwards[0]!.target = 'tcp://192.0.2.10:22'; return c; }, 'sessions[0].forwards[0].target'],
  ])('config error (%s) exits 2 naming the key', async (_name, mutate, key) => {
    const r = await runCliToExit(['run', '--config', writeConfig(`bad-${key.length}-${Math.random()}.json`, mutate(baseConfig()))]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(key);
  });

  it('an environment variable overrides a file value', async () => {
    const config = baseConfig();
    const { cli, admin } = await startRun(config, { EDGE_AGENT_AGENT_ID: 'from-env' });
    try {
      expect((await status(admin)).agentId).toBe('from-env');
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('edge-agent status prints the running agent as a table', async () => {
    const { cli, admin } = await startRun(baseConfig());
    try {
      await waitUntil(async () => (await get(`${admin}/readyz`)).status === 200, 20_000, '/readyz 200');
      const r = await runCliToExit(['status', '--admin', admin]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^a\s+connected\s+127\.0\.0\.1:\d+\s+echo\s+up\s+127\.0\.0\.1:\d+/m);
      expect(r.stdout).toMatch(/^b\s+connected\s+.*\s+sink\s+up\s/m);
      const json = await runCliToExit(['status', '--admin', admin, '--json']);
      expect(JSON.parse(json.stdout).agentId).toBe('device-test');
    } finally {
      cli.child.kill('SIGKILL');
    }
  }, 120_000); // several CLI processes (tsx loads the sources): 40-50 s of 60 s on a loaded 2-core machine
});
