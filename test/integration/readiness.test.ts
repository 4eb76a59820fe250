// /readyz tells a load balancer or orchestrator the truth (issue 12, item 10): 503 with the reason
// while the agent drains, and while a fleet endpoint is configured but no document was ever
// applied (every fetch gets 401). /status keeps listing a draining session and its open
// channels until they end. Real OpenSSH sshd, a real HTTP fleet endpoint, the real admin server.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent.js';
import { startFleetServer, type FleetServer } from '../helpers/fleet-server.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

interface Readyz { ready: boolean; reason: string | null; reasons: string[]; draining: boolean }

async function readyz(admin: string): Promise<{ code: number; body: Readyz }> {
  const res = await request(`${admin}/readyz`);
  return { code: res.statusCode, body: (await res.body.json()) as Readyz };
}

describe('/readyz and /status tell the truth', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  let fleet: FleetServer;
  let dir: string;
  const agents: AgentHandle[] = [];

  beforeAll(async () => {
    [sshd, echo, fleet] = await Promise.all([startSshd(), startEchoServer(), startFleetServer()]);
    dir = mkdtempSync(path.join(os.tmpdir(), 'edge-readyz-'));
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.destroy()));
    await Promise.all([fleet?.close(), echo?.close(), sshd?.dispose()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('503 with the reason while assignments are configured but every fetch gets 401', async () => {
    fleet.respond(() => ({ status: 401, body: 'bad token\n' }));
    const agent = await startAgent({
      agent: { id: 'device-401', stateDir: path.join(dir, 'state-401'), logLevel: 'error' },
      admin: { listen: '127.0.0.1:0' },
      telemetry: { exporter: 'none' },
      assignments: { url: fleet.url, pollIntervalMs: 60_000 },
    }, { log: () => {} });
    agents.push(agent);
    await agent.refreshAssignments();
    const { code, body } = await readyz(agent.adminUrl!);
    expect(code).toBe(503);
    expect(body.ready).toBe(false);
    expect(body.reason).toMatch(new RegExp(`^no assignment document applied yet from ${fleet.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(last error EDGE_ERR_\\w+: .*401`));

    // Once a document applies, it is ready (nothing assigned: nothing to wait for).
    fleet.serve({ revision: 1, sessions: [] });
    await agent.refreshAssignments();
    expect(await readyz(agent.adminUrl!)).toMatchObject({ code: 200, body: { ready: true, reason: null, reasons: [] } });
  });

  it('503 "draining" during drain; /status lists the draining session and its open channel until it ends', async () => {
    const agent = await startAgent({
      agent: { id: 'device-drain', drainTimeoutMs: 20_000, logLevel: 'error' },
      admin: { listen: '127.0.0.1:0' },
      credentials: { k: { privateKeyFile: sshd.userKeyPath } },
      telemetry: { exporter: 'none' },
      sessions: [{
        id: 'gw', host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'k',
        hostKeys: { knownHostsFile: sshd.knownHostsPath }, forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }],
      }],
    } as never, { log: () => {} });
    agents.push(agent);
    const admin = agent.adminUrl!;
    const port = await waitUntil(async () => (await agent.status()).sessions[0]?.forwards[0]?.state === 'up' && (await agent.status()).sessions[0]!.forwards[0]!.remotePort, 20_000, 'forward up');
    expect((await readyz(admin)).code).toBe(200);

    // One channel open through the tunnel, held open.
    const client = net.connect(port as number, '127.0.0.1');
    client.on('error', () => {});
    client.write('hold');
    await new Promise((resolve) => client.once('data', resolve));

    const closing = agent.close();
    const during = await waitUntil(async () => { const r = await readyz(admin); return r.code === 503 ? r : undefined; }, 5_000, '/readyz 503');
    expect(during.body).toMatchObject({ ready: false, draining: true, reason: 'draining: the agent is stopping' });
    const st = await waitUntil(async () => { const s = await agent.status(); return s.sessions[0]?.state === 'draining' ? s : undefined; }, 5_000, 'the session draining in /status');
    expect(st.draining).toBe(true);
    expect(st.sessions).toHaveLength(1);
    expect(st.sessions[0]!.forwards[0]!.channels.open).toBe(1);
    // Still listed a moment later: the channel is still open.
    await new Promise((r) => setTimeout(r, 300));
    expect((await agent.status()).sessions.map((s) => s.id)).toEqual(['gw']);

    client.end();
    expect(await closing).toBe(true); // drained: the channel ended on its own
    expect((await agent.status()).sessions).toEqual([]);
  });
});
