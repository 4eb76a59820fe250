// `edge-agent tunnel` with user certificates, as ssh takes them: `-i KEY` uses KEY-cert.pub when
// it exists, `--cert FILE` names one; an expired one ends a `--reconnect never` run with
// EDGE_ERR_CERT_EXPIRED. Against a stock sshd that trusts the test's CA (the keys are in no
// authorized_keys, so only the certificate can log in).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { runCli, runCliToExit } from '../helpers/cli.js';
import { SshCaWorkspace, type KeyPair } from '../helpers/ssh-ca.js';

const ws = new SshCaWorkspace();
let sshd: SshdHandle;
let echo: TcpService;
let ca: KeyPair;
beforeAll(async () => {
  ca = ws.key('ca');
  [sshd, echo] = await Promise.all([startSshd({ trustedUserCaKeys: [ca.publicLine] }), startEchoServer()]);
});
afterAll(async () => {
  await Promise.all([echo?.close(), sshd?.dispose()]);
  ws.dispose();
});

const args = (...auth: string[]) => ['tunnel', '-p', String(sshd.port), ...auth, '--known-hosts', sshd.knownHostsPath, '-R', `127.0.0.1:0:127.0.0.1:${echo.port}`, `${sshd.username}@127.0.0.1`];

async function forwardWorks(cliArgs: string[]): Promise<void> {
  const cli = runCli(cliArgs);
  try {
    const m = await cli.waitForLine(/^forward R1 up: 127\.0\.0\.1:(\d+) on/);
    expect((await connectAndCollect(Number(m[1]), Buffer.from('cert cli'))).data.toString()).toBe('cert cli');
  } finally {
    cli.child.kill('SIGTERM');
    await cli.exit;
  }
}

describe('edge-agent tunnel with certificates', () => {
  it('-i KEY picks up KEY-cert.pub', async () => {
    const key = ws.key('dev-sibling');
    ws.sign(ca, key, { identity: 'sibling', principals: [sshd.username] });
    await forwardWorks(args('-i', key.path));
    expect(sshd.logs()).toContain('ID sibling (serial 1)');
  });

  it('--cert FILE names the certificate', async () => {
    const key = ws.key('dev-explicit', 'rsa');
    const cert = ws.sign(ca, key, { identity: 'explicit', principals: [sshd.username], certPath: `${ws.dir}/elsewhere-cert.pub` });
    await forwardWorks(args('-i', key.path, '--cert', cert));
    expect(sshd.logs()).toContain('ID explicit (serial 1)');
  });

  it('an expired certificate: exit 1 with EDGE_ERR_CERT_EXPIRED and its window; a --cert for no key: exit 2', async () => {
    const key = ws.key('dev-expired');
    ws.sign(ca, key, { identity: 'expired', principals: [sshd.username], validity: '20200101000000:20200102000000' });
    const r = await runCliToExit([...args('-i', key.path), '--reconnect', 'never']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('EDGE_ERR_CERT_EXPIRED');
    expect(r.stderr).toContain('valid-before 2020-01-02T00:00:00.000Z');

    const stranger = ws.sign(ca, ws.key('dev-stranger'), { identity: 'stranger', principals: [sshd.username] });
    const r2 = await runCliToExit(args('-i', key.path, '-i', ws.key('dev-sibling').path, '--cert', stranger));
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('certifies none of the -i keys');
  });
});
