// Our own session core (TunnelSession) against our own gateway (src/gateway): bytes both
// ways, half-close, port 0, cancel, idle timeout, the admin endpoint, and a reconnecting
// agent taking its port back from its own dead session.
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SessionConfigInput } from '../../src/session/session-config.js';
import { TunnelSession } from '../../src/session/tunnel-session.js';
import { sshLogin, startTestGateway, type TestGateway, type UserKey } from '../helpers/gateway-fixtures.js';
import {
  connectAndCollect, freePort, pseudoRandomChunks, pseudoRandomSha256, startEchoServer, startFreezableProxy, startSinkServer, startSourceServer,
  type SinkServer, type SourceServer, type TcpService,
} from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

const MB = 1024 * 1024;

let gw: TestGateway;
let key: UserKey;
let otherKey: UserKey;
let echo: TcpService;
let sink: SinkServer;
let source: SourceServer;
const cleanups: Array<() => Promise<unknown> | void> = [];

function sessionConfig(overrides: Partial<SessionConfigInput> = {}): SessionConfigInput {
  return {
    id: 'gw-test',
    host: '127.0.0.1',
    port: gw.port,
    auth: { username: 'device-1', privateKeys: [{ key: key.privateKey, source: key.path }] },
    hostKeys: { fingerprints: [gw.fingerprint] },
    keepalive: { intervalMs: 5_000, countMax: 3 },
    reconnect: { mode: 'always', retryIntervalMs: 100, maxRetryIntervalMs: 300 },
    ...overrides,
  };
}

async function startAgent(overrides: Partial<SessionConfigInput> = {}) {
  const session = new TunnelSession(sessionConfig(overrides));
  cleanups.push(() => session.close(200));
  session.start();
  await session.waitUntilConnected();
  const ports: Record<string, number> = {};
  for (const fwd of session.config.forwards) ports[fwd.id] = await session.waitForForward(fwd.id);
  return { session, ports };
}

beforeAll(async () => {
  gw = await startTestGateway({ adminListen: { host: '127.0.0.1', port: 0 }, takeoverProbeTimeoutMs: 1_000 });
  key = gw.newKey('device');
  otherKey = gw.newKey('other-device');
  gw.writeAuthorizedKeys([key.publicLine, otherKey.publicLine]);
  echo = await startEchoServer();
  sink = await startSinkServer();
  source = await startSourceServer(20 * MB, { seed: 3 });
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(async () => {
  await Promise.all([echo?.close(), sink?.close(), source?.close()]);
  await gw?.close();
});

describe('TunnelSession through the built-in gateway', () => {
  it('port 0: the gateway picks a port above 1024, reports it, and the forward echoes', async () => {
    const { session, ports } = await startAgent({ forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }] });
    expect(ports.echo).toBeGreaterThan(1024);
    expect(session.status().hostKeyFingerprint).toBe(gw.fingerprint);
    const res = await connectAndCollect(ports.echo!, Buffer.from('hello gateway'));
    expect(res.data.toString()).toBe('hello gateway');

    const conn = gw.gateway.status().connections.find((c) => c.user === 'device-1');
    expect(conn).toMatchObject({ authenticated: true, authMethod: 'publickey', keyFingerprint: expect.stringMatching(/^SHA256:/), remoteAddress: '127.0.0.1' });
    expect(conn!.forwards).toEqual([expect.objectContaining({ bind: '127.0.0.1', port: ports.echo, requestedPort: 0, channelsTotal: 1, bytesIn: 13, bytesOut: 13 })]);
    expect(gw.logged(/user "device-1" logged in from 127\.0\.0\.1:\d+ \(publickey ssh-ed25519 SHA256:/)).not.toHaveLength(0);
    await waitUntil(() => gw.logged(/channel closed 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ \(eof\), 13 bytes in, 13 bytes out/).length > 0, 5_000, 'channel log');
  });

  it('carries 20 MB each way intact (checksums), with backpressure', async () => {
    const { ports } = await startAgent({
      forwards: [
        { id: 'sink', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${sink.port}` },
        { id: 'source', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${source.port}` },
      ],
    });
    const before = sink.results.length;
    const [up, down] = await Promise.all([
      connectAndCollect(ports.sink!, pseudoRandomChunks(20 * MB, 11), { timeoutMs: 60_000 }),
      connectAndCollect(ports.source!, undefined, { timeoutMs: 60_000 }),
    ]);
    expect(up.sent).toBe(20 * MB);
    const [received] = (await sink.waitForResults(before + 1)).slice(before);
    expect(received).toMatchObject({ bytes: 20 * MB, sha256: pseudoRandomSha256(20 * MB, 11), clean: true });
    expect(down.bytes).toBe(20 * MB);
    expect(down.sha256).toBe(source.expectedSha256);

    await waitUntil(() => {
      const fwds = gw.gateway.status().connections.flatMap((c) => c.forwards);
      const sinkFwd = fwds.find((f) => f.port === ports.sink);
      const sourceFwd = fwds.find((f) => f.port === ports.source);
      return sinkFwd?.channelsOpen === 0 && sourceFwd?.channelsOpen === 0 && sinkFwd.bytesIn === 20 * MB && sourceFwd.bytesOut === 20 * MB;
    }, 10_000, 'byte counters in status');
  });

  it('propagates half-close both ways', async () => {
    // The service says hello and half-closes at once, then keeps reading until the client is done.
    const received: Buffer[] = [];
    let clientFinished!: () => void;
    const finished = new Promise<void>((r) => { clientFinished = r; });
    const service = net.createServer({ allowHalfOpen: true }, (s) => {
      s.end('hello, then FIN');
      s.on('data', (d: Buffer) => received.push(d));
      s.on('end', () => { clientFinished(); s.destroy(); });
    });
    await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => service.close(() => r())));
    const { ports } = await startAgent({ forwards: [{ id: 'hc', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${(service.address() as net.AddressInfo).port}` }] });

    const sock = net.connect({ host: '127.0.0.1', port: ports.hc!, allowHalfOpen: true });
    let got = '';
    sock.on('data', (d) => { got += d; });
    await new Promise<void>((r) => sock.once('end', () => r()));
    expect(got).toBe('hello, then FIN');
    // Our write side is still open after the service's FIN reached us.
    sock.end('late reply after the FIN');
    await finished;
    expect(Buffer.concat(received).toString()).toBe('late reply after the FIN');
    sock.destroy();
  });

  it('cancel: removing a forward closes its port on the gateway', async () => {
    const { session, ports } = await startAgent({
      forwards: [
        { id: 'keep', bind: 'localhost', port: 0, target: `tcp://127.0.0.1:${echo.port}` },
        { id: 'drop', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` },
      ],
    });
    const closed: Array<{ port: number; reason: string }> = [];
    gw.gateway.on('forwardClosed', (i) => closed.push(i));
    expect((await connectAndCollect(ports.drop!, Buffer.from('x'))).data.toString()).toBe('x');
    await session.removeForward('drop');
    expect(closed).toEqual([expect.objectContaining({ port: ports.drop, reason: 'cancel' })]);
    await expect(connectAndCollect(ports.drop!, Buffer.from('x'), { timeoutMs: 2_000 })).rejects.toThrow(/ECONNREFUSED/);
    const conn = gw.gateway.status().connections.find((c) => c.forwards.some((f) => f.port === ports.keep));
    expect(conn!.forwards.map((f) => f.port)).toEqual([ports.keep]);
    // "localhost" listens on loopback in both families, on the same port.
    expect((await connectAndCollect(ports.keep!, Buffer.from('v4'))).data.toString()).toBe('v4');
    expect((await connectAndCollect(ports.keep!, Buffer.from('v6'), { host: '::1' })).data.toString()).toBe('v6');
  });

  it('a forward outside the listen policy is refused (agent sees EDGE_ERR_FORWARD_REFUSED)', async () => {
    const session = new TunnelSession(sessionConfig({
      reconnect: { mode: 'never' },
      forwards: [{ id: 'wide', bind: '0.0.0.0', port: 0, target: `tcp://127.0.0.1:${echo.port}` }],
    }));
    cleanups.push(() => session.close(100));
    session.start();
    await expect(session.waitForForward('wide')).rejects.toMatchObject({ code: 'EDGE_ERR_FORWARD_REFUSED' });
    expect(gw.logged(/forward \*?0\.0\.0\.0:0 refused: .*default policy/)).not.toHaveLength(0);
  });

  it('serves GET /status (JSON) and GET /healthz on the admin address', async () => {
    const { ports } = await startAgent({ forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }] });
    const base = `http://127.0.0.1:${gw.adminPort}`;
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    const res = await fetch(`${base}/status`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const body = await res.json() as { listen: { port: number }; hostKeyFingerprint: string; connections: Array<{ user: string; remoteAddress: string; since: string; forwards: Array<{ bind: string; port: number; channelsOpen: number; channelsTotal: number; bytesIn: number; bytesOut: number }> }> };
    expect(body.listen.port).toBe(gw.port);
    expect(body.hostKeyFingerprint).toBe(gw.fingerprint);
    const conn = body.connections.find((c) => c.forwards.some((f) => f.port === ports.echo));
    expect(conn).toMatchObject({ user: 'device-1', remoteAddress: '127.0.0.1', since: expect.any(String) });
    expect(conn!.forwards[0]).toEqual(expect.objectContaining({ bind: '127.0.0.1', port: ports.echo, channelsOpen: 0, channelsTotal: 0, bytesIn: 0, bytesOut: 0 }));
    // Compact by default (a fleet makes it large), indented on request.
    expect((await (await fetch(`${base}/status`)).text()).trimEnd()).not.toContain('\n');
    expect(await (await fetch(`${base}/status?pretty`)).text()).toMatch(/^\{\n {2}"version": /);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});

describe('the gateway\'s view of its fleet', () => {
  it('/status lists every connected agent: user, key fingerprint and comment, source address, forwards, bytes', async () => {
    const devices = [
      { user: 'fleet-a', key: key, source: '127.0.0.1' },
      { user: 'fleet-b', key: otherKey, source: '127.0.0.2' },
      { user: 'fleet-c', key: gw.newKey('fleet-c'), source: '127.0.0.3' },
    ];
    gw.writeAuthorizedKeys([key.publicLine, otherKey.publicLine, devices[2]!.key.publicLine]);
    const ports: number[] = [];
    for (const d of devices) {
      const sock = net.connect({ host: '127.0.0.1', port: gw.port, localAddress: d.source });
      const client = await sshLogin(gw.port, gw.fingerprint, { username: d.user, privateKey: d.key.privateKey, sock });
      cleanups.push(() => client.end());
      client.on('tcp connection', (_info, accept) => {
        const ch = accept();
        const target = net.connect(echo.port, '127.0.0.1');
        ch.pipe(target).pipe(ch);
      });
      ports.push(await new Promise<number>((resolve, reject) => client.forwardIn('127.0.0.1', 0, (err, p) => (err ? reject(err) : resolve(p)))));
    }
    expect((await connectAndCollect(ports[1]!, Buffer.from('twelve bytes'))).data.toString()).toBe('twelve bytes');
    await waitUntil(() => gw.gateway.status().connections.some((c) => c.user === 'fleet-b' && c.bytesOut === 12), 5_000, 'bytes counted');

    const body = await (await fetch(`http://127.0.0.1:${gw.adminPort}/status`)).json() as { connections: Array<Record<string, unknown> & { user: string; forwards: Array<{ port: number }> }> };
    const fleet = body.connections.filter((c) => c.user?.startsWith('fleet-')).sort((a, b) => a.user.localeCompare(b.user));
    expect(fleet.map((c) => ({ user: c.user, remoteAddress: c.remoteAddress, comment: (c.identity as { comment: string }).comment, ports: c.forwards.map((f) => f.port), bytesIn: c.bytesIn, bytesOut: c.bytesOut }))).toEqual([
      { user: 'fleet-a', remoteAddress: '127.0.0.1', comment: 'device@test', ports: [ports[0]], bytesIn: 0, bytesOut: 0 },
      { user: 'fleet-b', remoteAddress: '127.0.0.2', comment: 'other-device@test', ports: [ports[1]], bytesIn: 12, bytesOut: 12 },
      { user: 'fleet-c', remoteAddress: '127.0.0.3', comment: 'fleet-c@test', ports: [ports[2]], bytesIn: 0, bytesOut: 0 },
    ]);
    for (const c of fleet) expect(c).toMatchObject({ authenticated: true, authMethod: 'publickey', keyFingerprint: expect.stringMatching(/^SHA256:/), identity: { kind: 'key', fingerprint: c.keyFingerprint } });
    expect(new Set(fleet.map((c) => c.keyFingerprint)).size).toBe(3);
  });
});

/** A raw ssh2 login asking for one remote forward; resolves with the bound port or rejects. */
async function askForPort(port: number, privateKey: Buffer, username: string): Promise<number> {
  const client = await sshLogin(gw.port, gw.fingerprint, { username, privateKey });
  cleanups.push(() => client.end());
  return new Promise((resolve, reject) => client.forwardIn('127.0.0.1', port, (err, bound) => (err ? reject(err) : resolve(bound))));
}

describe('reconnect takeover', () => {
  it('an agent whose old connection died without FIN gets its fixed port back after a failed keepalive probe, not after the keepalive timeout', async () => {
    const proxy = await startFreezableProxy(gw.port);
    cleanups.push(() => proxy.close());
    const fixed = await freePort();
    const takeovers: Array<{ user: string; port: number; from: number; to: number }> = [];
    gw.gateway.on('takeover', (t) => takeovers.push(t));
    const { session, ports } = await startAgent({
      port: proxy.port,
      auth: { username: 'device-7', privateKeys: [{ key: key.privateKey, source: key.path }] },
      forwards: [{ id: 'fixed', bind: '127.0.0.1', port: fixed, target: `tcp://127.0.0.1:${echo.port}` }],
    });
    expect(ports.fixed).toBe(fixed);
    expect((await connectAndCollect(fixed, Buffer.from('before'))).data.toString()).toBe('before');
    const oldConn = gw.gateway.status().connections.find((c) => c.user === 'device-7')!;

    // The link goes dark and the agent's side is reset; the gateway's side stays open and
    // silent, so the gateway still holds the listener (its keepalive needs 15 s × 3 to notice).
    proxy.freeze();
    const droppedAt = Date.now();
    proxy.dropClientSide();
    proxy.thaw();
    await waitUntil(() => session.status().forwards[0]!.state !== 'up', 5_000, 'agent to notice');
    await waitUntil(() => session.status().forwards[0]!.state === 'up', 15_000, 'forward back up');
    const backAfter = Date.now() - droppedAt;
    // 1 s probe + 200 ms backoff + a login; the bug (waiting out the keepalive) takes 45 s
    expect(backAfter).toBeLessThan(12_000);
    expect(session.status().forwards[0]!.remotePort).toBe(fixed);
    expect(takeovers).toEqual([expect.objectContaining({ user: 'device-7', port: fixed, from: oldConn.id })]);
    expect(gw.logged(/key SHA256:\S+ \("device@test"\) reconnected: connection #\d+ \(user "device-7"\) takes 127\.0\.0\.1:\d+ over from its older connection #\d+ .* did not answer a keepalive probe within 1000 ms/)).toHaveLength(1);
    expect((await connectAndCollect(fixed, Buffer.from('after'))).data.toString()).toBe('after');
    // The old, dead connection was ended by the takeover.
    await waitUntil(() => gw.gateway.status().connections.filter((c) => c.user === 'device-7').length === 1, 5_000, 'old connection gone');
    expect(gw.gateway.status().connections.find((c) => c.user === 'device-7')!.id).not.toBe(oldConn.id);
  });

  it('port hijack: another key logging in with the victim\'s user name is refused, and bytes still reach the victim\'s service', async () => {
    const fixed = await freePort();
    const { session } = await startAgent({
      auth: { username: 'victim', privateKeys: [{ key: key.privateKey, source: key.path }] },
      forwards: [{ id: 'fixed', bind: 'localhost', port: fixed, target: `tcp://127.0.0.1:${echo.port}` }],
    });
    const victim = gw.gateway.status().connections.find((c) => c.user === 'victim')!;
    const takeovers: unknown[] = [];
    gw.gateway.on('takeover', (t) => takeovers.push(t));

    // Same user name, another authorized key, the same port (and an overlapping bind).
    for (const bind of ['127.0.0.1', 'localhost']) {
      const client = await sshLogin(gw.port, gw.fingerprint, { username: 'victim', privateKey: otherKey.privateKey });
      cleanups.push(() => client.end());
      await expect(new Promise((resolve, reject) => client.forwardIn(bind, fixed, (err, p) => (err ? reject(err) : resolve(p))))).rejects.toThrow(/Unable to bind/);
    }
    expect(takeovers).toEqual([]);
    expect(gw.logged(/user "victim".*forward 127\.0\.0\.1:\d+ refused: port in use by another client \(held by connection #\d+, key SHA256:\S+ \("device@test"\); this connection: key SHA256:\S+ \("other-device@test"\)\)/)).toHaveLength(1);
    expect(session.status().forwards[0]!.state).toBe('up');
    expect(gw.gateway.status().connections.find((c) => c.user === 'victim' && c.forwards.length > 0)!.id).toBe(victim.id);
    expect((await connectAndCollect(fixed, Buffer.from('still mine'))).data.toString()).toBe('still mine');

    // /status says who holds the port.
    const ports = gw.gateway.status().ports.filter((p) => p.port === fixed);
    expect(ports).toEqual([{ bind: 'localhost', port: fixed, connection: victim.id, user: 'victim', holder: { kind: 'key', fingerprint: victim.keyFingerprint, keyType: 'ssh-ed25519', comment: 'device@test' } }]);
  });

  it('the same key cannot take a port from a connection that still answers keepalives', async () => {
    const fixed = await freePort();
    const { session } = await startAgent({
      auth: { username: 'device-8', privateKeys: [{ key: key.privateKey, source: key.path }] },
      forwards: [{ id: 'fixed', bind: '127.0.0.1', port: fixed, target: `tcp://127.0.0.1:${echo.port}` }],
    });
    const takeovers: unknown[] = [];
    gw.gateway.on('takeover', (t) => takeovers.push(t));
    await expect(askForPort(fixed, key.privateKey, 'device-8')).rejects.toThrow(/Unable to bind/);
    expect(takeovers).toEqual([]);
    expect(gw.logged(/forward 127\.0\.0\.1:\d+ refused: port in use by another client: connection #\d+ of the same key SHA256:\S+ \("device@test"\) .* answered a keepalive probe within 1000 ms and keeps it/)).toHaveLength(1);
    expect(session.status().forwards[0]!.state).toBe('up');
    expect((await connectAndCollect(fixed, Buffer.from('alive'))).data.toString()).toBe('alive');
  });
});

/** Connects to a forwarded port and uploads `bytes`; records how the connection ends. */
async function startUpload(port: number, bytes: number) {
  const client = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  const endings: string[] = [];
  client.on('end', () => endings.push('end'));
  client.on('error', (err: NodeJS.ErrnoException) => endings.push(`error:${err.code}`));
  cleanups.push(() => void client.destroy());
  const before = sink.bytesReceived;
  client.write(Buffer.alloc(bytes, 7));
  // The whole first part reached the service, so no bytes sit unread anywhere: a FIN now
  // would look like the end of a complete upload.
  await waitUntil(() => sink.bytesReceived - before >= bytes, 10_000, 'upload at the service');
  return { client, endings };
}

describe('cut transfers reset the outside client', () => {
  it('an upload whose agent connection dies ends with ECONNRESET, not a clean end', async () => {
    const proxy = await startFreezableProxy(gw.port);
    cleanups.push(() => proxy.close());
    const { ports } = await startAgent({ port: proxy.port, reconnect: { mode: 'never' }, forwards: [{ id: 'sink', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${sink.port}` }] });
    const upload = await startUpload(ports.sink!, MB);
    proxy.dropConnections(); // the agent's SSH connection is gone, mid-upload
    await waitUntil(() => upload.endings.length > 0, 5_000, 'the client to see the end');
    expect(upload.endings[0]).toBe('error:ECONNRESET');
    await waitUntil(() => gw.logged(/channel closed .*\(destroyed\)/).length > 0, 5_000, 'channel log');
  });

  it('an agent closing the channel without EOF resets the outside client; a real EOF ends it cleanly', async () => {
    const client = await sshLogin(gw.port, gw.fingerprint, { username: 'raw-agent', privateKey: key.privateKey });
    cleanups.push(() => client.end());
    let mode: 'cut' | 'eof' = 'cut';
    client.on('tcp connection', (_info, accept) => {
      const ch = accept();
      ch.once('data', () => (mode === 'cut' ? ch.close() : ch.end())); // close() sends CLOSE only; end() sends EOF
    });
    const port = await new Promise<number>((resolve, reject) => client.forwardIn('127.0.0.1', 0, (err, p) => (err ? reject(err) : resolve(p))));
    const outcome = async () => {
      const sock = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
      cleanups.push(() => void sock.destroy());
      const endings: string[] = [];
      sock.on('end', () => endings.push('end'));
      sock.on('error', (err: NodeJS.ErrnoException) => endings.push(`error:${err.code}`));
      sock.write('part of a request');
      await waitUntil(() => endings.length > 0, 5_000, 'the client to see the end');
      return endings[0];
    };
    expect(await outcome()).toBe('error:ECONNRESET');
    mode = 'eof';
    expect(await outcome()).toBe('end');
  });

  it('an upload still open at the shutdown drain deadline ends with ECONNRESET', async () => {
    const drainGw = await startTestGateway({}, [key.publicLine]);
    cleanups.push(() => drainGw.close());
    const session = new TunnelSession(sessionConfig({ port: drainGw.port, hostKeys: { fingerprints: [drainGw.fingerprint] }, reconnect: { mode: 'never' }, forwards: [{ id: 'sink', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${sink.port}` }] }));
    cleanups.push(() => session.destroy());
    session.start();
    const upload = await startUpload(await session.waitForForward('sink'), 256 * 1024);
    await drainGw.gateway.close(200);
    await waitUntil(() => upload.endings.length > 0, 5_000, 'the client to see the end');
    expect(upload.endings[0]).toBe('error:ECONNRESET');
  });
});

describe('gateway timeouts', () => {
  it('closes forwarded connections idle for idleTimeoutMs', async () => {
    const idleGw = await startTestGateway({ idleTimeoutMs: 300 }, [key.publicLine]);
    cleanups.push(() => idleGw.close());
    const session = new TunnelSession(sessionConfig({ port: idleGw.port, hostKeys: { fingerprints: [idleGw.fingerprint] }, forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }] }));
    cleanups.push(() => session.close(100));
    session.start();
    const port = await session.waitForForward('echo');
    const sock = net.connect({ host: '127.0.0.1', port });
    let echoed = '';
    let lastDataAt = 0; // the idle clock runs from the last byte, not from when the poll below sees it
    sock.on('data', (d) => { echoed += d; lastDataAt = Date.now(); });
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.write('ping');
    await waitUntil(() => echoed === 'ping', 5_000, 'echo');
    await closed;
    expect(Date.now() - lastDataAt).toBeGreaterThanOrEqual(200);
    expect(Date.now() - lastDataAt).toBeLessThan(5_000); // no idle timeout by default
    await waitUntil(() => idleGw.logged(/channel closed .*\(idle-timeout\)/).length === 1, 5_000, 'idle log');
  });

  it('drops a client that stops answering keepalives', async () => {
    const kaGw = await startTestGateway({ keepaliveIntervalMs: 200, keepaliveCountMax: 2 }, [key.publicLine]);
    cleanups.push(() => kaGw.close());
    const proxy = await startFreezableProxy(kaGw.port);
    cleanups.push(() => proxy.close());
    const session = new TunnelSession(sessionConfig({ port: proxy.port, hostKeys: { fingerprints: [kaGw.fingerprint] }, keepalive: { intervalMs: 60_000, countMax: 5 }, reconnect: { mode: 'never' }, forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }] }));
    // The frozen proxy never tells the agent; a graceful close would wait for the gateway.
    cleanups.push(() => session.destroy());
    session.start();
    const port = await session.waitForForward('echo');
    proxy.freeze();
    const frozenAt = Date.now();
    await waitUntil(() => kaGw.gateway.status().connections.length === 0, 10_000, 'gateway to drop the silent client');
    // 2 × 200 ms here; the default keepalive would take 45 s (2 s was tight on a loaded machine)
    expect(Date.now() - frozenAt).toBeLessThan(5_000);
    expect(kaGw.logged(/stopped answering keepalives/)).toHaveLength(1);
    await expect(connectAndCollect(port, Buffer.from('x'), { timeoutMs: 2_000 })).rejects.toThrow(/ECONNREFUSED/);
  });
});
