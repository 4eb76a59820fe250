// Local (-L) and dynamic (-D, SOCKS) forwards through a real OpenSSH sshd: listeners on the
// device whose connections become direct-tcpip channels. A TCP echo and an HTTP service as
// destinations, a real SOCKS client (the `socks` npm package) asking by name, the per-forward
// destination allow-list, relay binds refused before binding, a "::" relay bind on IPv6 only,
// a listener that outlives an sshd kill + restart, connections that arrive while the session is
// down, live list changes, exitOnForwardFailure, status and tunnel.channel spans with their
// direction.
import net from 'node:net';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { SocksClient } from 'socks';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgeError } from '../../src/errors.js';
import { SessionTracing } from '../../src/session/session-tracing.js';
import { TunnelSession } from '../../src/session/tunnel-session.js';
import { startHttpService, type HttpService } from '../helpers/http-services.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { sessionConfigFor, waitUntil } from '../helpers/tunnel-fixtures.js';
import type { SessionConfigInput } from '../../src/session/session-config.js';

/** Sends a minimal HTTP/1.1 request on an open socket and reads the whole answer (Connection: close). */
function httpOver(socket: net.Socket, path: string, host = 'localhost'): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => { data += d; });
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}

describe('local and dynamic forwards (OpenSSH sshd)', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  let web: HttpService;
  const sessions: TunnelSession[] = [];

  beforeAll(async () => {
    [sshd, echo, web] = await Promise.all([startSshd(), startEchoServer(), startHttpService()]);
  });
  afterAll(async () => {
    await Promise.all(sessions.map((s) => s.close(500)));
    await Promise.all([echo?.close(), web?.close()]);
    await sshd?.dispose();
  });

  function open(overrides: Partial<SessionConfigInput>) {
    const session = new TunnelSession(sessionConfigFor(sshd, overrides));
    const logs: string[] = [];
    session.on('log', (level, message) => logs.push(`${level} ${message}`));
    sessions.push(session);
    session.start();
    return { session, logs };
  }

  const listening = async (session: TunnelSession, id: string) => waitUntil(() => {
    const all = [...session.status().localForwards, ...session.status().dynamicForwards];
    const f = all.find((x) => x.id === id);
    return f?.state === 'up' ? f.localPort! : 0;
  }, 15_000, `listener ${id}`);

  it('-L to a TCP echo and to an HTTP service: bytes both ways, half-close, status counts', async () => {
    const { session } = open({
      localForwards: [
        { id: 'echo', port: 0, host: '127.0.0.1', hostPort: echo.port },
        { id: 'web', port: 0, host: 'localhost', hostPort: web.port },
      ],
    });
    await session.waitUntilConnected();
    const echoPort = await listening(session, 'echo');
    const webPort = await listening(session, 'web');

    const r = await connectAndCollect(echoPort, Buffer.from('hello through -L'));
    expect(r.data.toString()).toBe('hello through -L');
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    const r2 = await connectAndCollect(echoPort, big);
    expect(r2.bytes).toBe(big.length);

    const res = await request(`http://127.0.0.1:${webPort}/hello?via=L`, { reset: true });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('hello world ?via=L\n');

    await waitUntil(() => session.status().localForwards.find((f) => f.id === 'echo')!.channels.open === 0, 5_000, 'channels closed');
    const st = session.status().localForwards.find((f) => f.id === 'echo')!;
    expect(st).toMatchObject({ kind: 'local', state: 'up', bind: 'localhost', port: 0, localPort: echoPort, host: '127.0.0.1', hostPort: echo.port, target: `tcp://127.0.0.1:${echo.port}`, lastError: null });
    expect(st.channels.total).toBe(2);
    expect(st.bytesIn).toBe(16 + big.length);
    expect(st.bytesOut).toBe(16 + big.length);
    // localhost binds both loopback families (when ::1 exists on this machine)
    const v6 = await connectAndCollect(echoPort, Buffer.from('v6'), { host: '::1', allowError: true }).catch(() => undefined);
    if (v6 && !v6.error) expect(v6.data.toString()).toBe('v6');
  });

  it('-D: a SOCKS5 client reaches the local HTTP service by name, SOCKS4a and SOCKS4 work, a destination outside allowDestinations is refused', async () => {
    const { session, logs } = open({
      dynamicForwards: [{ id: 'socks', port: 0, allowDestinations: [`localhost:${web.port}`, `127.0.0.1:${echo.port}`] }],
    });
    await session.waitUntilConnected();
    const port = await listening(session, 'socks');

    const { socket } = await SocksClient.createConnection({
      proxy: { host: '127.0.0.1', port, type: 5 },
      command: 'connect',
      destination: { host: 'localhost', port: web.port },
    });
    const answer = await httpOver(socket, '/hello?via=socks5');
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(answer).toContain('hello world ?via=socks5');

    const s4a = await SocksClient.createConnection({ proxy: { host: '127.0.0.1', port, type: 4 }, command: 'connect', destination: { host: 'localhost', port: web.port } });
    expect(await httpOver(s4a.socket, '/hello?via=socks4a')).toContain('hello world ?via=socks4a');

    const s4 = await SocksClient.createConnection({ proxy: { host: '127.0.0.1', port, type: 4 }, command: 'connect', destination: { host: '127.0.0.1', port: echo.port } });
    s4.socket.write('socks4');
    const back = await new Promise<string>((resolve) => s4.socket.once('data', (d: Buffer) => resolve(d.toString())));
    expect(back).toBe('socks4');
    s4.socket.destroy();

    // Not in the allow-list: refused before any channel (SOCKS5 "connection not allowed by ruleset").
    const denied = await SocksClient.createConnection({
      proxy: { host: '127.0.0.1', port, type: 5 }, command: 'connect', destination: { host: 'localhost', port: echo.port },
    }).then(() => 'connected', (err: Error) => err.message);
    expect(denied).toMatch(/NotAllowed/); // SOCKS5 reply 0x02, connection not allowed by ruleset
    await waitUntil(() => logs.some((l) => /EDGE_ERR_DESTINATION_DENIED|not in allowDestinations/.test(l)), 5_000, 'denial logged');
    const st = session.status().dynamicForwards[0]!;
    expect(st.channels.rejected).toBe(1);
    expect(st.channels.total).toBe(3);
  });

  it('-D with username/password: SOCKS5 with the right credentials works, wrong ones and SOCKS4 are refused', async () => {
    const { session } = open({
      dynamicForwards: [{ id: 'auth', port: 0, allowDestinations: ['*:*'], username: 'dev', password: 's3cret' }],
    });
    await session.waitUntilConnected();
    const port = await listening(session, 'auth');
    const ok = await SocksClient.createConnection({ proxy: { host: '127.0.0.1', port, type: 5, userId: 'dev', password: 's3cret' }, command: 'connect', destination: { host: '127.0.0.1', port: web.port } });
    expect(await httpOver(ok.socket, '/hello')).toContain('hello world');
    const wrong = await SocksClient.createConnection({ proxy: { host: '127.0.0.1', port, type: 5, userId: 'dev', password: 'nope' }, command: 'connect', destination: { host: '127.0.0.1', port: web.port } })
      .then(() => 'connected', (err: Error) => err.message);
    expect(wrong).toMatch(/auth/i);
    const v4 = await SocksClient.createConnection({ proxy: { host: '127.0.0.1', port, type: 4 }, command: 'connect', destination: { host: '127.0.0.1', port: web.port } })
      .then(() => 'connected', (err: Error) => err.message);
    expect(v4).not.toBe('connected');
    expect(session.status().dynamicForwards[0]!.channels.rejected).toBe(2);
  });

  it('a bind that is not loopback without allowRelay is refused before binding, with a coded error naming the key', () => {
    const attempt = (cfg: Partial<SessionConfigInput>) => {
      try {
        new TunnelSession(sessionConfigFor(sshd, cfg));
        return undefined;
      } catch (err) {
        return err as EdgeError;
      }
    };
    const local = attempt({ localForwards: [{ id: 'lan', bind: '0.0.0.0', port: 0, host: '127.0.0.1', hostPort: echo.port }] });
    expect(local).toBeInstanceOf(EdgeError);
    expect(local!.code).toBe('EDGE_ERR_INVALID_CONFIG');
    expect(local!.message).toContain('localForwards[lan].allowRelay');
    expect(local!.message).toContain('not loopback');
    const dynamic = attempt({ dynamicForwards: [{ id: 'all', bind: '', port: 0 }] });
    expect(dynamic!.message).toContain('dynamicForwards[all].allowRelay');
    const named = attempt({ localForwards: [{ id: 'n', bind: '192.0.2.10', port: 0, host: 'h', hostPort: 1 }] });
    expect(named!.message).toContain('allowRelay');
    // loopback in any spelling needs nothing
    expect(attempt({ localForwards: [{ id: 'ok', bind: '127.0.0.2', port: 0, host: 'h', hostPort: 1 }, { id: 'ok6', bind: '::1', port: 0, host: 'h', hostPort: 1 }] })).toBeUndefined();
  });

  it('a relay bound to "::" listens on IPv6 only, as OpenSSH and the gateway do (src/grammar/bind.ts)', async () => {
    const { session } = open({ localForwards: [{ id: 'v6', port: 0, bind: '::', allowRelay: true, host: '127.0.0.1', hostPort: echo.port }] });
    await session.waitUntilConnected();
    const port = await listening(session, 'v6');
    const r = await connectAndCollect(port, Buffer.from('over v6'), { host: '::1' });
    expect(r.data.toString()).toBe('over v6');
    const v4 = await new Promise<string>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => { socket.destroy(); resolve('connected'); });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(v4).toBe('ECONNREFUSED');
  });

  it('a listener that cannot be opened is an error the user sees; with exitOnForwardFailure it fails the session', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      const { session, logs } = open({ localForwards: [{ id: 'busy', bind: '127.0.0.1', port: taken, host: '127.0.0.1', hostPort: echo.port }] });
      await waitUntil(() => session.status().localForwards[0]!.state === 'retrying', 10_000, 'retrying');
      const st = session.status().localForwards[0]!;
      expect(st.lastError?.code).toBe('EDGE_ERR_LOCAL_LISTEN_FAILED');
      expect(st.lastError?.message).toContain('already in use');
      expect(logs.some((l) => l.startsWith('error') && l.includes('cannot listen on 127.0.0.1:' + taken))).toBe(true);
      await session.close(100);

      const fatal = open({ exitOnForwardFailure: true, localForwards: [{ id: 'busy', bind: '127.0.0.1', port: taken, host: '127.0.0.1', hostPort: echo.port }] });
      await waitUntil(() => fatal.session.state === 'failed', 10_000, 'session failed');
      expect(fatal.session.status().lastError?.code).toBe('EDGE_ERR_LOCAL_LISTEN_FAILED');
      expect(fatal.session.status().lastError?.message).toContain('exitOnForwardFailure');
      expect(fatal.session.status().localForwards[0]!.state).toBe('stopped');

      // The same option covers remote forwards the SSH host refuses (sshd cannot bind a port in use).
      const remote = open({ exitOnForwardFailure: true, forwards: [{ id: 'r', bind: '127.0.0.1', port: taken, target: `tcp://127.0.0.1:${echo.port}` }] });
      await waitUntil(() => remote.session.state === 'failed', 10_000, 'session failed on the refused remote forward');
      expect(remote.session.status().lastError).toMatchObject({ code: 'EDGE_ERR_FORWARD_REFUSED', message: expect.stringContaining('exitOnForwardFailure') });
    } finally {
      blocker.close();
    }
  });

  it('the listener survives an sshd kill + restart; a connection made while sshd is down waits for the session and then works', async () => {
    const { session } = open({
      localForwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, host: '127.0.0.1', hostPort: echo.port, sessionWaitMs: 20_000 }],
      dynamicForwards: [{ id: 'socks', bind: '127.0.0.1', port: 0, allowDestinations: ['127.0.0.1:*'], sessionWaitMs: 20_000 }],
    });
    await session.waitUntilConnected();
    const port = await listening(session, 'echo');
    const socksPort = await listening(session, 'socks');
    expect((await connectAndCollect(port, Buffer.from('before'))).data.toString()).toBe('before');

    await sshd.kill();
    await waitUntil(() => session.state !== 'connected', 15_000, 'session down');
    expect(session.status().localForwards[0]!.state).toBe('up'); // still listening
    // Arrives while the SSH session is down: waits (sessionWaitMs) instead of failing.
    const waiting = connectAndCollect(port, Buffer.from('while down'), { timeoutMs: 40_000 });
    const waitingSocks = SocksClient.createConnection({ proxy: { host: '127.0.0.1', port: socksPort, type: 5 }, command: 'connect', destination: { host: '127.0.0.1', port: echo.port }, timeout: 40_000 });
    await new Promise((r) => setTimeout(r, 300));
    await sshd.restart();
    await session.waitUntilConnected();
    expect((await waiting).data.toString()).toBe('while down');
    const { socket } = await waitingSocks;
    socket.write('socks after restart');
    expect(await new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())))).toBe('socks after restart');
    socket.destroy();
    expect(session.status().localForwards[0]!.localPort).toBe(port);
    expect((await connectAndCollect(port, Buffer.from('after'))).data.toString()).toBe('after');
  });

  it('a connection arriving while the session is down is closed cleanly after sessionWaitMs', async () => {
    const { session } = open({
      reconnect: { mode: 'always', retryIntervalMs: 60_000, maxRetryIntervalMs: 60_000 },
      localForwards: [{ id: 'short', bind: '127.0.0.1', port: 0, host: '127.0.0.1', hostPort: echo.port, sessionWaitMs: 300 }],
    });
    await session.waitUntilConnected();
    const port = await listening(session, 'short');
    const rejected: string[] = [];
    session.on('channelRejected', (info) => rejected.push(`${info.reason} ${info.error?.code}`));
    await sshd.kill();
    try {
      await waitUntil(() => session.state !== 'connected', 15_000, 'session down');
      const started = Date.now();
      const r = await connectAndCollect(port, Buffer.from('x'), { allowError: true });
      expect(r.bytes).toBe(0); // closed without data
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(rejected).toEqual(['session-unavailable EDGE_ERR_SESSION_UNAVAILABLE']);
    } finally {
      await sshd.restart();
    }
  });

  it('setLocalForwards / setDynamicForwards change listeners live: unchanged ones keep their socket and connections, the SSH session does not reconnect', async () => {
    const { session } = open({ localForwards: [{ id: 'keep', bind: '127.0.0.1', port: 0, host: '127.0.0.1', hostPort: echo.port }] });
    await session.waitUntilConnected();
    const keepPort = await listening(session, 'keep');
    const held = net.connect({ host: '127.0.0.1', port: keepPort });
    held.setEncoding('utf8');
    await new Promise((r) => held.once('connect', r));
    held.write('one ');
    await new Promise((r) => held.once('data', r));
    const attempt = session.status().attempt;

    await session.setLocalForwards([
      { id: 'keep', bind: '127.0.0.1', port: 0, host: '127.0.0.1', hostPort: echo.port, idleTimeoutMs: 60_000 },
      { id: 'added', bind: '127.0.0.1', port: 0, host: 'localhost', hostPort: web.port },
    ]);
    await session.setDynamicForwards([{ id: 'socks', bind: '127.0.0.1', port: 0, allowDestinations: ['*:*'] }]);
    const addedPort = await listening(session, 'added');
    await listening(session, 'socks');
    expect(session.status().localForwards.find((f) => f.id === 'keep')!.localPort).toBe(keepPort);
    const res = await request(`http://127.0.0.1:${addedPort}/hello`, { reset: true });
    expect(await res.body.text()).toContain('hello world');
    held.write('two');
    const more = await new Promise<string>((r) => held.once('data', (d: string) => r(d)));
    expect(more).toBe('two');

    await session.setLocalForwards([{ id: 'added', bind: '127.0.0.1', port: 0, host: 'localhost', hostPort: web.port }]);
    await expect(connectAndCollect(keepPort, Buffer.from('gone'), { allowError: true, timeoutMs: 3_000 }).then((r) => r.error?.message ?? 'connected')).resolves.toMatch(/ECONNREFUSED/);
    held.write('still');
    expect(await new Promise<string>((r) => held.once('data', (d: string) => r(d)))).toBe('still'); // removed listener: its open connection runs on
    held.destroy();
    expect(session.status().attempt).toBe(attempt);
    await expect(session.setLocalForwards([{ id: 'socks', port: 0, host: 'h', hostPort: 1 }])).rejects.toThrow(/unique/);
  });

  it('tunnel.channel spans carry edge_agent.direction local/dynamic, like remote ones', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const tracer = provider.getTracer('test');
    const { session } = open({
      forwards: [{ id: 'r', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }],
      localForwards: [{ id: 'l', bind: '127.0.0.1', port: 0, host: '127.0.0.1', hostPort: echo.port }],
      dynamicForwards: [{ id: 'd', bind: '127.0.0.1', port: 0, allowDestinations: [`127.0.0.1:${echo.port}`] }],
    });
    new SessionTracing(session, tracer);
    await session.waitUntilConnected();
    const remotePort = await session.waitForForward('r');
    const lPort = await listening(session, 'l');
    const dPort = await listening(session, 'd');
    await connectAndCollect(remotePort, Buffer.from('r'));
    await connectAndCollect(lPort, Buffer.from('l'));
    const { socket } = await SocksClient.createConnection({ proxy: { host: '127.0.0.1', port: dPort, type: 5 }, command: 'connect', destination: { host: '127.0.0.1', port: echo.port } });
    socket.end('d');
    await new Promise((r) => socket.once('close', r));
    await SocksClient.createConnection({ proxy: { host: '127.0.0.1', port: dPort, type: 5 }, command: 'connect', destination: { host: '127.0.0.1', port: 1 } }).catch(() => undefined);
    await waitUntil(() => exporter.getFinishedSpans().filter((s) => s.name === 'tunnel.channel').length >= 4, 10_000, 'spans');
    const spans = exporter.getFinishedSpans().filter((s) => s.name === 'tunnel.channel');
    const by = (dir: string) => spans.filter((s) => s.attributes['edge_agent.direction'] === dir);
    expect(by('remote')).toHaveLength(1);
    expect(by('local')).toHaveLength(1);
    expect(by('local')[0]!.attributes).toMatchObject({ 'edge_agent.forward.id': 'l', 'edge_agent.target': `tcp://127.0.0.1:${echo.port}`, 'edge_agent.bytes_in': 1, 'edge_agent.bytes_out': 1 });
    expect(by('dynamic')).toHaveLength(2);
    const denied = by('dynamic').find((s) => s.attributes['edge_agent.reject_reason'] !== undefined)!;
    expect(denied.attributes).toMatchObject({ 'edge_agent.reject_reason': 'destination-denied', 'error.type': 'EDGE_ERR_DESTINATION_DENIED', 'edge_agent.target': 'tcp://127.0.0.1:1' });
    await provider.shutdown();
  });
});
