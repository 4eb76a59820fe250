// The built-in gateway with --host-certificate (src/ssh2/server-host-certificate.ts on a live
// ssh2 Server): our agent and OpenSSH's ssh, each with a known_hosts holding only an
// @cert-authority line, accept it; a known_hosts trusting another CA refuses it.
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TunnelSession } from '../../src/session/tunnel-session.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway-fixtures.js';
import { SshCaWorkspace, type KeyPair } from '../helpers/ssh-ca.js';
import { connectAndCollect, startEchoServer, type TcpService } from '../helpers/tcp-services.js';

const ws = new SshCaWorkspace();
let gw: TestGateway;
let echo: TcpService;
let ca: KeyPair;
let user: KeyPair;
let caKnownHosts: string;

beforeAll(async () => {
  ca = ws.key('host-ca');
  const hostKey = ws.key('gw_host_ed25519_key');
  const hostCert = ws.sign(ca, hostKey, { identity: 'gateway-1', principals: ['127.0.0.1', 'gw.example'], host: true, serial: 3 });
  user = ws.key('device');
  [gw, echo] = await Promise.all([startTestGateway({ hostKeyFile: hostKey.path, hostCertificateFile: hostCert }, [user.publicLine]), startEchoServer()]);
  caKnownHosts = path.join(ws.dir, 'known_hosts_ca');
  writeFileSync(caKnownHosts, `@cert-authority 127.0.0.1,[127.0.0.1]:* ${ca.publicLine}\n`);
});
afterAll(async () => {
  await Promise.all([gw?.close(), echo?.close()]);
  ws.dispose();
});

function agentSession(knownHostsFile: string): TunnelSession {
  return new TunnelSession({
    id: 'gw', host: '127.0.0.1', port: gw.port, auth: { username: 'device', privateKeys: [{ key: execFileSync('cat', [user.path]), source: user.path }] },
    hostKeys: { knownHostsFile }, reconnect: { mode: 'never' },
    forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }],
  });
}

describe('gateway --host-certificate', () => {
  it('our agent with only an @cert-authority known_hosts line connects and forwards', async () => {
    const session = agentSession(caKnownHosts);
    let verifiedBy = '';
    session.on('connected', (info) => { verifiedBy = info.hostKeyVerifiedBy; });
    session.start();
    try {
      await session.waitUntilConnected();
      expect(verifiedBy).toBe('cert-authority');
      const port = await session.waitForForward('echo');
      expect((await connectAndCollect(port, Buffer.from('via host cert'))).data.toString()).toBe('via host cert');
    } finally {
      await session.close(100);
    }
    expect(gw.logged(/presenting host certificate "gateway-1" serial 3/)).toHaveLength(1);
  });

  it('OpenSSH ssh accepts the host certificate through @cert-authority', async () => {
    const child = spawn('/usr/bin/ssh', [
      '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${caKnownHosts}`,
      '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-i', user.path, '-p', String(gw.port), '-v',
      '-N', '-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:0:127.0.0.1:${echo.port}`, 'device@127.0.0.1',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    try {
      for (let i = 0; !/Allocated port \d+/.test(err); i++) {
        if (i > 300 || child.exitCode !== null) throw new Error(`ssh did not get its forward:\n${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(err).toMatch(/Server host certificate: ssh-ed25519-cert-v01@openssh.com .*serial 3 ID "gateway-1"/);
      expect(err).toMatch(/Host '\[127\.0\.0\.1\]:\d+' is known and matches the ED25519-CERT host certificate/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a known_hosts trusting another CA refuses the gateway', async () => {
    const other = path.join(ws.dir, 'known_hosts_other');
    writeFileSync(other, `@cert-authority * ${ws.key('other-ca').publicLine}\n`);
    const session = agentSession(other);
    session.start();
    await expect(session.waitUntilConnected()).rejects.toMatchObject({ code: 'EDGE_ERR_HOST_KEY_UNKNOWN' });
    await session.close(100);
  });
});
