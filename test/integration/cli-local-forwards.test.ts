// `edge-agent tunnel -L … -D … --proxy …` as a user runs it, against a real sshd: one line per
// listener with its real port, traffic through both, the session through an HTTP CONNECT
// proxy, and the errors a user must see (relay bind without -g, a listener that cannot be
// opened with --exit-on-forward-failure, a refusing proxy, a bad proxy URL) with exit codes.
import net from 'node:net';
import { SocksClient } from 'socks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliToExit } from '../helpers/cli.js';
import { startHttpConnectProxy, type TestProxy } from '../helpers/proxies.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, startEchoServer, type TcpService } from '../helpers/tcp-services.js';

describe('edge-agent tunnel -L / -D / --proxy', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  let proxy: TestProxy;
  let denying: TestProxy;
  beforeAll(async () => {
    [sshd, echo, proxy, denying] = await Promise.all([startSshd(), startEchoServer(), startHttpConnectProxy({ auth: { username: 'u', password: 'cli-secret' } }), startHttpConnectProxy({ deny: () => true })]);
  });
  afterAll(async () => {
    await Promise.all([echo?.close(), proxy?.close(), denying?.close()]);
    await sshd?.dispose();
  });

  const base = () => ['tunnel', '-p', String(sshd.port), '-i', sshd.userKeyPath, '--known-hosts', sshd.knownHostsPath, '--retry-interval-ms', '200', '--max-retry-interval-ms', '500'];

  it('prints a line per listener with its real port, carries -L and -D traffic through the proxy, exits 0 on SIGTERM', async () => {
    const cli = runCli([...base(), '--proxy', proxy.url, '-L', `0:127.0.0.1:${echo.port}`, '-D', '127.0.0.1:0', '--socks-allow', '127.0.0.1:*', `${sshd.username}@127.0.0.1`]);
    try {
      const l = await cli.waitForLine(new RegExp(`^local forward L1 listening: localhost:(\\d+) -> 127\\.0\\.0\\.1:${echo.port} via 127\\.0\\.0\\.1$`));
      const d = await cli.waitForLine(/^dynamic forward D1 listening: 127\.0\.0\.1:(\d+) \(SOCKS4\/4a\/5\) via 127\.0\.0\.1$/);
      expect((await connectAndCollect(Number(l[1]), Buffer.from('cli -L'))).data.toString()).toBe('cli -L');
      const { socket } = await SocksClient.createConnection({ proxy: { host: '127.0.0.1', port: Number(d[1]), type: 5 }, command: 'connect', destination: { host: '127.0.0.1', port: echo.port } });
      socket.write('cli -D');
      expect(await new Promise<string>((resolve) => socket.once('data', (b: Buffer) => resolve(b.toString())))).toBe('cli -D');
      socket.destroy();
      const refused = await SocksClient.createConnection({ proxy: { host: '127.0.0.1', port: Number(d[1]), type: 5 }, command: 'connect', destination: { host: 'localhost', port: echo.port } })
        .then(() => 'connected', (err: Error) => err.message);
      expect(refused).toMatch(/NotAllowed/);
      expect(proxy.tunnels).toBe(1);
      cli.child.kill('SIGTERM');
      expect((await cli.exit).code).toBe(0);
      expect(cli.stderr()).not.toContain('cli-secret');
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('a bind that is not loopback needs -g: exit 2 naming -g', async () => {
    const r = await runCliToExit([...base(), '-L', `0.0.0.0:0:127.0.0.1:${echo.port}`, `${sshd.username}@127.0.0.1`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('not loopback');
    expect(r.stderr).toContain('-g');
    const d = await runCliToExit([...base(), '-D', '*:0', `${sshd.username}@127.0.0.1`]);
    expect(d.code).toBe(2);
    expect(d.stderr).toContain('-g');
  });

  it('--exit-on-forward-failure: a listener that cannot be opened ends the command with exit 1 and the coded error', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await runCliToExit([...base(), '--exit-on-forward-failure', '-L', `127.0.0.1:${taken}:127.0.0.1:${echo.port}`, `${sshd.username}@127.0.0.1`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('EDGE_ERR_LOCAL_LISTEN_FAILED');
      expect(r.stderr).toContain('already in use');
    } finally {
      blocker.close();
    }
  });

  it('a proxy that refuses: exit 1 with EDGE_ERR_PROXY_REFUSED (--reconnect never); a bad proxy URL: exit 2, password masked', async () => {
    const r = await runCliToExit([...base(), '--reconnect', 'never', '--proxy', denying.url, '-L', `0:127.0.0.1:${echo.port}`, `${sshd.username}@127.0.0.1`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('EDGE_ERR_PROXY_REFUSED');
    expect(r.stderr).toContain('403');
    const bad = await runCliToExit([...base(), '--proxy', 'https://me:hunter2@proxy.example:3128', '-L', `0:127.0.0.1:${echo.port}`, `${sshd.username}@127.0.0.1`]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--proxy');
    expect(bad.stderr).not.toContain('hunter2');
  });

  it.each([
    [['-L', '8080', 'h'], 'a destination host:hostport is required'],
    [['-L', '8080:h', 'h'], 'expected port:host:hostport'],
    [['-L', '8080:h:0', 'h'], 'target port 0'],
    [['-D', '1080:h:80', 'h'], 'takes no destination'],
    [['-D', '70000', 'h'], '70000'],
    [['-D', '1080', '--socks-allow', 'nope', 'h'], '--socks-allow nope'],
    [['-L', '0:h:1', '--socks-allow', '*:*', 'h'], 'apply to -D forwards'],
  ])('bad usage %j exits 2 and says what is wrong (%s)', async (args, expected) => {
    const r = await runCliToExit(['tunnel', '--known-hosts', sshd.knownHostsPath, '-i', sshd.userKeyPath, ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(expected);
  });
});
