// User certificates at the built-in gateway (--trusted-user-ca-keys, --authorized-principals,
// --revoked-keys): a stock OpenSSH `ssh -N -R` with a certificate made by ssh-keygen -s gets its
// forward; a revoked serial, a certificate without permit-port-forwarding, one from outside its
// source-address or for another principal does not. Our own agent logs in with a certificate too.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TunnelSession } from '../../src/session/tunnel-session.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway-fixtures.js';
import { SshCaWorkspace, type KeyPair } from '../helpers/ssh-ca.js';
import { connectAndCollect, freePort, startEchoServer, type TcpService } from '../helpers/tcp-services.js';

const ws = new SshCaWorkspace();
let gw: TestGateway;
let echo: TcpService;
let ca: KeyPair;
let revokedFile: string;
const running = new Set<ChildProcess>();

beforeAll(async () => {
  ca = ws.key('user-ca');
  const caFile = path.join(ws.dir, 'trusted_user_ca_keys');
  writeFileSync(caFile, `${ca.publicLine}\n`);
  const principals = path.join(ws.dir, 'authorized_principals');
  writeFileSync(principals, 'device fleet-devices\n');
  revokedFile = path.join(ws.dir, 'revoked_keys');
  writeFileSync(revokedFile, '# revoked\n');
  [gw, echo] = await Promise.all([
    startTestGateway({ userCertificates: { trustedUserCaKeysFile: caFile, authorizedPrincipalsFile: principals, revokedKeysFile: revokedFile } }),
    startEchoServer(),
  ]);
});
afterEach(() => { for (const c of running) c.kill('SIGKILL'); });
afterAll(async () => {
  await Promise.all([gw?.close(), echo?.close()]);
  ws.dispose();
});

function ssh(key: KeyPair, args: string[]): { stderr(): string; exit: Promise<number | null>; child: ChildProcess } {
  const child = spawn('/usr/bin/ssh', [
    '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${gw.knownHostsPath}`,
    '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-o', 'ConnectTimeout=10', '-i', key.path, '-p', String(gw.port),
    '-N', '-o', 'ExitOnForwardFailure=yes', ...args, 'device@127.0.0.1',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  return { child, stderr: () => err, exit: new Promise((resolve) => child.on('exit', (code) => { running.delete(child); resolve(code); })) };
}

async function allocatedPort(run: ReturnType<typeof ssh>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const m = /Allocated port (\d+) for remote forward/.exec(run.stderr());
    if (m) return Number(m[1]);
    if (run.child.exitCode !== null) throw new Error(`ssh exited ${run.child.exitCode}: ${run.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no forward: ${run.stderr()}`);
}

describe('user certificates at the built-in gateway', () => {
  it('ssh -N -R with a user certificate gets its forward; status and logs name key id and serial', async () => {
    const key = ws.key('dev-ok');
    ws.sign(ca, key, { identity: 'device-0042', principals: ['fleet-devices'], serial: 42, options: ['clear', 'permit-port-forwarding', 'source-address=127.0.0.0/8'] });
    const run = ssh(key, ['-R', `127.0.0.1:0:127.0.0.1:${echo.port}`]);
    const port = await allocatedPort(run);
    expect((await connectAndCollect(port, Buffer.from('cert forward'))).data.toString()).toBe('cert forward');
    const conn = gw.gateway.status().connections.find((c) => c.forwards.some((f) => f.port === port));
    expect(conn?.certificate).toMatchObject({ kind: 'certificate', keyId: 'device-0042', serial: '42' });
    expect(gw.logged(/logged in .*certificate "device-0042" serial 42/)).toHaveLength(1);
    run.child.kill('SIGTERM');
    await run.exit;
  });

  it('refused: a revoked serial, a certificate for another principal, one from outside its source-address', async () => {
    const cases: Array<[string, Parameters<SshCaWorkspace['sign']>[2], RegExp]> = [
      ['dev-revoked', { identity: 'revoked', principals: ['fleet-devices'], serial: 666 }, /serial 666 is revoked/],
      ['dev-principal', { identity: 'stranger', principals: ['someone-else'], serial: 2 }, /include none accepted for user "device"/],
      ['dev-source', { identity: 'elsewhere', principals: ['fleet-devices'], serial: 3, options: ['source-address=10.0.0.0/8'] }, /source-address "10\.0\.0\.0\/8" does not admit 127\.0\.0\.1/],
    ];
    writeFileSync(revokedFile, 'serial: 666\n');
    for (const [name, sign, reason] of cases) {
      const key = ws.key(name);
      ws.sign(ca, key, sign);
      const run = ssh(key, ['-R', `127.0.0.1:0:127.0.0.1:${echo.port}`]);
      expect(await run.exit, name).toBe(255);
      expect(run.stderr()).toContain('Permission denied');
      expect(gw.logged(reason), name).not.toHaveLength(0);
    }
    // A revoked certificate line works too (it revokes that certificate's serial).
    const again = ws.key('dev-revoked-line');
    const cert = ws.sign(ca, again, { identity: 'revoked-line', principals: ['fleet-devices'], serial: 777 });
    writeFileSync(revokedFile, readFileSync(cert, 'utf8'));
    expect(await ssh(again, ['-R', `127.0.0.1:0:127.0.0.1:${echo.port}`]).exit).toBe(255);
    expect(gw.logged(/"revoked-line" serial 777 .*: its key is revoked/)).not.toHaveLength(0);
    writeFileSync(revokedFile, '');
  });

  it('a certificate without permit-port-forwarding logs in but gets no forward', async () => {
    const key = ws.key('dev-noforward');
    ws.sign(ca, key, { identity: 'no-forwarding', principals: ['fleet-devices'], serial: 9, options: ['clear'] });
    const run = ssh(key, ['-R', `127.0.0.1:0:127.0.0.1:${echo.port}`]);
    expect(await run.exit).not.toBe(0);
    expect(run.stderr()).toMatch(/remote port forwarding failed/);
    expect(gw.logged(/user "device" logged in .*certificate "no-forwarding" serial 9/)).toHaveLength(1);
  });

  it('a forwarded port belongs to the certificate\'s key id: the same device (renewed certificate) takes it over, another device is refused', async () => {
    const port = await freePort();
    const first = ws.key('dev-owner-1');
    ws.sign(ca, first, { identity: 'device-7', principals: ['fleet-devices'], serial: 70, options: ['clear', 'permit-port-forwarding'] });
    const a = ssh(first, ['-R', `127.0.0.1:${port}:127.0.0.1:${echo.port}`]);
    for (let i = 0; !gw.gateway.status().connections.some((c) => c.forwards.some((f) => f.port === port)); i++) {
      if (i > 200) throw new Error(`no forward: ${a.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const other = ws.key('dev-other-device');
    ws.sign(ca, other, { identity: 'device-8', principals: ['fleet-devices'], serial: 80, options: ['clear', 'permit-port-forwarding'] });
    const b = ssh(other, ['-R', `127.0.0.1:${port}:127.0.0.1:${echo.port}`]);
    expect(await b.exit).not.toBe(0);
    expect(gw.logged(/port in use by another client/)).not.toHaveLength(0);
    // The same device with a renewed certificate takes the port over once the old connection
    // stops answering (a frozen client: its TCP connection stays open, keepalives go unanswered).
    a.child.kill('SIGSTOP');
    const renewed = ws.key('dev-owner-2');
    ws.sign(ca, renewed, { identity: 'device-7', principals: ['fleet-devices'], serial: 71, options: ['clear', 'permit-port-forwarding'] });
    const c = ssh(renewed, ['-R', `127.0.0.1:${port}:127.0.0.1:${echo.port}`]);
    for (let i = 0; gw.logged(/takes 127\.0\.0\.1:\d+ over/).length === 0; i++) {
      if (i > 200) throw new Error(`no takeover: ${c.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    a.child.kill('SIGKILL');
    await a.exit;
    c.child.kill('SIGTERM');
    await c.exit;
  });

  it('our agent logs in to the gateway with a user certificate (ed25519 and ECDSA)', async () => {
    for (const kind of ['ed25519', 'ecdsa'] as const) {
      const key = ws.key(`agent-${kind}`, kind);
      const cert = ws.sign(ca, key, { identity: `agent-${kind}`, principals: ['fleet-devices'], serial: 50 });
      const session = new TunnelSession({
        id: 'gw', host: '127.0.0.1', port: gw.port, auth: { username: 'device', privateKeys: [{ key: readFileSync(key.path), source: key.path, certificateFile: cert }] },
        hostKeys: { knownHostsFile: gw.knownHostsPath }, reconnect: { mode: 'never' },
        forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }],
      });
      session.start();
      try {
        await session.waitUntilConnected();
        const port = await session.waitForForward('echo');
        expect((await connectAndCollect(port, Buffer.from(kind))).data.toString()).toBe(kind);
      } finally {
        await session.close(100);
      }
    }
  });
});
