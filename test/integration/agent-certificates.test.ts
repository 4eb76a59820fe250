// `edge-agent run` with `credentials.NAME.certificateFile` against a stock sshd that trusts the
// test's CA: the worker-thread session logs in with the certificate, /status names it (key id,
// serial, principals, valid-before, never key material), /metrics has
// edge_agent_certificate_expiry_seconds, a certificate about to expire is warned about, and a
// certificate renewed on disk is used at the next reconnect.
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { SshCaWorkspace, type KeyPair } from '../helpers/ssh-ca.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

const ws = new SshCaWorkspace();
let sshd: SshdHandle;
let ca: KeyPair;
beforeAll(async () => {
  ca = ws.key('ca');
  sshd = await startSshd({ trustedUserCaKeys: [ca.publicLine] });
});
afterAll(async () => {
  await sshd?.dispose();
  ws.dispose();
});

const get = async (url: string) => (await request(url)).body.text();

describe('edge-agent run with a user certificate', () => {
  it('logs in with it, shows it in /status and /metrics, warns before expiry, and uses a renewed file at the next reconnect', async () => {
    const key = ws.key('device');
    // 4 minutes left: inside the warning window (the last fifth of the lifetime, at least 5 minutes).
    const certFile = ws.sign(ca, key, { identity: 'device-0007', principals: [sshd.username], serial: 7, validity: '-1h:+4m' });
    const config = path.join(ws.dir, 'config.json');
    writeFileSync(config, JSON.stringify({
      agent: { id: 'cert-device', logFormat: 'text' },
      admin: { listen: '127.0.0.1:0' },
      credentials: { fleet: { privateKeyFile: key.path, certificateFile: certFile } },
      sessions: [{
        id: 'gw', host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'fleet',
        hostKeys: { knownHostsFile: sshd.knownHostsPath }, reconnect: { retryIntervalMs: 200, maxRetryIntervalMs: 500 },
        forwards: [{ id: 'web', bind: '127.0.0.1', port: 0, target: 'tcp://127.0.0.1:9' }],
      }],
    }));
    const cli = runCli(['run', '--config', config]);
    try {
      const admin = (await cli.waitForLine(/status at (http:\/\/\S+)\/status/))[1]!;
      type Auth = { method: string; keyFingerprint: string; certificate: { keyId: string; serial: string; principals: string[]; validBefore: string } };
      const auth = async () => (JSON.parse(await get(`${admin}/status`)) as { sessions: Array<{ state: string; auth?: Auth | null }> }).sessions[0]!;
      const first = await waitUntil(async () => { const s = await auth(); return s.state === 'connected' && s.auth ? s.auth : undefined; }, 20_000, 'connected');
      expect(first).toMatchObject({ method: 'publickey', certificate: { keyId: 'device-0007', serial: '7', principals: [sshd.username] } });
      expect(first.keyFingerprint).toMatch(/^SHA256:/);
      const status = await get(`${admin}/status`);
      expect(status).not.toContain(key.publicLine.split(' ')[1]!.slice(20, 60));
      const metric = /edge_agent_certificate_expiry_seconds\{session="gw",key_id="device-0007"\} (-?\d+)/.exec(await get(`${admin}/metrics`));
      expect(Number(metric?.[1])).toBeGreaterThan(180);
      expect(Number(metric?.[1])).toBeLessThanOrEqual(240);
      await waitUntil(() => /certificate .*"device-0007", serial 7\) expires at/.test(cli.stderr()), 10_000, 'expiry warning');

      const next = ws.sign(ca, key, { identity: 'device-0007', principals: [sshd.username], serial: 8, validity: '-5m:+1h', certPath: path.join(ws.dir, 'next-cert.pub') });
      renameSync(next, certFile);
      await sshd.restart();
      const renewed = await waitUntil(async () => { const s = await auth(); return s.state === 'connected' && s.auth?.certificate.serial === '8' ? s.auth : undefined; }, 20_000, 'serial 8');
      expect(Date.parse(renewed.certificate.validBefore) - Date.now()).toBeGreaterThan(50 * 60_000);
      expect(sshd.logs()).toContain('ID device-0007 (serial 8)');
    } finally {
      cli.child.kill('SIGTERM');
      await cli.exit;
    }
  });
});
