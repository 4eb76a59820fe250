// Certificates held by a real OpenSSH ssh-agent (`ssh-add KEY` also adds KEY-cert.pub) log in
// to a stock sshd that trusts the CA; the keys are in no authorized_keys, so only the
// certificates can. ssh2's own agent client drops them (checked, so we notice an upstream fix).
import path from 'node:path';
import ssh2, { type ParsedKey } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAwareAgent } from '../../src/ssh2/agent-with-certificates.js';
import { TunnelSession } from '../../src/session/tunnel-session.js';
import { startSshAgent, type SshAgentHandle } from '../helpers/ssh-agent.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { SshCaWorkspace, type KeyPair } from '../helpers/ssh-ca.js';
import { sessionConfigFor } from '../helpers/tunnel-fixtures.js';

const ws = new SshCaWorkspace();
let sshd: SshdHandle;
let ca: KeyPair;
let socket: string;
let agent: SshAgentHandle;

beforeAll(async () => {
  ca = ws.key('ca');
  sshd = await startSshd({ trustedUserCaKeys: [ca.publicLine] });
  socket = path.join(ws.dir, 'agent.sock');
  agent = await startSshAgent(socket);
});
afterAll(async () => {
  agent?.kill();
  await sshd?.dispose();
  ws.dispose();
});

const sshAdd = (file: string) => agent.add(file);

describe('certificates in a real ssh-agent', () => {
  for (const kind of ['ed25519', 'rsa'] as const) {
    it(`${kind}: the session logs in with the agent's certificate; status says agent + certificate`, async () => {
      const key = ws.key(`agent-${kind}`, kind);
      ws.sign(ca, key, { identity: `agent-${kind}`, principals: [sshd.username], serial: 5 });
      agent.add('-D');
      sshAdd(key.path); // adds the key and KEY-cert.pub
      const session = new TunnelSession(sessionConfigFor(sshd, { auth: { username: sshd.username, agent: socket }, reconnect: { mode: 'never' } }));
      session.start();
      try {
        await session.waitUntilConnected();
        expect(session.status().auth).toMatchObject({ method: 'agent', certificate: { keyId: `agent-${kind}`, serial: '5' } });
        expect(sshd.logs()).toMatch(new RegExp(`Accepted publickey .*ID agent-${kind} \\(serial 5\\)`));
      } finally {
        await session.close(100);
      }
    });
  }

  it('ssh2\'s own agent client drops the certificates; ours lists them', async () => {
    sshAdd(ws.key('agent-ed25519').path);
    sshAdd(ws.key('agent-rsa', 'rsa').path);
    const upstream = await new Promise<ParsedKey[]>((resolve, reject) => new ssh2.OpenSSHAgent(socket).getIdentities((err, keys) => (err ? reject(err) : resolve(keys ?? []))));
    const ours = await new Promise<ParsedKey[]>((resolve, reject) => new CertificateAwareAgent(socket).getIdentities((err, keys) => (err ? reject(err) : resolve(keys ?? []))));
    expect(upstream.some((k) => k.type.includes('-cert-'))).toBe(false);
    expect(ours.filter((k) => k.type.includes('-cert-')).map((k) => k.type).sort()).toEqual(['ssh-ed25519-cert-v01@openssh.com', 'ssh-rsa-cert-v01@openssh.com']);
    expect(ours.length).toBe(upstream.length + 2);
  });
});
