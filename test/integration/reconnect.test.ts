// Self-healing against a real OpenSSH sshd: the host dies and comes back, the link goes dark.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, freePort, startEchoServer, startFreezableProxy, type TcpService } from '../helpers/tcp-services.js';
import { sessionConfigFor, startSession, waitUntil } from '../helpers/tunnel-fixtures.js';
import { TunnelSession } from '../../src/session/tunnel-session.js';
import type { ReconnectAttemptInfo } from '../../src/session/tunnel-session.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fixture() {
  const sshd = await startSshd();
  const echo = await startEchoServer();
  cleanups.push(() => sshd.dispose(), () => echo.close());
  return { sshd, echo };
}

describe('reconnect', () => {
  it('sshd killed and restarted on the same port: the forward comes back by itself and traffic flows again', async () => {
    const { sshd, echo } = await fixture();
    // re-bound by the restarted sshd: below the ephemeral range, so no port-0 listener of a test
    // running alongside takes it while sshd is down
    const fixedPort = await freePort();
    const { session } = await startSession(sshd, [{ id: 'web', bind: '127.0.0.1', port: fixedPort, target: `tcp://127.0.0.1:${echo.port}` }]);
    cleanups.push(() => session.close(200));
    const attempts: ReconnectAttemptInfo[] = [];
    session.on('reconnectAttempt', (a) => attempts.push(a));
    expect((await connectAndCollect(fixedPort, Buffer.from('one'))).data.toString()).toBe('one');

    await sshd.kill();
    await waitUntil(() => session.state !== 'connected', 15_000, 'session to notice the loss');
    expect(session.status().forwards[0]!.state).toBe('pending');

    await sshd.restart();
    await waitUntil(() => session.status().forwards[0]!.state === 'up', 30_000, 'forward to come back');
    expect((await connectAndCollect(fixedPort, Buffer.from('two'))).data.toString()).toBe('two');
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    expect(attempts[0]).toMatchObject({ kind: 'ssh', retryCount: 1, retriesRemaining: -1, host: '127.0.0.1' });
    expect(session.status().attempt).toBeGreaterThanOrEqual(2);
  });

  it('keepalive detects a server that stops answering within interval × (countMax + 1)', async () => {
    const { sshd, echo } = await fixture();
    const proxy = await startFreezableProxy(sshd.port);
    cleanups.push(() => proxy.close());
    const intervalMs = 500;
    const countMax = 3;
    const session = new TunnelSession(sessionConfigFor(sshd, {
      port: proxy.port,
      // known_hosts names the real port; pin the fingerprint instead for the proxied port
      hostKeys: { fingerprints: [sshd.hostKeyFingerprint] },
      keepalive: { intervalMs, countMax },
      reconnect: { mode: 'never' },
      forwards: [{ id: 'web', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }],
    }));
    cleanups.push(() => session.close(100));
    session.start();
    await session.waitForForward('web');

    proxy.freeze();
    const frozenAt = Date.now();
    await waitUntil(() => session.state === 'failed', 10_000, 'keepalive to declare the link dead');
    const detectedAfter = Date.now() - frozenAt;
    expect(session.status().lastError?.code).toBe('EDGE_ERR_KEEPALIVE_TIMEOUT');
    // ssh2 (like OpenSSH) declares death when keepalive number countMax+1 is due.
    expect(detectedAfter).toBeLessThanOrEqual(intervalMs * (countMax + 1) + 1500);
    expect(detectedAfter).toBeGreaterThanOrEqual(intervalMs * countMax);
  });

  it('mode after-connect does not retry a failing first logon; mode always does', async () => {
    const { sshd } = await fixture();
    await sshd.stop();
    const never = new TunnelSession(sessionConfigFor(sshd, { reconnect: { mode: 'after-connect' } }));
    never.start();
    await expect(never.waitUntilConnected()).rejects.toMatchObject({ code: 'EDGE_ERR_CONNECT_REFUSED' });
    expect(never.state).toBe('failed');

    const always = new TunnelSession(sessionConfigFor(sshd, { reconnect: { mode: 'always', retryIntervalMs: 100, maxRetryIntervalMs: 300 } }));
    cleanups.push(() => always.close(100));
    always.start();
    await waitUntil(() => always.status().attempt >= 2, 10_000, 'a second attempt');
    await sshd.restart();
    await always.waitUntilConnected();
  });

  it('maxRetries bounds the attempts and ends with EDGE_ERR_RECONNECT_LIMIT', async () => {
    const { sshd } = await fixture();
    await sshd.stop();
    const session = new TunnelSession(sessionConfigFor(sshd, { reconnect: { mode: 'always', retryIntervalMs: 50, maxRetryIntervalMs: 100, maxRetries: 2 } }));
    session.start();
    await expect(session.waitUntilConnected()).rejects.toMatchObject({ code: 'EDGE_ERR_RECONNECT_LIMIT' });
    expect(session.status().attempt).toBe(3);
  });

  it('a reconnectAttempt listener can cancel further retries', async () => {
    const { sshd } = await fixture();
    await sshd.stop();
    const session = new TunnelSession(sessionConfigFor(sshd));
    session.on('reconnectAttempt', (a) => a.cancel());
    session.start();
    await expect(session.waitUntilConnected()).rejects.toMatchObject({ code: 'EDGE_ERR_RECONNECT_CANCELLED' });
    expect(session.status().attempt).toBe(1);
  });

  it('a reconnectAttempt listener that throws ends the session with EDGE_ERR_INTERNAL naming the bug, not a connection error', async () => {
    const { sshd } = await fixture();
    await sshd.stop();
    const session = new TunnelSession(sessionConfigFor(sshd));
    cleanups.push(() => session.close(100));
    session.on('reconnectAttempt', () => { throw new TypeError('listener bug'); });
    session.start();
    await waitUntil(() => session.state === 'failed', 10_000, 'session to fail');
    expect(session.status().lastError).toMatchObject({ code: 'EDGE_ERR_INTERNAL', message: expect.stringContaining('TypeError: listener bug') });
  });

  it('a forward whose port is taken is retried on its own while the other forwards serve', async () => {
    const { sshd, echo } = await fixture();
    const squatter = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => squatter.once('listening', r));
    const taken = (squatter.address() as net.AddressInfo).port;
    cleanups.push(() => new Promise<void>((r) => squatter.close(() => r())));

    const session = new TunnelSession(sessionConfigFor(sshd, {
      reconnect: { retryIntervalMs: 100, maxRetryIntervalMs: 200 },
      forwards: [
        { id: 'free', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` },
        { id: 'taken', bind: '127.0.0.1', port: taken, target: `tcp://127.0.0.1:${echo.port}` },
      ],
    }));
    cleanups.push(() => session.close(100));
    const forwardRetries: string[] = [];
    session.on('reconnectAttempt', (a) => { if (a.kind === 'forward') forwardRetries.push(a.forwardId!); });
    session.start();
    const freePort = await session.waitForForward('free');
    await waitUntil(() => session.status().forwards.find((f) => f.id === 'taken')!.state === 'retrying', 10_000, 'taken forward to retry');
    expect(session.status().forwards.find((f) => f.id === 'taken')!.lastError?.code).toBe('EDGE_ERR_FORWARD_REFUSED');
    expect((await connectAndCollect(freePort, Buffer.from('meanwhile'))).data.toString()).toBe('meanwhile');

    await new Promise<void>((r) => squatter.close(() => r()));
    await waitUntil(() => session.status().forwards.find((f) => f.id === 'taken')!.state === 'up', 10_000, 'taken forward to come up');
    expect(forwardRetries.every((id) => id === 'taken')).toBe(true);
    expect((await connectAndCollect(taken, Buffer.from('finally'))).data.toString()).toBe('finally');
  });
});

describe('close and destroy', () => {
  it('close() drains: open channels may finish within the deadline, new ones are refused, and it is idempotent', async () => {
    const { sshd, echo } = await fixture();
    const { session, ports } = await startSession(sshd, [{ id: 'web', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }]);
    const held = net.connect({ host: '127.0.0.1', port: ports.web! });
    let echoed = '';
    held.on('data', (d) => { echoed += d; });
    held.write('a');
    await waitUntil(() => echoed === 'a', 5_000, 'first echo');

    const closing = session.close(5_000);
    await waitUntil(() => session.state === 'draining', 5_000, 'draining');
    held.write('b');
    await waitUntil(() => echoed === 'ab', 5_000, 'echo during drain');
    held.end();
    await closing;
    await session.close(); // idempotent
    expect(session.state).toBe('stopped');
    const refused = await connectAndCollect(ports.web!, Buffer.from('late'), { allowError: true });
    expect(refused.error).toBeDefined();
  });

  it('close() ends channels still open at the deadline; destroy() is immediate and idempotent', async () => {
    const { sshd, echo } = await fixture();
    const { session, ports } = await startSession(sshd, [{ id: 'web', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }]);
    const closes: string[] = [];
    session.on('channelClose', (c) => closes.push(c.reason));
    const held = net.connect({ host: '127.0.0.1', port: ports.web! });
    held.on('error', () => {});
    held.write('x');
    await waitUntil(() => session.openChannelCount === 1, 5_000, 'channel open');
    const started = Date.now();
    await session.close(300);
    expect(Date.now() - started).toBeLessThan(3_000);
    await waitUntil(() => closes.length === 1, 5_000, 'channel closed');
    expect(closes).toEqual(['drain']);
    session.destroy();
    session.destroy();
    expect(session.state).toBe('stopped');
  });
});
