// What a hostile or broken fleet endpoint cannot do to a device (issue 12, items 2, 4 and 5),
// end to end: a real HTTP fleet endpoint on loopback, a real OpenSSH sshd carrying the tunnels,
// sessions in worker threads. A poisoned revision, an expired document, a document over the
// local budget are rejected with their own codes while the running revision keeps carrying
// traffic; unix sockets are reachable only where the operator listed them; a session worker
// that outgrows agent.workerMaxHeapMb dies alone and comes back.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ALLOWED_TARGETS } from '../../config/policy.js';
import { startAgent, type AgentHandle, type AgentStatus } from '../../src/agent.js';
import { startFleetServer, type FleetServer } from '../helpers/fleet-server.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

// Workers inherit the environment when they start: lets the test ask one to leak (protocol.ts).
process.env.EDGE_AGENT_TEST_HOOKS = '1';

describe('fleet safety: poisoned, expired and oversized documents; unix targets; worker heap limits', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  let fleet: FleetServer;
  let agent: AgentHandle;
  let dir: string;
  let unixEcho: net.Server;
  let appSocket: string;
  const logs: string[] = [];

  beforeAll(async () => {
    [sshd, echo, fleet] = await Promise.all([startSshd(), startEchoServer(), startFleetServer()]);
    fleet.respond(() => ({ status: 503 }));
    dir = mkdtempSync(path.join(os.tmpdir(), 'edge-fleet-safety-'));
    mkdirSync(path.join(dir, 'allowed'));
    appSocket = path.join(dir, 'allowed', 'app.sock');
    unixEcho = net.createServer((s) => s.pipe(s).on('error', () => {}));
    await new Promise<void>((resolve) => unixEcho.listen(appSocket, resolve));
    agent = await startAgent({
      agent: { id: 'device-safety', drainTimeoutMs: 2_000, logFormat: 'text', stateDir: path.join(dir, 'state') },
      admin: { listen: '127.0.0.1:0' },
      credentials: { k: { privateKeyFile: sshd.userKeyPath } },
      // The defaults (loopback TCP only) plus one directory the operator lists.
      policy: { allowedTargets: [...DEFAULT_ALLOWED_TARGETS, `unix:${dir}/allowed/`] },
      telemetry: { exporter: 'none' },
      assignments: { url: fleet.url, pollIntervalMs: 300 },
    }, {
      log: (level, message) => logs.push(`${level} ${message}`),
      assignments: { responseTimeoutMs: 700, retryBaseMs: 200, retryMaxMs: 600 },
    });
  });
  afterAll(async () => {
    await agent?.destroy();
    await new Promise((r) => unixEcho?.close(r));
    await Promise.all([fleet?.close(), echo?.close(), sshd?.dispose()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const session = (id: string, forwards: unknown[]) => ({
    id, host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'k',
    hostKeys: { knownHostsFile: sshd.knownHostsPath }, reconnect: { retryIntervalMs: 200, maxRetryIntervalMs: 1000 }, forwards,
  });
  const fwd = (id: string, target: string) => ({ id, bind: '127.0.0.1', port: 0, target });
  const echoFwd = () => fwd('echo', `tcp://127.0.0.1:${echo.port}`);
  const status = (): Promise<AgentStatus> => agent.status();
  const forwardOf = async (sid: string, fid: string) => (await status()).sessions.find((s) => s.id === sid)?.forwards.find((f) => f.id === fid);
  const waitUp = (sid: string, fid: string) => waitUntil(async () => { const f = await forwardOf(sid, fid); return f?.state === 'up' ? f.remotePort : undefined; }, 20_000, `${sid}/${fid} up`);
  const echoes = async (sid: string, fid: string) => {
    const port = await waitUp(sid, fid);
    return (await connectAndCollect(port!, Buffer.from(`ping ${fid}`))).data.toString() === `ping ${fid}`;
  };
  /** Serves `doc` (or these raw bytes) and fetches at once; resolves once the agent handled it. */
  async function serveAndWait(doc: unknown, raw?: string) {
    fleet.serve(doc, raw === undefined ? {} : { raw });
    await agent.refreshAssignments(); // waits for a poll in flight, then fetches
    return status();
  }

  it('{"revision": 1e308} is rejected with EDGE_ERR_ASSIGNMENT_REVISION and poisons nothing: a normal revision 1 applies after it', async () => {
    const poisoned = await serveAndWait(null, '{"revision": 1e308, "sessions": []}');
    expect(poisoned.assignments.revision).toBeNull();
    expect(poisoned.assignments.lastError).toMatchObject({ code: 'EDGE_ERR_ASSIGNMENT_REVISION', kind: 'invalid' });
    expect(poisoned.assignments.lastError!.message).toMatch(/revision: 1e\+308 is not a safe integer \(0 to 9007199254740991\)/);

    const st = await serveAndWait({
      revision: 1,
      sessions: [session('gw', [
        echoFwd(),
        fwd('app', `unix:${appSocket}`),
        fwd('docker', 'unix:/var/run/docker.sock'),
        fwd('trick', `unix:${dir}/allowed/../../../etc/x.sock`),
        fwd('docker-http', 'http+unix:/var/run/docker.sock'),
      ])],
    });
    expect(st.assignments).toMatchObject({ revision: 1, source: 'remote', lastError: null });
    expect(await echoes('gw', 'echo')).toBe(true);
  });

  it('unix sockets only where the operator listed them: docker.sock and ".." tricks refused with EDGE_ERR_POLICY_DENIED, the listed one carries bytes', async () => {
    expect(await echoes('gw', 'app')).toBe(true);
    const st = await status();
    expect(st.assignments.refusedForwards.map((r) => r.forward).sort()).toEqual(['docker', 'docker-http', 'trick']);
    for (const id of ['docker', 'docker-http', 'trick']) {
      const f = await forwardOf('gw', id);
      expect(f, id).toMatchObject({ state: 'refused', lastError: { code: 'EDGE_ERR_POLICY_DENIED' } });
      expect(f!.lastError!.message).toMatch(/not allowed by the local policy\.allowedTargets/);
    }
  });

  it('an expired document is not applied (EDGE_ERR_ASSIGNMENT_EXPIRED); the running revision keeps carrying traffic; an unexpired one applies', async () => {
    const st = await serveAndWait({ revision: 2, expires: new Date(Date.now() - 60_000).toISOString(), sessions: [session('gw', [echoFwd()])] });
    expect(st.assignments.revision).toBe(1);
    expect(st.assignments.lastError).toMatchObject({ code: 'EDGE_ERR_ASSIGNMENT_EXPIRED', kind: 'expired', revision: 2 });
    expect((await forwardOf('gw', 'app'))?.state).toBe('up'); // revision 1 still runs whole
    expect(await echoes('gw', 'echo')).toBe(true);

    const next = await serveAndWait({ revision: 3, expires: new Date(Date.now() + 3_600_000).toISOString(), sessions: [session('gw', [echoFwd()])] });
    expect(next.assignments).toMatchObject({ revision: 3, lastError: null });
  });

  it('a 64-session document is rejected whole (EDGE_ERR_POLICY_BUDGET); so is a session with 65 forwards; revision 3 keeps serving', async () => {
    const threads = (await status()).sessions.length;
    const huge = { revision: 4, sessions: Array.from({ length: 64 }, (_, i) => session(`s${i}`, [echoFwd()])) };
    const st = await serveAndWait(huge);
    expect(st.assignments.revision).toBe(3);
    expect(st.assignments.lastError).toMatchObject({ code: 'EDGE_ERR_POLICY_BUDGET', kind: 'budget', revision: 4 });
    expect(st.assignments.lastError!.message).toMatch(/64 sessions exceed the local policy\.maxSessions 4/);
    expect(st.sessions).toHaveLength(threads); // no worker was started for it
    expect(await echoes('gw', 'echo')).toBe(true);

    const wide = await serveAndWait({ revision: 5, sessions: [session('gw', Array.from({ length: 65 }, (_, i) => fwd(`f${i}`, `tcp://127.0.0.1:${echo.port}`)))] });
    expect(wide.assignments.revision).toBe(3);
    expect(wide.assignments.lastError).toMatchObject({ code: 'EDGE_ERR_POLICY_BUDGET' });
    expect(wide.assignments.lastError!.message).toMatch(/65 forwards .* exceed the local policy\.maxForwardsPerSession 64/);
    expect(await echoes('gw', 'echo')).toBe(true);
  });

  it('a session worker that outgrows agent.workerMaxHeapMb dies alone (EDGE_ERR_WORKER_CRASHED) and is restarted; the other session serves throughout', async () => {
    await serveAndWait({ revision: 6, sessions: [session('gw', [echoFwd()]), session('leaky', [fwd('echo2', `tcp://127.0.0.1:${echo.port}`)])] });
    expect(await echoes('leaky', 'echo2')).toBe(true);
    agent.exhaustWorkerHeapForTest('leaky');
    // The hook grows to 256 MB; the 64 MB default limit stops it long before.
    const crashed = await waitUntil(async () => {
      const s = (await status()).sessions.find((x) => x.id === 'leaky');
      return s && s.workerRestarts >= 1 ? s : undefined;
    }, 20_000, 'the leaky worker to die');
    if (crashed.state === 'backoff') expect(crashed.lastError?.code).toBe('EDGE_ERR_WORKER_CRASHED'); // unless already back
    expect(logs.some((l) => /^error The worker thread of session leaky exited unexpectedly \(Worker terminated due to reaching memory limit/.test(l))).toBe(true);
    expect(await echoes('gw', 'echo')).toBe(true); // the process and the other session are fine
    expect(await echoes('leaky', 'echo2')).toBe(true); // and the leaky one is back
  });
});
