// Static tunnels: local and dynamic forwards declared in the agent's config and in assignment
// documents, run by the whole agent (startAgent: supervisor, a worker thread per session, the
// admin server) against a real OpenSSH sshd. A changed list is applied inside the running
// session (no reconnect); the local policy bounds device listeners
// (policy.allowedLocalBindAddresses); /status, /readyz and /metrics show them.
import { SocksClient } from 'socks';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle, type AgentStatus } from '../../src/agent.js';
import { EdgeError } from '../../src/errors.js';
import { startHttpConnectProxy, type TestProxy } from '../helpers/proxies.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

describe('local and dynamic forwards in the agent (config and assignments)', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  let proxy: TestProxy;
  let agent: AgentHandle;
  const logs: string[] = [];

  const session = (extra: Record<string, unknown>) => ({
    id: 's', host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'k',
    hostKeys: { knownHostsFile: sshd.knownHostsPath }, reconnect: { retryIntervalMs: 200, maxRetryIntervalMs: 1000 },
    proxy: proxy.url,
    ...extra,
  });

  beforeAll(async () => {
    [sshd, echo, proxy] = await Promise.all([startSshd(), startEchoServer(), startHttpConnectProxy({ auth: { username: 'edge', password: 'proxy-secret' } })]);
    process.env.EDGE_TEST_SOCKS_PASSWORD = 'socks-secret';
    agent = await startAgent({
      agent: { id: 'device-local', drainTimeoutMs: 2_000, logLevel: 'debug', logFormat: 'text' },
      admin: { listen: '127.0.0.1:0' },
      credentials: { k: { privateKeyFile: sshd.userKeyPath } },
      telemetry: { exporter: 'none' },
      sessions: [session({ localForwards: [{ id: 'db', bind: '127.0.0.1', port: 0, host: '127.0.0.1', hostPort: echo.port }] }) as never],
    }, { log: (level, message) => logs.push(`${level} ${message}`) });
  });
  afterAll(async () => {
    await agent?.destroy();
    delete process.env.EDGE_TEST_SOCKS_PASSWORD;
    await Promise.all([echo?.close(), proxy?.close()]);
    await sshd?.dispose();
  });

  const status = async (): Promise<AgentStatus> => agent.status();
  const sessionS = async () => (await status()).sessions.find((s) => s.id === 's')!;
  const localPort = async (id: string) => waitUntil(async () => {
    const s = await sessionS();
    const f = [...s.localForwards, ...s.dynamicForwards].find((x) => x.id === id);
    return f?.state === 'up' && s.state === 'connected' ? f.localPort! : 0;
  }, 20_000, `listener ${id}`);
  const logins = () => (sshd.logs().match(/Accepted publickey/g) ?? []).length;

  it('a static local forward runs in its worker, through the HTTP proxy; /status, /readyz and /metrics show it; the proxy password shows nowhere', async () => {
    const port = await localPort('db');
    expect((await connectAndCollect(port, Buffer.from('static -L'))).data.toString()).toBe('static -L');
    const s = await sessionS();
    expect(s.localForwards[0]).toMatchObject({ id: 'db', kind: 'local', state: 'up', bind: '127.0.0.1', localPort: port, target: `tcp://127.0.0.1:${echo.port}` });
    expect(s.proxy).toEqual({ configured: `http://***:***@127.0.0.1:${proxy.port}`, route: `http://***:***@127.0.0.1:${proxy.port}` });
    expect(proxy.tunnels).toBe(1);

    const body = await (await request(`${agent.adminUrl}/status`)).body.text();
    expect(body).toContain('"localForwards"');
    expect(body).not.toContain('proxy-secret');
    expect(logs.join('\n')).not.toContain('proxy-secret');
    const ready = await request(`${agent.adminUrl}/readyz`);
    expect(ready.statusCode).toBe(200);
    await ready.body.text();
    await waitUntil(async () => (await sessionS()).localForwards[0]!.channels.total === 1, 5_000, 'channel counted');
    const metrics = await agent.metrics();
    expect(metrics).toContain('edge_agent_local_forward_up{session="s",forward="db",direction="local"} 1');
    expect(metrics).toContain('edge_agent_local_forward_channels_total{session="s",forward="db",direction="local"} 1');
    expect(metrics).toMatch(/edge_agent_local_forward_bytes_in_total\{session="s",forward="db",direction="local"\} 9\b/);
    expect(metrics).toMatch(/edge_agent_channel_duration_seconds_count\{session="s",forward="db"\} 1/);
  });

  it('an assignment changes the local list and adds a SOCKS forward with auth, applied live: no reconnect, the unchanged listener keeps its port', async () => {
    const before = { port: await localPort('db'), logins: logins(), attempt: (await sessionS()).attempt };
    const result = await agent.applyAssignments({
      revision: 1,
      sessions: [session({
        localForwards: [
          { id: 'db', bind: '127.0.0.1', port: 0, host: '127.0.0.1', hostPort: echo.port, idleTimeoutMs: 60_000 },
          { id: 'db2', port: 0, host: 'localhost', hostPort: echo.port },
        ],
        dynamicForwards: [{ id: 'socks', bind: '127.0.0.1', port: 0, allowDestinations: [`127.0.0.1:${echo.port}`], username: 'dev', passwordEnv: 'EDGE_TEST_SOCKS_PASSWORD' }],
      })],
    });
    expect(result).toMatchObject({ applied: true, outcome: 'applied', refusedForwards: [] });
    const db2 = await localPort('db2');
    const socksPort = await localPort('socks');
    expect(await localPort('db')).toBe(before.port);
    expect((await connectAndCollect(db2, Buffer.from('db2'))).data.toString()).toBe('db2');
    const { socket } = await SocksClient.createConnection({
      proxy: { host: '127.0.0.1', port: socksPort, type: 5, userId: 'dev', password: 'socks-secret' },
      command: 'connect', destination: { host: '127.0.0.1', port: echo.port },
    });
    socket.write('socks');
    expect(await new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())))).toBe('socks');
    socket.destroy();
    const s = await sessionS();
    expect(s.attempt).toBe(before.attempt);
    expect(logins()).toBe(before.logins);
    expect(s.dynamicForwards[0]).toMatchObject({ id: 'socks', kind: 'dynamic', auth: true, allowDestinations: [`127.0.0.1:${echo.port}`] });
    expect(JSON.stringify(await status())).not.toContain('socks-secret');
  });

  it('the local policy bounds device listeners: a relay bind outside policy.allowedLocalBindAddresses is refused (the rest applies); a non-loopback bind without allowRelay rejects the document', async () => {
    const result = await agent.applyAssignments({
      revision: 2,
      sessions: [session({
        localForwards: [
          { id: 'db', bind: '127.0.0.1', port: 0, host: '127.0.0.1', hostPort: echo.port, idleTimeoutMs: 60_000 },
          { id: 'lan', bind: '0.0.0.0', allowRelay: true, port: 0, host: '127.0.0.1', hostPort: echo.port },
        ],
      })],
    });
    expect(result.refusedForwards).toEqual([expect.objectContaining({ session: 's', forward: 'lan', kind: 'local', path: 'sessions[0].localForwards[1]', reason: expect.stringContaining('policy.allowedLocalBindAddresses') })]);
    const s = await sessionS();
    expect(s.localForwards.map((f) => `${f.id}:${f.state}`).sort()).toEqual(['db:up', 'lan:refused']);
    expect(s.dynamicForwards).toEqual([]);

    const err = await agent.applyAssignments({
      revision: 3,
      sessions: [session({ dynamicForwards: [{ id: 'open', bind: '0.0.0.0', port: 0, allowDestinations: ['*:*'] }] })],
    }).catch((e: EdgeError) => e);
    expect(err).toBeInstanceOf(EdgeError);
    // (The policy would refuse it too, but that only drops a forward; the missing allowRelay is an error in the document.)
    expect((err as EdgeError).details?.errors).toEqual([expect.stringMatching(/^sessions\[0\]\.dynamicForwards\[0\]\.allowRelay: bind address "0\.0\.0\.0" is not loopback/)]);
    expect((await status()).assignments.revision).toBe(2);
  });
});
