// The certificate parser against certificates made by ssh-keygen -s: every field an operator
// sets on the command line comes back, the CA signature verifies (and a tampered one does not).
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import {
  checkValidity, criticalOption, describeValidity, hasExtension, parseCertificateLine, readCertificateFile, verifyCertificateSignature,
} from '../../src/certificates/openssh-certificate.js';
import { SshCaWorkspace, type KeyKind } from '../helpers/ssh-ca.js';

const ws = new SshCaWorkspace();
afterAll(() => ws.dispose());

describe('OpenSSH certificate parsing', () => {
  for (const [keyKind, caKind] of [['ed25519', 'ed25519'], ['ecdsa', 'rsa'], ['rsa', 'ecdsa']] as Array<[KeyKind, KeyKind]>) {
    it(`${keyKind} user certificate signed by a ${caKind} CA: fields and signature`, () => {
      const ca = ws.key(`ca-${caKind}`, caKind);
      const key = ws.key(`dev-${keyKind}`, keyKind);
      const certPath = ws.sign(ca, key, {
        identity: 'device-0042', principals: ['edge', 'device-0042'], serial: 4242, validity: '20250101000000:20350101000000',
        options: ['clear', 'permit-port-forwarding', 'source-address=127.0.0.1/32,10.0.0.0/8'],
      });
      const cert = readCertificateFile(certPath);
      expect(cert.kind).toBe('user');
      expect(cert.keyId).toBe('device-0042');
      expect(cert.serial).toBe(4242n);
      expect(cert.principals).toEqual(['edge', 'device-0042']);
      expect(cert.keyType).toBe(key.publicLine.split(' ')[0]);
      expect(cert.publicKey.blob.toString('base64')).toBe(key.publicLine.split(' ')[1]);
      expect(cert.caKeyBlob.toString('base64')).toBe(ca.publicLine.split(' ')[1]);
      // Same fingerprint ssh-keygen prints for the key and the CA.
      const listing = execFileSync('ssh-keygen', ['-L', '-f', certPath], { encoding: 'utf8' });
      expect(listing).toContain(cert.keyFingerprint);
      expect(listing).toContain(cert.caFingerprint);
      expect(criticalOption(cert, 'source-address')).toBe('127.0.0.1/32,10.0.0.0/8');
      expect(hasExtension(cert, 'permit-port-forwarding')).toBe(true);
      expect(hasExtension(cert, 'permit-pty')).toBe(false);
      expect(describeValidity(cert)).toBe('from 2025-01-01T00:00:00.000Z to 2035-01-01T00:00:00.000Z');
      expect(() => verifyCertificateSignature(cert)).not.toThrow();
    });
  }

  it('host certificate, validity window, unlimited validity', () => {
    const ca = ws.key('ca-ed25519');
    const host = ws.key('host-ed25519');
    const cert = readCertificateFile(ws.sign(ca, host, { identity: 'gw-1', principals: ['gw.example', '127.0.0.1'], host: true, validity: 'always:forever' }));
    expect(cert.kind).toBe('host');
    expect(cert.principals).toEqual(['gw.example', '127.0.0.1']);
    expect(describeValidity(cert)).toBe('forever');
    expect(checkValidity(cert, Date.now())).toBeNull();

    const later = readCertificateFile(ws.sign(ca, ws.key('dev-later'), { identity: 'later', principals: ['x'], validity: '20300101000000:20300102000000' }));
    expect(checkValidity(later, Date.UTC(2029, 11, 31))?.problem).toBe('not-yet-valid');
    expect(checkValidity(later, Date.UTC(2030, 0, 1, 12))).toBeNull();
    // valid-before is exclusive, as in sshd
    expect(checkValidity(later, Date.UTC(2030, 0, 2))?.problem).toBe('expired');
    expect(checkValidity(later, Date.UTC(2030, 0, 2))?.validBefore?.toISOString()).toBe('2030-01-02T00:00:00.000Z');
  });

  it('a certificate whose signed part was altered does not verify; garbage is refused with a reason', () => {
    const ca = ws.key('ca-ed25519');
    const line = ws.text(ws.sign(ca, ws.key('dev-tamper'), { identity: 'honest', principals: ['edge'] }));
    const [type, b64] = line.trim().split(/\s+/);
    const blob = Buffer.from(b64!, 'base64');
    const at = blob.indexOf(Buffer.from('honest'));
    blob.write('hacker', at);
    const forged = parseCertificateLine(`${type} ${blob.toString('base64')}`);
    expect(forged.keyId).toBe('hacker');
    expect(() => verifyCertificateSignature(forged)).toThrow(/does not verify/);
    expect(() => parseCertificateLine(`${type} ${blob.subarray(0, 80).toString('base64')}`)).toThrow(/truncated/);
    expect(() => parseCertificateLine(ws.key('plain').publicLine)).toThrow(/not an OpenSSH certificate/);
  });
});
