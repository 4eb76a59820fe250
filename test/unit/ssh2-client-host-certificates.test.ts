// The client host-certificate hook (src/ssh2/client-host-certificates.ts) on a live ssh2 Client
// against a stock sshd presenting a HostCertificate. Fails when ssh2 changes the key exchange
// code the hook wraps, or when upstream learns host certificates itself (then drop the hook).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ssh2 from 'ssh2';
import { parseCertificateBlob } from '../../src/certificates/openssh-certificate.js';
import * as hook from '../../src/ssh2/client-host-certificates.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { SshCaWorkspace } from '../helpers/ssh-ca.js';

const ws = new SshCaWorkspace();
let sshd: SshdHandle;
beforeAll(async () => {
  sshd = await startSshd({ hostCertificate: { caKeyPath: ws.key('ca').path, principals: ['127.0.0.1'], identity: 'hook-test' } });
});
afterAll(async () => {
  await sshd?.dispose();
  ws.dispose();
});

function handshake(install: boolean): Promise<{ hostKey?: Buffer; outcome: string }> {
  return new Promise((resolve) => {
    const client = new ssh2.Client();
    let hostKey: Buffer | undefined;
    const done = (outcome: string) => { client.end(); resolve({ hostKey, outcome }); };
    client.on('handshake', () => done('handshake'));
    client.on('error', (err) => done(err.message));
    client.connect({ host: '127.0.0.1', port: sshd.port, username: 'x', hostVerifier: (key: Buffer) => { hostKey = key; return true; } });
    if (install) hook.installClientHostCertificates(client);
  });
}

describe('ssh2 hook: client host certificates', () => {
  it('with the hook, the key exchange completes on the host certificate and the verifier gets the certificate blob', async () => {
    const r = await handshake(true);
    expect(r.outcome).toBe('handshake');
    expect(hook.lastSeenKexFinish).toBe(hook.KNOWN_KEX_FINISH);
    const cert = parseCertificateBlob(r.hostKey!);
    expect(cert).toMatchObject({ kind: 'host', keyId: 'hook-test', principals: ['127.0.0.1'] });
    expect(`${cert.keyType} ${cert.publicKey.blob.toString('base64')}`).toBe(sshd.hostPublicKeyLine);
  });

  it('without it, plain ssh2 gets the plain key and refuses to offer certificate algorithms', async () => {
    const r = await handshake(false);
    expect(r.outcome).toBe('handshake');
    expect(r.hostKey!.toString('base64')).toBe(sshd.hostPublicKeyLine.split(' ')[1]);
    const client = new ssh2.Client();
    client.on('error', () => {});
    expect(() => client.connect({ host: '127.0.0.1', port: 1, username: 'x', algorithms: { serverHostKey: ['ssh-ed25519-cert-v01@openssh.com' as never] } }))
      .toThrow(/Unsupported algorithm/);
  });
});
