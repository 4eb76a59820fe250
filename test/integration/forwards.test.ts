// Forward management against a real OpenSSH sshd: server-chosen ports, every bind form,
// cancel, and per-forward admission (origin allow-list, channel cap).
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { startSession, waitUntil } from '../helpers/tunnel-fixtures.js';
import type { TunnelSession } from '../../src/session/tunnel-session.js';

describe('forwards', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  const sessions: TunnelSession[] = [];

  beforeAll(async () => {
    sshd = await startSshd();
    echo = await startEchoServer();
  });
  afterAll(async () => {
    await Promise.all(sessions.map((s) => s.close(500)));
    await echo?.close();
    await sshd?.dispose();
  });

  async function open(forwards: Parameters<typeof startSession>[1]) {
    const started = await startSession(sshd, forwards);
    sessions.push(started.session);
    return started;
  }

  it('port 0: reports the port sshd chose, and that port carries traffic', async () => {
    const { session, ports } = await open([{ id: 'web', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }]);
    const remotePort = ports.web!;
    expect(remotePort).toBeGreaterThan(0);
    const status = session.status().forwards[0]!;
    expect(status).toMatchObject({ id: 'web', state: 'up', port: 0, remotePort });
    const r = await connectAndCollect(remotePort, Buffer.from('ping'));
    expect(r.data.toString()).toBe('ping');
  });

  // bind form → the loopback address an outside client uses to reach it
  const bindForms: Array<[string, '127.0.0.1' | '::1']> = [
    ['', '127.0.0.1'],
    ['0.0.0.0', '127.0.0.1'],
    ['::', '::1'],
    ['localhost', '127.0.0.1'],
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '::1'],
  ];
  it.each(bindForms)('bind "%s": sshd listens where asked and channels reach the target (via %s)', async (bind, via) => {
    const { ports, session } = await open([{ id: 'b', bind, port: 0, target: `tcp://127.0.0.1:${echo.port}` }]);
    const r = await connectAndCollect(ports.b!, Buffer.from(`bind=${bind}`), { host: via });
    expect(r.data.toString()).toBe(`bind=${bind}`);
    expect(session.status().forwards[0]!.channels.total).toBe(1);
  });

  it('"localhost" is loopback in both families', async () => {
    const { ports } = await open([{ id: 'lh', bind: 'localhost', port: 0, target: `tcp://127.0.0.1:${echo.port}` }]);
    // sshd binds each family separately for "localhost"; the v6 listener may land on the same port.
    const v4 = await connectAndCollect(ports.lh!, Buffer.from('v4'), { host: '127.0.0.1' });
    expect(v4.data.toString()).toBe('v4');
  });

  it('several forwards on one session each reach their own target', async () => {
    const other = await startEchoServer();
    const { ports } = await open([
      { id: 'a', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` },
      { id: 'b', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${other.port}` },
    ]);
    await connectAndCollect(ports.a!, Buffer.from('a'));
    await connectAndCollect(ports.b!, Buffer.from('b'));
    expect(other.connections).toBe(1);
    await other.close();
  });

  it('cancel closes the listener on sshd, while a channel already open on it keeps working', async () => {
    const { session, ports } = await open([{ id: 'c', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }]);
    const port = ports.c!;
    const held = net.connect({ host: '127.0.0.1', port });
    held.setEncoding('utf8');
    let echoed = '';
    held.on('data', (d) => { echoed += d; });
    held.write('before;');
    await waitUntil(() => echoed === 'before;', 10_000, 'echo before cancel');

    await session.removeForward('c');
    // New connections are refused by sshd: nobody listens on that port any more.
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('connect', () => { s.destroy(); resolve('connected'); });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');

    held.write('after;');
    await waitUntil(() => echoed === 'before;after;', 10_000, 'echo after cancel');
    held.end();
    await waitUntil(() => session.openChannelCount === 0, 10_000, 'channel to close');
  });

  it('origin allow-list: a non-listed origin is rejected before the target is dialled', async () => {
    const target = await startEchoServer();
    const { session, ports } = await open([{ id: 'o', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${target.port}`, allowOrigins: ['203.0.113.0/24', '2001:db8::/32'] }]);
    const rejected: string[] = [];
    session.on('channelRejected', (info) => rejected.push(info.reason));
    const r = await connectAndCollect(ports.o!, Buffer.from('let me in'), { allowError: true });
    expect(r.bytes).toBe(0);
    await waitUntil(() => rejected.length === 1, 10_000, 'rejection');
    expect(rejected).toEqual(['rejected-origin']);
    expect(target.connections).toBe(0);
    expect(session.status().forwards[0]!.channels).toMatchObject({ rejected: 1, total: 0 });
    await target.close();
  });

  it('origin allow-list: a listed origin (CIDR) gets through', async () => {
    const { ports } = await open([{ id: 'o2', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}`, allowOrigins: ['127.0.0.0/8'] }]);
    const r = await connectAndCollect(ports.o2!, Buffer.from('ok'));
    expect(r.data.toString()).toBe('ok');
  });

  it('maxChannels: the channel over the cap is rejected while the others keep working', async () => {
    const { session, ports } = await open([{ id: 'm', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}`, maxChannels: 2 }]);
    const port = ports.m!;
    const holders = [net.connect({ host: '127.0.0.1', port }), net.connect({ host: '127.0.0.1', port })];
    for (const h of holders) h.write('x');
    await Promise.all(holders.map((h) => new Promise((r) => h.once('data', r))));
    expect(session.status().forwards[0]!.channels.open).toBe(2);

    const third = await connectAndCollect(port, Buffer.from('third'), { allowError: true });
    expect(third.bytes).toBe(0);
    expect(session.status().forwards[0]!.channels.rejected).toBe(1);

    holders[0]!.destroy();
    await waitUntil(() => session.status().forwards[0]!.channels.open === 1, 10_000, 'a slot to free');
    const fourth = await connectAndCollect(port, Buffer.from('fourth'));
    expect(fourth.data.toString()).toBe('fourth');
    holders[1]!.destroy();
  });

  it('a target that is down: the channel is rejected with target-refused and the forward stays up', async () => {
    const dead = await startEchoServer();
    const deadPort = dead.port;
    await dead.close();
    const { session, ports } = await open([{ id: 'd', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${deadPort}` }]);
    const reasons: string[] = [];
    session.on('channelRejected', (info) => reasons.push(`${info.reason}:${info.error?.code}`));
    const r = await connectAndCollect(ports.d!, Buffer.from('x'), { allowError: true });
    expect(r.bytes).toBe(0);
    await waitUntil(() => reasons.length === 1, 10_000, 'rejection');
    expect(reasons).toEqual(['target-refused:EDGE_ERR_TARGET_REFUSED']);
    expect(session.status().forwards[0]!.state).toBe('up');
  });
});
