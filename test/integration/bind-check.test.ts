// A wildcard forward the SSH host did not really bind on every interface (OpenSSH with
// GatewayPorts no binds loopback and still answers success): the agent probes the port on the
// SSH host's address and says so in the forward's status. With GatewayPorts clientspecified the
// probe gets through, no warning, and the probe's own connection never reaches the target.
// The sshd also listens on 127.0.0.2 and the agent connects there (127.0.0.1/::1 are skipped:
// a loopback-only bind answers there too).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { sessionConfigFor, waitUntil } from '../helpers/tunnel-fixtures.js';
import { TunnelSession } from '../../src/session/tunnel-session.js';

describe('wildcard bind check', () => {
  let strict: SshdHandle;
  let open: SshdHandle;
  let echo: TcpService;
  const sessions: TunnelSession[] = [];
  const logs: string[] = [];

  beforeAll(async () => {
    [strict, open, echo] = await Promise.all([
      startSshd({ gatewayPorts: 'no', extraConfig: ['ListenAddress 127.0.0.2'] }),
      startSshd({ gatewayPorts: 'clientspecified', extraConfig: ['ListenAddress 127.0.0.2'] }),
      startEchoServer(),
    ]);
  });
  afterAll(async () => {
    await Promise.all(sessions.map((s) => s.close(500)));
    await Promise.all([strict?.dispose(), open?.dispose(), echo?.close()]);
  });

  async function start(sshd: SshdHandle, bind: string) {
    const session = new TunnelSession(sessionConfigFor(sshd, {
      id: `bind-${sessions.length}`, host: '127.0.0.2', hostKeys: { fingerprints: [sshd.hostKeyFingerprint] },
      forwards: [{ id: 'f', bind, port: 0, target: `tcp://127.0.0.1:${echo.port}` }],
    }));
    sessions.push(session);
    session.on('log', (_level, message) => logs.push(message));
    session.start();
    await session.waitUntilConnected();
    await session.waitForForward('f');
    return session;
  }

  it('GatewayPorts no: the forward is up, and its status says the wildcard bind was not honoured', async () => {
    const session = await start(strict, '');
    const f = await waitUntil(() => session.status().forwards.find((x) => x.bindWarning), 10_000, 'bindWarning');
    expect(f.state).toBe('up');
    expect(f.bindWarning).toMatch(new RegExp(`asked to listen on \\*:${f.remotePort} .*127\\.0\\.0\\.2:${f.remotePort} is not reachable.*GatewayPorts`));
  });

  it('GatewayPorts clientspecified: no warning, and the probe never reaches the target', async () => {
    const before = echo.connections;
    const session = await start(open, '0.0.0.0');
    await waitUntil(() => logs.some((l) => /bind check: reachable on 127\.0\.0\.2:/.test(l)), 10_000, 'the probe through');
    expect(session.status().forwards[0]!.bindWarning).toBeUndefined();
    expect(echo.connections).toBe(before);
  });

  it('a loopback bind is not probed', async () => {
    const session = await start(strict, 'localhost');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(session.status().forwards[0]!.bindWarning).toBeUndefined();
  });
});
