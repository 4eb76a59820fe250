// Remote unix-socket forwards (streamlocal-forward@openssh.com, ssh -R /path:host:port) through a
// real OpenSSH sshd: the SSH host listens on a socket path instead of a port; HTTP and TCP
// targets work through it, and after the host dies (leaving a stale socket file) the forward
// comes back by itself thanks to sshd's StreamLocalBindUnlink.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpService } from '../helpers/http-services.js';
import { startSshd } from '../helpers/sshd.js';
import { startEchoServer } from '../helpers/tcp-services.js';
import { sessionConfigFor, startSession, waitUntil } from '../helpers/tunnel-fixtures.js';
import { exchangeOverUnixSocket, httpGetOverUnixSocket } from '../helpers/unix-client.js';
import { runCli } from '../helpers/cli.js';
import { TunnelSession } from '../../src/session/tunnel-session.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fixture(extraConfig = ['StreamLocalBindUnlink yes']) {
  const sshd = await startSshd({ extraConfig });
  const echo = await startEchoServer();
  const web = await startHttpService();
  cleanups.push(() => sshd.dispose(), () => echo.close(), () => web.close());
  return { sshd, echo, web };
}

describe('remote unix-socket forwards through OpenSSH sshd', () => {
  it('carries HTTP and TCP through sockets on the SSH host, and status names the socket', async () => {
    const { sshd, echo, web } = await fixture();
    const webSock = path.join(sshd.dir, 'device-42.sock');
    const echoSock = path.join(sshd.dir, 'device-42-echo.sock');
    const { session, ports } = await startSession(sshd, [
      { id: 'web', remoteSocket: webSock, target: `http://127.0.0.1:${web.port}` },
      { id: 'echo', remoteSocket: echoSock, target: `tcp://127.0.0.1:${echo.port}` },
    ]);
    cleanups.push(() => session.close(200));
    expect(ports).toEqual({ web: 0, echo: 0 });

    const page = await httpGetOverUnixSocket(webSock, '/hello?x=1', { Host: 'device-42.example.com' });
    expect(page.status).toBe(200);
    expect(page.body).toBe('hello world ?x=1\n');
    expect(web.seen.at(-1)?.headers.host).toBe('device-42.example.com');
    expect((await exchangeOverUnixSocket(echoSock, Buffer.from('ping over a socket'))).toString()).toBe('ping over a socket');

    const fwd = session.status().forwards.find((f) => f.id === 'web')!;
    expect(fwd).toMatchObject({ state: 'up', remoteSocket: webSock, bind: '', port: 0, remotePort: null });
    expect(fwd.channels.total).toBeGreaterThanOrEqual(1);

    // removed: the SSH host stops listening on the socket (sshd leaves the file behind)
    await session.setForwards([{ id: 'echo', remoteSocket: echoSock, target: `tcp://127.0.0.1:${echo.port}` }]);
    await expect(httpGetOverUnixSocket(webSock, '/hello')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect((await exchangeOverUnixSocket(echoSock, Buffer.from('still here'))).toString()).toBe('still here');
  });

  it('sshd killed (-9) and restarted: the stale socket is replaced and the forward serves again', async () => {
    const { sshd, web } = await fixture();
    const sock = path.join(sshd.dir, 'device-42.sock');
    const { session } = await startSession(sshd, [{ id: 'web', remoteSocket: sock, target: `http://127.0.0.1:${web.port}` }]);
    cleanups.push(() => session.close(200));
    expect((await httpGetOverUnixSocket(sock, '/hello')).status).toBe(200);

    await sshd.kill();
    await waitUntil(() => session.status().forwards[0]!.state === 'pending', 15_000, 'session to notice the loss');
    expect(existsSync(sock)).toBe(true); // SIGKILL left the socket file behind
    await expect(httpGetOverUnixSocket(sock, '/hello')).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    await sshd.restart();
    await waitUntil(() => session.status().forwards[0]!.state === 'up', 30_000, 'forward to come back');
    const page = await httpGetOverUnixSocket(sock, '/hello');
    expect(page.status).toBe(200);
    expect(page.body).toBe('hello world \n');
  });

  it('without StreamLocalBindUnlink a stale socket makes the SSH host refuse, and the forward says why', async () => {
    const { sshd, web } = await fixture([]);
    const sock = path.join(sshd.dir, 'stale.sock');
    const first = await startSession(sshd, [{ id: 'web', remoteSocket: sock, target: `http://127.0.0.1:${web.port}` }]);
    await sshd.kill();
    first.session.destroy();
    await sshd.restart();
    const session = new TunnelSession(sessionConfigFor(sshd, { forwards: [{ id: 'web', remoteSocket: sock, target: `http://127.0.0.1:${web.port}` }] }));
    cleanups.push(() => session.close(200));
    session.start();
    await expect(session.waitForForward('web')).rejects.toMatchObject({ code: 'EDGE_ERR_FORWARD_REFUSED' });
    expect(session.status().forwards[0]!.lastError?.message).toContain(sock);
    expect(session.status().forwards[0]!.lastError?.message).toContain('StreamLocalBindUnlink');
  });

  it('refuses bad remoteSocket settings before connecting', () => {
    const base = { host: '127.0.0.1', auth: { username: 'u', password: 'x' }, hostKeys: { insecureAcceptAny: true } };
    const make = (fwd: Record<string, unknown>) => () => new TunnelSession({ ...base, forwards: [{ id: 'f', target: 'tcp://127.0.0.1:1', ...fwd } as never] });
    expect(make({ remoteSocket: 'relative.sock' })).toThrow(/remoteSocket.*absolute/);
    expect(make({ remoteSocket: '/run/a.sock', port: 8080 })).toThrow(/either remoteSocket or port/);
    expect(make({ remoteSocket: '/run/a.sock', allowOrigins: ['10.0.0.0/8'] })).toThrow(/allowOrigins/);
    expect(make({ remoteSocket: `/${'x'.repeat(120)}` })).toThrow(/107 bytes/);
  });

  it('edge-agent tunnel -R /remote/socket:host:hostport and -R /remote/socket:URL (OpenSSH spelling)', async () => {
    const { sshd, echo, web } = await fixture();
    const tcpSock = path.join(sshd.dir, 'cli-echo.sock');
    const webSock = path.join(sshd.dir, 'cli-web.sock');
    const cli = runCli(['tunnel', '-p', String(sshd.port), '-i', sshd.userKeyPath, '--known-hosts', sshd.knownHostsPath,
      '-R', `${tcpSock}:127.0.0.1:${echo.port}`, '-R', `${webSock}:http://127.0.0.1:${web.port}`, `${sshd.username}@127.0.0.1`]);
    try {
      await cli.waitForLine(new RegExp(`^forward R1 up: ${tcpSock.replace(/[.]/g, '\\.')} on 127\\.0\\.0\\.1 -> tcp://127\\.0\\.0\\.1:${echo.port}$`));
      await cli.waitForLine(/^forward R2 up: .*cli-web\.sock on 127\.0\.0\.1 -> http:\/\/127\.0\.0\.1:\d+$/);
      expect((await exchangeOverUnixSocket(tcpSock, Buffer.from('via cli socket'))).toString()).toBe('via cli socket');
      expect((await httpGetOverUnixSocket(webSock, '/hello')).body).toBe('hello world \n');
      cli.child.kill('SIGTERM');
      expect((await cli.exit).code).toBe(0);
    } finally {
      cli.child.kill('SIGKILL');
    }
  });
});
