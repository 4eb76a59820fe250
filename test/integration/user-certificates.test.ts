// Logging in with an OpenSSH user certificate to a stock sshd (TrustedUserCAKeys,
// AuthorizedPrincipalsFile), with CAs and certificates made in the test by ssh-keygen -s:
// forwards carry bytes with ed25519 and RSA certificates; expired, not-yet-valid, wrong-principal
// and wrong-CA certificates are each refused with a coded error; a certificate renewed on disk
// is used at the next reconnect.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, renameSync } from 'node:fs';
import net from 'node:net';
import { TunnelSession } from '../../src/session/tunnel-session.js';
import type { SessionConfigInput } from '../../src/session/session-config.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { SshCaWorkspace, type KeyPair } from '../helpers/ssh-ca.js';
import { startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { sessionConfigFor, waitUntil } from '../helpers/tunnel-fixtures.js';

const ws = new SshCaWorkspace();
let sshd: SshdHandle;
let echo: TcpService;
let ca: KeyPair;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  ca = ws.key('fleet-ca');
  [sshd, echo] = await Promise.all([startSshd({ trustedUserCaKeys: [ca.publicLine] }), startEchoServer()]);
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await Promise.all([sshd?.dispose(), echo?.close()]);
  ws.dispose();
});

function certSession(key: KeyPair, certificateFile: string, overrides: Partial<SessionConfigInput> = {}): TunnelSession {
  return new TunnelSession(sessionConfigFor(sshd, {
    auth: { username: sshd.username, privateKeys: [{ key: readFileSync(key.path), source: key.path, certificateFile }] },
    ...overrides,
  }));
}

async function outcome(session: TunnelSession): Promise<{ code: string; message: string }> {
  session.start();
  try {
    await session.waitUntilConnected();
    return { code: 'connected', message: '' };
  } catch (err) {
    const e = err as { code?: string; message: string };
    return { code: e.code ?? 'unknown', message: e.message };
  } finally {
    await session.close(100);
  }
}

async function echoThrough(port: number, text: string): Promise<string> {
  const sock = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  sock.end(text);
  await new Promise((resolve, reject) => { sock.on('close', resolve); sock.on('error', reject); });
  return Buffer.concat(chunks).toString();
}

const connectionsSeen = () => (sshd.logs().match(/Connection from 127\.0\.0\.1/g) ?? []).length;

describe('user certificates against a stock sshd (TrustedUserCAKeys)', () => {
  for (const kind of ['ed25519', 'rsa'] as const) {
    it(`${kind}: a forward carries bytes with a user certificate; status names the certificate, never key material`, async () => {
      const key = ws.key(`device-${kind}`, kind);
      const cert = ws.sign(ca, key, { identity: `device-${kind}-0001`, principals: [sshd.username], serial: 17 });
      const session = certSession(key, cert, { forwards: [{ id: 'web', port: 0, bind: '127.0.0.1', target: `tcp://127.0.0.1:${echo.port}` }], reconnect: { mode: 'never' } });
      cleanups.push(() => session.close(100));
      session.start();
      await session.waitUntilConnected();
      const port = await session.waitForForward('web');
      expect(await echoThrough(port, `hello over ${kind} cert`)).toBe(`hello over ${kind} cert`);
      const status = session.status();
      expect(status.auth).toMatchObject({
        method: 'publickey',
        certificate: { keyId: `device-${kind}-0001`, serial: '17', principals: [sshd.username] },
      });
      expect(status.auth!.keyFingerprint).toMatch(/^SHA256:/);
      expect(new Date(status.auth!.certificate!.validBefore!).getTime()).toBeGreaterThan(Date.now());
      const json = JSON.stringify(status);
      expect(json).not.toContain(key.publicLine.split(' ')[1]!.slice(20, 60));
      // sshd saw a certificate login, with the algorithm we chose for RSA (rsa-sha2-512).
      expect(sshd.logs()).toMatch(new RegExp(`Accepted publickey for \\S+ .*${kind === 'rsa' ? 'RSA-CERT' : 'ED25519-CERT'}.*ID device-${kind}-0001 \\(serial 17\\)`));
      await session.close(100);
    });
  }

  it('ecdsa certificate logs in', async () => {
    const key = ws.key('device-ecdsa', 'ecdsa');
    const cert = ws.sign(ca, key, { identity: 'device-ecdsa', principals: [sshd.username] });
    expect((await outcome(certSession(key, cert, { reconnect: { mode: 'never' } }))).code).toBe('connected');
  });

  it('expired and not-yet-valid certificates: EDGE_ERR_CERT_EXPIRED with the window, before connecting', async () => {
    const key = ws.key('device-window');
    const before = connectionsSeen();
    const expired = ws.sign(ca, key, { identity: 'old', principals: [sshd.username], validity: '20200101000000:20200102000000', certPath: `${ws.dir}/expired-cert.pub` });
    const e1 = await outcome(certSession(key, expired, { reconnect: { mode: 'never' } }));
    expect(e1.code).toBe('EDGE_ERR_CERT_EXPIRED');
    expect(e1.message).toContain('expired');
    expect(e1.message).toContain('valid-after 2020-01-01T00:00:00.000Z, valid-before 2020-01-02T00:00:00.000Z');

    const future = ws.sign(ca, key, { identity: 'future', principals: [sshd.username], validity: '+1h:+2h', certPath: `${ws.dir}/future-cert.pub` });
    const e2 = await outcome(certSession(key, future, { reconnect: { mode: 'never' } }));
    expect(e2.code).toBe('EDGE_ERR_CERT_EXPIRED');
    expect(e2.message).toMatch(/not yet valid: valid-after \S+, valid-before \S+/);
    expect(connectionsSeen()).toBe(before);
  });

  it('wrong principal and wrong CA: EDGE_ERR_AUTH_FAILED naming the certificate', async () => {
    const key = ws.key('device-wrong');
    const wrongPrincipal = ws.sign(ca, key, { identity: 'wrong-principal', principals: ['someone-else'], certPath: `${ws.dir}/wp-cert.pub` });
    const e1 = await outcome(certSession(key, wrongPrincipal, { reconnect: { mode: 'never' } }));
    expect(e1.code).toBe('EDGE_ERR_AUTH_FAILED');
    expect(e1.message).toContain(`certificate ${ws.dir}/wp-cert.pub ("wrong-principal", serial 1, principals someone-else)`);

    const otherCa = ws.key('other-ca');
    const wrongCa = ws.sign(otherCa, key, { identity: 'wrong-ca', principals: [sshd.username], certPath: `${ws.dir}/wca-cert.pub` });
    const e2 = await outcome(certSession(key, wrongCa, { reconnect: { mode: 'never' } }));
    expect(e2.code).toBe('EDGE_ERR_AUTH_FAILED');
    expect(e2.message).toContain('"wrong-ca"');
    expect(e2.message).toContain('TrustedUserCAKeys');
  });

  it('a certificate for another key is a configuration error at once (EDGE_ERR_CERT_INVALID)', () => {
    const mine = ws.key('device-mine');
    const other = ws.sign(ca, ws.key('device-other'), { identity: 'other', principals: [sshd.username] });
    expect(() => certSession(mine, other)).toThrow(expect.objectContaining({ code: 'EDGE_ERR_CERT_INVALID' }));
    expect(() => certSession(mine, `${ws.dir}/missing-cert.pub`)).toThrow(expect.objectContaining({ code: 'EDGE_ERR_CERT_INVALID' }));
  });

  it('renewal: a certificate replaced on disk while the session runs is used at the next reconnect', async () => {
    const key = ws.key('device-renew');
    const certFile = ws.sign(ca, key, { identity: 'renew', principals: [sshd.username], serial: 100 });
    const session = certSession(key, certFile);
    cleanups.push(() => session.close(100));
    session.start();
    await session.waitUntilConnected();
    expect(session.status().auth?.certificate?.serial).toBe('100');
    // The renewal tool writes a new certificate next to it and renames it into place.
    const renewed = ws.sign(ca, key, { identity: 'renew', principals: [sshd.username], serial: 101, certPath: `${ws.dir}/renew-next-cert.pub` });
    renameSync(renewed, certFile);
    await sshd.restart(); // the link drops; the session reconnects
    await waitUntil(() => session.status().state === 'connected' && session.status().auth?.certificate?.serial === '101', 20_000, 'reconnect with serial 101');
    expect(sshd.logs()).toMatch(/ID renew \(serial 101\)/);
    await session.close(100);
  });

  it('AuthorizedPrincipalsFile: a certificate carrying a listed principal logs in; one carrying only the user name does not', async () => {
    const fleet = await startSshd({ trustedUserCaKeys: [ca.publicLine], authorizedPrincipals: ['fleet-devices'] });
    cleanups.push(() => fleet.dispose());
    const key = ws.key('device-principals');
    const good = ws.sign(ca, key, { identity: 'p-good', principals: ['fleet-devices'], certPath: `${ws.dir}/p-good-cert.pub` });
    const bad = ws.sign(ca, key, { identity: 'p-bad', principals: [fleet.username], certPath: `${ws.dir}/p-bad-cert.pub` });
    const make = (cert: string) => new TunnelSession(sessionConfigFor(fleet, {
      auth: { username: fleet.username, privateKeys: [{ key: readFileSync(key.path), source: key.path, certificateFile: cert }] }, reconnect: { mode: 'never' },
    }));
    expect((await outcome(make(good))).code).toBe('connected');
    expect((await outcome(make(bad))).code).toBe('EDGE_ERR_AUTH_FAILED');
  });
});

