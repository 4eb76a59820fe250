// policy.maxChannelsPerForward end to end: a real fleet endpoint on loopback, a real OpenSSH sshd,
// sessions in worker threads, an agent whose local ceiling is 2 channels per forward. A document
// that never mentions maxChannels runs with the ceiling as its cap (the third simultaneous
// connection is refused while two carry bytes); one that asks for more is rejected whole
// (EDGE_ERR_POLICY_BUDGET) and the running revision keeps serving.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle, type AgentStatus } from '../../src/agent.js';
import { startFleetServer, type FleetServer } from '../helpers/fleet-server.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

describe('fleet: policy.maxChannelsPerForward bounds what a document may size', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  let fleet: FleetServer;
  let agent: AgentHandle;
  let dir: string;
  const logs: string[] = [];
  const rejections: string[] = [];

  beforeAll(async () => {
    [sshd, echo, fleet] = await Promise.all([startSshd(), startEchoServer(), startFleetServer()]);
    fleet.respond(() => ({ status: 503 }));
    dir = mkdtempSync(path.join(os.tmpdir(), 'edge-channel-ceiling-'));
    agent = await startAgent({
      agent: { id: 'device-ceiling', drainTimeoutMs: 2_000, logFormat: 'text', stateDir: path.join(dir, 'state') },
      admin: { listen: '127.0.0.1:0' },
      credentials: { k: { privateKeyFile: sshd.userKeyPath } },
      policy: { maxChannelsPerForward: 2 },
      telemetry: { exporter: 'none' },
      assignments: { url: fleet.url, pollIntervalMs: 300 },
    }, {
      log: (level, message) => logs.push(`${level} ${message}`),
      onEvent: (sid, event) => { if (event.type === 'channelRejected') rejections.push(`${sid}/${event.info.forwardId} ${event.info.reason} ${event.info.error?.code}`); },
      assignments: { responseTimeoutMs: 700, retryBaseMs: 200, retryMaxMs: 600 },
    });
  });
  afterAll(async () => {
    await agent?.destroy();
    await Promise.all([fleet?.close(), echo?.close(), sshd?.dispose()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const session = (id: string, forwards: unknown[]) => ({
    id, host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'k',
    hostKeys: { knownHostsFile: sshd.knownHostsPath }, reconnect: { retryIntervalMs: 200, maxRetryIntervalMs: 1000 }, forwards,
  });
  const echoFwd = (extra: object = {}) => ({ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}`, ...extra });
  const status = (): Promise<AgentStatus> => agent.status();
  const forwardOf = async () => (await status()).sessions.find((s) => s.id === 'gw')?.forwards.find((f) => f.id === 'echo');
  const waitUp = () => waitUntil(async () => { const f = await forwardOf(); return f?.state === 'up' ? f.remotePort : undefined; }, 20_000, 'gw/echo up');
  async function serveAndWait(doc: unknown) {
    fleet.serve(doc);
    await agent.refreshAssignments();
    return status();
  }

  it('a document without maxChannels runs under the ceiling: two connections carry bytes, the third is refused', async () => {
    const st = await serveAndWait({ revision: 1, sessions: [session('gw', [echoFwd()])] });
    expect(st.assignments).toMatchObject({ revision: 1, lastError: null });
    const port = (await waitUp())!;

    const holders = [net.connect({ host: '127.0.0.1', port }), net.connect({ host: '127.0.0.1', port })];
    try {
      holders.forEach((h, i) => h.write(`hold ${i}`));
      const echoed = await Promise.all(holders.map((h) => new Promise<string>((resolve) => h.once('data', (d: Buffer) => resolve(d.toString())))));
      expect(echoed).toEqual(['hold 0', 'hold 1']);
      await waitUntil(async () => (await forwardOf())?.channels.open === 2, 10_000, 'two channels open');

      const third = await connectAndCollect(port, Buffer.from('third'), { allowError: true });
      expect(third.bytes).toBe(0);
      await waitUntil(async () => (await forwardOf())?.channels.rejected === 1, 10_000, 'the third channel counted as rejected');
      expect((await forwardOf())?.channels.open).toBe(2);
      expect(rejections).toEqual(['gw/echo max-channels EDGE_ERR_MAX_CHANNELS']);
    } finally {
      for (const h of holders) h.destroy();
    }
    await waitUntil(async () => (await forwardOf())?.channels.open === 0, 10_000, 'the holders to close');
    expect((await connectAndCollect(port, Buffer.from('after'))).data.toString()).toBe('after');
  });

  it('a document asking maxChannels above the ceiling is rejected whole (EDGE_ERR_POLICY_BUDGET); revision 1 keeps serving', async () => {
    const st = await serveAndWait({ revision: 2, sessions: [session('gw', [echoFwd({ maxChannels: 3 })])] });
    expect(st.assignments.revision).toBe(1);
    expect(st.assignments.lastError).toMatchObject({ code: 'EDGE_ERR_POLICY_BUDGET', kind: 'budget', revision: 2 });
    expect(st.assignments.lastError!.message).toMatch(/sessions\[0\]\.forwards\[0\]\.maxChannels \(gw\/echo\): 3 exceeds the local policy\.maxChannelsPerForward 2/);
    expect(logs.some((l) => /^error Assignment revision 2 rejected whole/.test(l))).toBe(true);
    const port = (await waitUp())!;
    expect((await connectAndCollect(port, Buffer.from('still here'))).data.toString()).toBe('still here');

    // Within the ceiling applies.
    const next = await serveAndWait({ revision: 3, sessions: [session('gw', [echoFwd({ maxChannels: 2 })])] });
    expect(next.assignments).toMatchObject({ revision: 3, lastError: null });
  });
});
