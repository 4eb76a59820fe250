// Trusting the SSH host through its host certificate: a stock sshd with HostCertificate (signed
// in the test by ssh-keygen -s -h), and a known_hosts holding only an @cert-authority line (plain
// patterns, [host]:port, hashed names) or hostKeys.certificateAuthorities. Another CA, another
// host name and a revoked CA are refused with coded errors.
import { createHmac, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TunnelSession } from '../../src/session/tunnel-session.js';
import type { HostKeyPolicy } from '../../src/session/host-keys/host-key-verifier.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { SshCaWorkspace, type KeyPair } from '../helpers/ssh-ca.js';
import { sessionConfigFor } from '../helpers/tunnel-fixtures.js';

const ws = new SshCaWorkspace();
let ca: KeyPair;
let sshd: SshdHandle; // host certificate for 127.0.0.1
let otherName: SshdHandle; // host certificate for gw.example only
beforeAll(async () => {
  ca = ws.key('host-ca');
  [sshd, otherName] = await Promise.all([
    startSshd({ hostCertificate: { caKeyPath: ca.path, principals: ['127.0.0.1', 'gw.example'], identity: 'gw-1' } }),
    startSshd({ hostCertificate: { caKeyPath: ca.path, principals: ['gw.example'], identity: 'gw-2' } }),
  ]);
});
afterAll(async () => {
  await Promise.all([sshd?.dispose(), otherName?.dispose()]);
  ws.dispose();
});

let n = 0;
function knownHosts(lines: string[]): string {
  const file = path.join(ws.dir, `known_hosts_${n++}`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

async function attempt(target: SshdHandle, hostKeys: HostKeyPolicy): Promise<{ code: string; message: string; verifiedBy?: string }> {
  const session = new TunnelSession(sessionConfigFor(target, { hostKeys, reconnect: { mode: 'never' } }));
  let verifiedBy: string | undefined;
  session.on('connected', (info) => { verifiedBy = info.hostKeyVerifiedBy; });
  session.start();
  try {
    await session.waitUntilConnected();
    return { code: 'connected', message: '', verifiedBy };
  } catch (err) {
    const e = err as { code?: string; message: string };
    return { code: e.code ?? 'unknown', message: e.message };
  } finally {
    await session.close(100);
  }
}

function hashed(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

describe('host certificates against a stock sshd (HostCertificate)', () => {
  it('known_hosts with only an @cert-authority line accepts: [host]:port, wildcard and hashed names; or the CA in config', async () => {
    for (const hosts of [`[127.0.0.1]:${sshd.port}`, '*', hashed(`[127.0.0.1]:${sshd.port}`)]) {
      const r = await attempt(sshd, { knownHostsFile: knownHosts([`@cert-authority ${hosts} ${ca.publicLine}`]) });
      expect(r, hosts).toMatchObject({ code: 'connected', verifiedBy: 'cert-authority' });
    }
    expect(await attempt(sshd, { certificateAuthorities: [ca.publicLine] })).toMatchObject({ code: 'connected', verifiedBy: 'cert-authority' });
  });

  it('a certificate from another CA is refused (its key is unknown)', async () => {
    const other = ws.key('other-ca');
    const r = await attempt(sshd, { knownHostsFile: knownHosts([`@cert-authority * ${other.publicLine}`]) });
    expect(r.code).toBe('EDGE_ERR_HOST_KEY_UNKNOWN');
    expect(r.message).toContain('no @cert-authority line');
    expect(r.message).toContain('"gw-1"');
  });

  it('an @cert-authority line for another host pattern does not apply', async () => {
    const r = await attempt(sshd, { knownHostsFile: knownHosts([`@cert-authority *.example.com ${ca.publicLine}`]) });
    expect(r.code).toBe('EDGE_ERR_HOST_KEY_UNKNOWN');
  });

  it('a certificate whose principals do not include the dialled host name is refused', async () => {
    const r = await attempt(otherName, { knownHostsFile: knownHosts([`@cert-authority * ${ca.publicLine}`]) });
    expect(r.code).toBe('EDGE_ERR_HOST_CERT_INVALID');
    expect(r.message).toContain('do not include the host name we dialled, "127.0.0.1"');
  });

  it('a CA marked @revoked refuses', async () => {
    const r = await attempt(sshd, { knownHostsFile: knownHosts([`@cert-authority * ${ca.publicLine}`, `@revoked * ${ca.publicLine}`]) });
    expect(r.code).toBe('EDGE_ERR_HOST_KEY_REVOKED');
  });

  it('a host certificate signed by an RSA CA (rsa-sha2-512) is accepted', async () => {
    const rsaCa = ws.key('host-ca-rsa', 'rsa');
    const rsaSigned = await startSshd({ hostCertificate: { caKeyPath: rsaCa.path, principals: ['127.0.0.1'], identity: 'gw-rsa-ca' } });
    try {
      const r = await attempt(rsaSigned, { knownHostsFile: knownHosts([`@cert-authority * ${rsaCa.publicLine}`]) });
      expect(r).toMatchObject({ code: 'connected', verifiedBy: 'cert-authority' });
    } finally {
      await rsaSigned.dispose();
    }
  });

  it('an RSA host key\'s certificate (rsa-sha2-512-cert-v01) is accepted', async () => {
    const rsaHost = await startSshd({ hostKeyType: 'rsa', hostCertificate: { caKeyPath: ca.path, principals: ['127.0.0.1'], identity: 'gw-rsa-host' } });
    try {
      const r = await attempt(rsaHost, { knownHostsFile: knownHosts([`@cert-authority * ${ca.publicLine}`]) });
      expect(r).toMatchObject({ code: 'connected', verifiedBy: 'cert-authority' });
    } finally {
      await rsaHost.dispose();
    }
  });

  it('the plain host key line still works next to an untrusted certificate', async () => {
    expect((await attempt(sshd, { knownHostsFile: sshd.knownHostsPath })).code).toBe('connected');
  });
});
