// One session over two real OpenSSH sshd gateways: failover (the forward moves to the second
// gateway when the first dies, within keepalive × count + 5 s, and back once the first has been
// reachable for failbackAfterMs — without cutting a channel open on the second) and all (the
// forward is held on both, and survives either dying).
import { appendFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, startEchoServer } from '../helpers/tcp-services.js';
import { sessionConfigFor, waitUntil } from '../helpers/tunnel-fixtures.js';
import { MultiGatewaySession, type MultiGatewayConfigInput } from '../../src/session/multi-gateway-session.js';
import { startAgent } from '../../src/agent.js';
import { runCli } from '../helpers/cli.js';
import { parseTunnelArgs } from '../../src/cli/tunnel-command.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const KEEPALIVE = { intervalMs: 500, countMax: 2 };

async function twoGateways() {
  const a = await startSshd();
  const b = await startSshd();
  const echo = await startEchoServer();
  cleanups.push(() => a.dispose(), () => b.dispose(), () => echo.close());
  return { a, b, echo };
}

function multiConfig(a: SshdHandle, b: SshdHandle, echoPort: number, extra: Partial<MultiGatewayConfigInput> = {}): MultiGatewayConfigInput {
  const base = sessionConfigFor(a, {
    id: 'multi',
    hostKeys: { knownHostsFile: [a.knownHostsPath, b.knownHostsPath] },
    // each test sshd authorizes its own throwaway key: offer both
    auth: { username: a.username, privateKeys: [a, b].map((s) => ({ key: readFileSync(s.userKeyPath), source: s.userKeyPath })) },
    keepalive: KEEPALIVE,
    reconnect: { mode: 'always', retryIntervalMs: 200, maxRetryIntervalMs: 1_000 },
    forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echoPort}` }],
  });
  const { host: _h, port: _p, ...rest } = base;
  return { ...rest, hosts: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`], ...extra };
}

/** Opens a connection through a forward and keeps it open: write → echo, until end(). */
function openEcho(port: number): Promise<{ roundTrip(text: string): Promise<string>; end(): void }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port }, () => resolve({
      roundTrip: (text) => new Promise((res, rej) => {
        sock.once('data', (d) => res(d.toString()));
        sock.once('error', rej);
        sock.write(text);
      }),
      end: () => sock.destroy(),
    }));
    sock.once('error', reject);
  });
}

describe('several gateways per session', () => {
  it('failover: moves to the second gateway when the first dies, and back once the first is reachable again, without cutting open channels', async () => {
    const { a, b, echo } = await twoGateways();
    const session = new MultiGatewaySession(multiConfig(a, b, echo.port, { failbackAfterMs: 1_500 }));
    cleanups.push(() => session.close(200));
    session.start();
    const portOnA = await session.waitForForward('echo');
    let st = session.status();
    expect(st.strategy).toBe('failover');
    expect(st.gateways.map((g) => [g.port, g.role, g.state])).toEqual([[a.port, 'active', 'connected'], [b.port, 'idle', 'idle']]);
    expect(st.gateways[0]!.connectedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(st.gateways[0]!.forwards).toEqual([{ id: 'echo', state: 'up', remotePort: portOnA }]);
    expect((await connectAndCollect(portOnA, Buffer.from('via A'))).data.toString()).toBe('via A');

    await a.kill();
    const killedAt = Date.now();
    await waitUntil(() => session.status().gateways[1]!.forwards[0]?.state === 'up', 20_000, 'the forward to come up on gateway B');
    const portOnB = session.status().gateways[1]!.forwards[0]!.remotePort!;
    expect((await connectAndCollect(portOnB, Buffer.from('via B'))).data.toString()).toBe('via B');
    expect(Date.now() - killedAt).toBeLessThanOrEqual(KEEPALIVE.intervalMs * KEEPALIVE.countMax + 5_000);
    st = session.status();
    expect(st.state).toBe('connected');
    expect(st.forwards[0]).toMatchObject({ state: 'up', remotePort: portOnB });
    expect(st.gateways[0]!.role).toBe('probe');
    expect(st.gateways[0]!.state).not.toBe('connected');
    expect(st.gateways[0]!.lastError).not.toBeNull();

    // A channel open on B while A comes back must survive the move.
    const open = await openEcho(portOnB);
    cleanups.push(() => open.end());
    expect(await open.roundTrip('before failback')).toBe('before failback');
    await a.restart();
    await waitUntil(() => session.status().gateways[0]!.role === 'active' && session.status().gateways[0]!.forwards[0]?.state === 'up', 20_000, 'failback to gateway A');
    const back = session.status();
    const newPortOnA = back.gateways[0]!.forwards[0]!.remotePort!;
    // it waited for failbackAfterMs of A being connected
    expect(Date.parse(new Date().toISOString()) - Date.parse(back.gateways[0]!.connectedAt!)).toBeGreaterThanOrEqual(1_500);
    expect(back.forwards[0]).toMatchObject({ state: 'up', remotePort: newPortOnA });
    expect((await connectAndCollect(newPortOnA, Buffer.from('back on A'))).data.toString()).toBe('back on A');
    expect(await open.roundTrip('after failback')).toBe('after failback');
    // B no longer listens for new connections
    await waitUntil(async () => (await connectAndCollect(portOnB, Buffer.from('x'), { timeoutMs: 2_000 }).catch(() => ({ data: Buffer.alloc(0) }))).data.length === 0, 5_000, 'B to stop listening');
    open.end();
    await waitUntil(() => session.status().gateways[1]!.state === 'stopped' || session.status().gateways[1]!.role === 'idle', 10_000, 'B to disconnect once drained');
  });

  it('all: the forward is held on both gateways and keeps serving when either dies', async () => {
    const { a, b, echo } = await twoGateways();
    const session = new MultiGatewaySession(multiConfig(a, b, echo.port, { strategy: 'all' }));
    cleanups.push(() => session.close(200));
    session.start();
    await waitUntil(() => session.status().gateways.every((g) => g.forwards[0]?.state === 'up'), 15_000, 'the forward on both gateways');
    const [onA, onB] = session.status().gateways.map((g) => g.forwards[0]!.remotePort!);
    expect(session.status().gateways.map((g) => g.role)).toEqual(['active', 'active']);
    expect((await connectAndCollect(onA!, Buffer.from('A'))).data.toString()).toBe('A');
    expect((await connectAndCollect(onB!, Buffer.from('B'))).data.toString()).toBe('B');
    expect(session.status().forwards[0]!.channels.total).toBe(2); // summed over gateways

    await a.kill();
    await waitUntil(() => session.status().gateways[0]!.state !== 'connected', 10_000, 'A to be noticed as lost');
    const st = session.status();
    expect(st.state).toBe('connected');
    expect(st.forwards[0]!.state).toBe('up');
    expect((await connectAndCollect(onB!, Buffer.from('B still'))).data.toString()).toBe('B still');
  });

  it('refuses bad gateway lists and local forwards with several gateways', () => {
    const base = { id: 's', auth: { username: 'u', password: 'x' }, hostKeys: { insecureAcceptAny: true } };
    expect(() => new MultiGatewaySession({ ...base, hosts: [] })).toThrow(/hosts: must list at least one gateway/);
    expect(() => new MultiGatewaySession({ ...base, hosts: ['::1:22'] })).toThrow(/hosts\[0\]: write an IPv6 address in brackets/);
    expect(() => new MultiGatewaySession({ ...base, hosts: ['gw:22', 'gw'] })).toThrow(/hosts\[1\]: gw:22 is listed twice/);
    expect(() => new MultiGatewaySession({ ...base, hosts: ['gw1', 'gw2'], strategy: 'random' as never })).toThrow(/strategy/);
    expect(() => new MultiGatewaySession({ ...base, hosts: ['gw1', '[::1]:2222'], localForwards: [{ port: 1, host: 'h', hostPort: 1 }] })).toThrow(/localForwards/);
    const ok = new MultiGatewaySession({ ...base, hosts: ['gw1', '[::1]:2222'] });
    expect(ok.gateways).toEqual([{ host: 'gw1', port: 22 }, { host: '::1', port: 2222 }]);
  });

  it('edge-agent run: a session with hosts shows each gateway in /status and /metrics, and /readyz follows the strategy', async () => {
    const { a, b, echo } = await twoGateways();
    // one credential for both gateways: authorize A's key on B too
    appendFileSync(path.join(b.dir, 'authorized_keys'), `\n${readFileSync(`${a.userKeyPath}.pub`, 'utf8')}`);
    const agent = await startAgent({
      agent: { id: 'device-multi', drainTimeoutMs: 1_000, logLevel: 'error', logFormat: 'text' },
      admin: { listen: '127.0.0.1:0' },
      credentials: { k: { privateKeyFile: a.userKeyPath } },
      telemetry: { exporter: 'none' },
      sessions: [{
        id: 'multi', hosts: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`], strategy: 'failover', failbackAfterMs: 60_000,
        username: a.username, credential: 'k', hostKeys: { knownHostsFile: [a.knownHostsPath, b.knownHostsPath] },
        keepalive: KEEPALIVE, reconnect: { retryIntervalMs: 200, maxRetryIntervalMs: 1_000 },
        forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }],
      }],
    } as never, { log: () => {} });
    cleanups.push(() => agent.destroy());
    const get = async (p: string) => { const r = await fetch(`${agent.adminUrl}${p}`); return { status: r.status, text: await r.text() }; };
    await waitUntil(async () => (await get('/readyz')).status === 200, 15_000, '/readyz 200');
    let status = JSON.parse((await get('/status')).text);
    expect(status.sessions[0]).toMatchObject({ id: 'multi', state: 'connected', strategy: 'failover', gateways: [
      { host: '127.0.0.1', port: a.port, state: 'connected', role: 'active', lastError: null },
      { host: '127.0.0.1', port: b.port, state: 'idle', role: 'idle', connectedAt: null },
    ] });
    const metrics = (await get('/metrics')).text;
    expect(metrics).toContain(`edge_agent_gateway_connected{session="multi",gateway="127.0.0.1:${a.port}"} 1`);
    expect(metrics).toContain(`edge_agent_gateway_active{session="multi",gateway="127.0.0.1:${b.port}"} 0`);

    await a.kill();
    await waitUntil(async () => JSON.parse((await get('/status')).text).sessions[0].gateways[1].role === 'active', 15_000, 'B to take over');
    await waitUntil(async () => (await get('/readyz')).status === 200, 15_000, '/readyz 200 on B');
    status = JSON.parse((await get('/status')).text);
    const port = status.sessions[0].forwards[0].remotePort;
    expect(status.sessions[0].gateways[1].forwards).toEqual([{ id: 'echo', state: 'up', remotePort: port }]);
    expect((await connectAndCollect(port, Buffer.from('agent via B'))).data.toString()).toBe('agent via B');
  });

  it('edge-agent tunnel user@gw1,gw2 --strategy all: one "forward up" line per gateway; bad gateway lists exit 2', async () => {
    const { a, b, echo } = await twoGateways();
    const cli = runCli(['tunnel', '-i', a.userKeyPath, '-i', b.userKeyPath, '--known-hosts', a.knownHostsPath, '--known-hosts', b.knownHostsPath,
      '--strategy', 'all', '-R', `127.0.0.1:0:127.0.0.1:${echo.port}`, `${a.username}@127.0.0.1:${a.port},127.0.0.1:${b.port}`]);
    try {
      const onA = await cli.waitForLine(new RegExp(`^forward R1 up: 127\\.0\\.0\\.1:(\\d+) on 127\\.0\\.0\\.1:${a.port} -> tcp://127\\.0\\.0\\.1:${echo.port}$`));
      const onB = await cli.waitForLine(new RegExp(`^forward R1 up: 127\\.0\\.0\\.1:(\\d+) on 127\\.0\\.0\\.1:${b.port} -> tcp://127\\.0\\.0\\.1:${echo.port}$`));
      expect((await connectAndCollect(Number(onA[1]), Buffer.from('cli A'))).data.toString()).toBe('cli A');
      expect((await connectAndCollect(Number(onB[1]), Buffer.from('cli B'))).data.toString()).toBe('cli B');
      cli.child.kill('SIGTERM');
      expect((await cli.exit).code).toBe(0);
    } finally {
      cli.child.kill('SIGKILL');
    }
    // usage errors (exit 2 in the CLI), checked in-process
    for (const [args, message] of [
      [['h1,h1'], 'listed twice'],
      [['--host', '::1:22', 'h1'], 'brackets'],
      [['--strategy', 'all', 'h1'], '--strategy and --failback-after-ms apply to several gateways'],
      [['--strategy', 'random', 'h1,h2'], '--strategy must be failover or all'],
    ] as Array<[string[], string]>) {
      expect(() => parseTunnelArgs(['--insecure-accept-any-host-key', '-i', a.userKeyPath, '-R', '0:127.0.0.1:1', ...args])).toThrow(expect.objectContaining({ message: expect.stringContaining(message) }));
    }
    const parsed = parseTunnelArgs(['--insecure-accept-any-host-key', '-i', a.userKeyPath, '-p', '2222', '-R', '0:127.0.0.1:1', '--host', '[::1]', 'dev@gw1,gw2:22']);
    expect(parsed).toMatchObject({ session: { host: 'gw1', port: 2222, strategy: 'failover', auth: { username: 'dev' },
      hosts: [{ host: 'gw1', port: 2222 }, { host: 'gw2', port: 22 }, { host: '::1', port: 2222 }] } });
  });
});
