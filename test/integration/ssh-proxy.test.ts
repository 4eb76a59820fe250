// Reaching the SSH host through a proxy: a real OpenSSH sshd behind a real HTTP CONNECT proxy
// and a real SOCKS5 proxy (test/helpers/proxies.ts), with and without credentials; a proxy that
// refuses (403 / SOCKS ruleset), one that wants other credentials (407), one that is not there,
// an SSH host the proxy cannot reach — each a coded error saying who refused, with the proxy
// credentials masked everywhere — and `proxy: "env"` with HTTPS_PROXY / ALL_PROXY / NO_PROXY.
// Plus local forwards through the built-in gateway (edge-agent gateway --allow-direct-tcpip).
import { SocksClient } from 'socks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgeError } from '../../src/errors.js';
import type { SessionConfigInput } from '../../src/session/session-config.js';
import { TunnelSession } from '../../src/session/tunnel-session.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway-fixtures.js';
import { startHttpConnectProxy, startSocks5Proxy, type TestProxy } from '../helpers/proxies.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, freePort, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { sessionConfigFor, waitUntil } from '../helpers/tunnel-fixtures.js';

describe('SSH session through a proxy', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  const proxies: TestProxy[] = [];
  const sessions: TunnelSession[] = [];

  beforeAll(async () => {
    [sshd, echo] = await Promise.all([startSshd(), startEchoServer()]);
  });
  afterAll(async () => {
    await Promise.all(sessions.map((s) => s.close(300)));
    await Promise.all(proxies.map((p) => p.close()));
    await echo?.close();
    await sshd?.dispose();
  });

  async function proxy<T extends TestProxy>(p: Promise<T>): Promise<T> {
    const started = await p;
    proxies.push(started);
    return started;
  }

  function open(overrides: Partial<SessionConfigInput>) {
    const session = new TunnelSession(sessionConfigFor(sshd, {
      forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }],
      ...overrides,
    }));
    const logs: string[] = [];
    session.on('log', (level, message) => logs.push(`${level} ${message}`));
    sessions.push(session);
    session.start();
    return { session, logs };
  }

  /** The session's first connection error (it keeps retrying). */
  function firstFailure(session: TunnelSession): Promise<EdgeError> {
    return new Promise((resolve) => session.once('connectFailed', ({ error }) => resolve(error)));
  }

  async function carriesTraffic(session: TunnelSession): Promise<void> {
    await session.waitUntilConnected();
    const port = await session.waitForForward('echo');
    expect((await connectAndCollect(port, Buffer.from('through the proxy'))).data.toString()).toBe('through the proxy');
  }

  it('HTTP CONNECT proxy with Basic credentials: the session goes through it; the credentials appear nowhere', async () => {
    // coalesce: the 200 answer and the SSH banner arrive in one packet.
    const http = await proxy(startHttpConnectProxy({ auth: { username: 'dev ice', password: 'p@ss:word' }, coalesce: true }));
    const { session, logs } = open({ proxy: http.url });
    await carriesTraffic(session);
    expect(http.tunnels).toBe(1);
    expect(http.requests[0]).toMatchObject({ target: `127.0.0.1:${sshd.port}`, credentials: 'dev ice:p@ss:word', outcome: 'ok' });
    const status = session.status();
    expect(status.proxy).toEqual({ configured: `http://***:***@127.0.0.1:${http.port}`, route: `http://***:***@127.0.0.1:${http.port}` });
    const everything = JSON.stringify(status) + logs.join('\n');
    expect(everything).not.toContain('p%40ss');
    expect(everything).not.toContain('word');
    expect(logs.some((l) => l.includes(`via http://***:***@127.0.0.1:${http.port}`))).toBe(true);
  });

  it('SOCKS5 proxy (no auth, and username/password): the session goes through it', async () => {
    const plain = await proxy(startSocks5Proxy());
    const a = open({ proxy: plain.url });
    await carriesTraffic(a.session);
    expect(plain.requests[0]).toMatchObject({ host: '127.0.0.1', port: sshd.port, outcome: 'ok' });

    const authed = await proxy(startSocks5Proxy({ auth: { username: 'u', password: 'pw' } }));
    const b = open({ proxy: authed.url.replace('socks5://', 'socks5h://') });
    await carriesTraffic(b.session);
    expect(authed.requests[0]).toMatchObject({ credentials: 'u:pw', outcome: 'ok' });
  });

  it('a proxy that refuses is a coded error that says the proxy refused (HTTP 403, SOCKS5 ruleset)', async () => {
    const http = await proxy(startHttpConnectProxy({ deny: () => true }));
    const a = open({ proxy: http.url });
    const errA = await firstFailure(a.session);
    expect(errA.code).toBe('EDGE_ERR_PROXY_REFUSED');
    expect(errA.message).toContain('403');
    expect(errA.message).toContain(`proxy http://127.0.0.1:${http.port} refused to connect to SSH host 127.0.0.1:${sshd.port}`);
    expect(errA.retryable).toBe(true);

    const socks = await proxy(startSocks5Proxy({ deny: () => true, auth: { username: 'x', password: 'secret-pw' } }));
    const b = open({ proxy: socks.url });
    const errB = await firstFailure(b.session);
    expect(errB.code).toBe('EDGE_ERR_PROXY_REFUSED');
    expect(errB.message).toContain('not allowed by ruleset');
    expect(errB.message).not.toContain('secret-pw');
    expect(b.session.status().lastError?.message).toContain('socks5://***:***@');
  });

  it('wrong proxy credentials, no proxy listening, and an SSH host the proxy cannot reach are told apart', async () => {
    const http = await proxy(startHttpConnectProxy({ auth: { username: 'a', password: 'right' } }));
    const wrong = open({ proxy: `http://a:wrong@127.0.0.1:${http.port}` });
    const auth = await firstFailure(wrong.session);
    expect(auth.code).toBe('EDGE_ERR_PROXY_AUTH_FAILED');
    expect(auth.retryable).toBe(false);
    await waitUntil(() => wrong.session.state === 'failed', 10_000, 'auth failure is final');
    expect(auth.message).not.toContain('wrong');

    const none = open({ proxy: `http://127.0.0.1:${await freePort()}` });
    const unreachable = await firstFailure(none.session);
    expect(unreachable.code).toBe('EDGE_ERR_PROXY_UNREACHABLE');
    expect(unreachable.message).toContain('was not contacted');

    const socks = await proxy(startSocks5Proxy());
    const deadHost = open({ proxy: socks.url, port: await freePort() });
    const target = await firstFailure(deadHost.session);
    expect(target.code).toBe('EDGE_ERR_PROXY_TARGET_REFUSED');
    expect(target.message).toContain('connection refused');

    const http2 = await proxy(startHttpConnectProxy());
    const deadHost2 = open({ proxy: http2.url, port: await freePort() });
    const target2 = await firstFailure(deadHost2.session);
    expect(target2.code).toBe('EDGE_ERR_PROXY_TARGET_REFUSED');
    expect(target2.message).toContain('502');
  });

  it('proxy "env": HTTPS_PROXY is used, ALL_PROXY is the fallback, NO_PROXY bypasses it', async () => {
    const http = await proxy(startHttpConnectProxy());
    const socks = await proxy(startSocks5Proxy());

    const viaHttps = open({ proxy: 'env', proxyEnv: { httpsProxy: http.url, allProxy: socks.url } });
    await carriesTraffic(viaHttps.session);
    expect(http.tunnels).toBe(1);
    expect(socks.tunnels).toBe(0);

    const viaAll = open({ proxy: 'env', proxyEnv: { allProxy: socks.url } });
    await carriesTraffic(viaAll.session);
    expect(socks.tunnels).toBe(1);

    const bypass = open({ proxy: 'env', proxyEnv: { httpsProxy: http.url, noProxy: 'example.com, 127.0.0.0/8' } });
    await carriesTraffic(bypass.session);
    expect(http.tunnels).toBe(1); // not used
    expect(bypass.session.status().proxy).toEqual({ configured: 'env', route: 'direct (NO_PROXY)' });

    // From the real environment (process.env) when no proxyEnv is given.
    const saved = { HTTPS_PROXY: process.env.HTTPS_PROXY, NO_PROXY: process.env.NO_PROXY, https_proxy: process.env.https_proxy, no_proxy: process.env.no_proxy };
    delete process.env.https_proxy;
    delete process.env.no_proxy;
    process.env.HTTPS_PROXY = http.url;
    process.env.NO_PROXY = 'localhost';
    try {
      const fromEnv = open({ proxy: 'env' });
      await carriesTraffic(fromEnv.session);
      expect(http.tunnels).toBe(2);
      process.env.NO_PROXY = `127.0.0.1:${sshd.port}`;
      const bypassed = open({ proxy: 'env' });
      await carriesTraffic(bypassed.session);
      expect(http.tunnels).toBe(2);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('an invalid proxy setting is refused up front, naming the key and masking the password', () => {
    const bad = (proxyUrl: string) => {
      try {
        new TunnelSession(sessionConfigFor(sshd, { proxy: proxyUrl }));
        return undefined;
      } catch (err) {
        return err as EdgeError;
      }
    };
    const https = bad('https://user:topsecret@proxy:3128');
    expect(https?.code).toBe('EDGE_ERR_INVALID_CONFIG');
    expect(https?.message).toContain('proxy:');
    expect(https?.message).not.toContain('topsecret');
    expect(bad('ftp://proxy:21')?.message).toContain('unsupported scheme');
    expect(bad('socks4://u:pw@proxy:1080')?.message).toContain('SOCKS4');
  });
});

describe('local forwards through the built-in gateway (direct-tcpip)', () => {
  let gw: TestGateway;
  let echo: TcpService;
  beforeAll(async () => {
    gw = await startTestGateway({ allowDirectTcpip: true });
    echo = await startEchoServer();
  });
  afterAll(async () => {
    await echo?.close();
    await gw?.close();
  });

  it('-L to a TCP echo and -D (SOCKS) through edge-agent gateway --allow-direct-tcpip; permitopen refusals reach the client as a closed connection', async () => {
    const key = gw.newKey('device');
    gw.writeAuthorizedKeys([`permitopen="127.0.0.1:${echo.port}" ${key.publicLine}`]);
    const session = new TunnelSession({
      id: 'gw', host: '127.0.0.1', port: gw.port,
      auth: { username: 'device-1', privateKeys: [{ key: key.privateKey, source: key.path }] },
      hostKeys: { fingerprints: [gw.fingerprint] },
      reconnect: { mode: 'always', retryIntervalMs: 100, maxRetryIntervalMs: 300 },
      localForwards: [
        { id: 'echo', bind: '127.0.0.1', port: 0, host: '127.0.0.1', hostPort: echo.port },
        { id: 'other', bind: '127.0.0.1', port: 0, host: '127.0.0.1', hostPort: echo.port + 1 },
      ],
      dynamicForwards: [{ id: 'socks', bind: '127.0.0.1', port: 0, allowDestinations: ['127.0.0.1:*'] }],
    });
    const rejected: string[] = [];
    session.on('channelRejected', (info) => rejected.push(`${info.forwardId} ${info.reason} ${info.error?.code}`));
    session.start();
    try {
      await session.waitUntilConnected();
      const port = await waitUntil(() => session.status().localForwards.find((f) => f.id === 'echo')?.localPort ?? 0, 10_000, 'listening');
      const other = await waitUntil(() => session.status().localForwards.find((f) => f.id === 'other')?.localPort ?? 0, 10_000, 'listening');
      expect((await connectAndCollect(port, Buffer.from('via gateway'))).data.toString()).toBe('via gateway');
      const refused = await connectAndCollect(other, Buffer.from('x'), { allowError: true });
      expect(refused.bytes).toBe(0);
      await waitUntil(() => rejected.length === 1, 5_000, 'rejection');
      expect(rejected[0]).toBe('other channel-open-failed EDGE_ERR_CHANNEL_OPEN_FAILED');
      expect(gw.logged(/direct-tcpip/).length).toBeGreaterThan(0);

      const socksPort = await waitUntil(() => session.status().dynamicForwards[0]?.localPort ?? 0, 10_000, 'SOCKS listening');
      const { socket } = await SocksClient.createConnection({ proxy: { host: '127.0.0.1', port: socksPort, type: 5 }, command: 'connect', destination: { host: '127.0.0.1', port: echo.port } });
      socket.write('socks via gateway');
      expect(await new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())))).toBe('socks via gateway');
      socket.destroy();
      // permitopen refuses it at the gateway: the SOCKS client hears "not allowed" (administratively prohibited).
      const denied = await SocksClient.createConnection({ proxy: { host: '127.0.0.1', port: socksPort, type: 5 }, command: 'connect', destination: { host: '127.0.0.1', port: echo.port + 1 } })
        .then(() => 'connected', (err: Error) => err.message);
      expect(denied).toMatch(/NotAllowed/);
    } finally {
      await session.close(200);
    }
  });
});
