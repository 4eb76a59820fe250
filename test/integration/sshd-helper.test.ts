import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, type ConnectConfig } from 'ssh2';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, startEchoServer, startSourceServer } from '../helpers/tcp-services.js';

function connectClient(sshd: SshdHandle, auth: Partial<ConnectConfig>): Promise<Client> {
  const expectedBlob = Buffer.from(sshd.hostPublicKeyLine.split(' ')[1]!, 'base64');
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.once('ready', () => resolve(c));
    c.once('error', reject);
    c.connect({
      host: sshd.host,
      port: sshd.port,
      username: sshd.username,
      readyTimeout: 10_000,
      hostVerifier: (key: Buffer) => key.equals(expectedBlob),
      ...auth,
    });
  });
}

function forwardIn(c: Client): Promise<number> {
  return new Promise((resolve, reject) => c.forwardIn('127.0.0.1', 0, (err, port) => (err ? reject(err) : resolve(port))));
}

describe('sshd test helper', () => {
  let sshd: SshdHandle;
  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(async () => {
    await sshd?.dispose();
  });

  it('authenticates, forwards, survives kill() + restart()', async () => {
    expect(sshd.hostKeyFingerprint).toMatch(/^SHA256:/);
    expect(readFileSync(sshd.knownHostsPath, 'utf8')).toContain(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKeyLine}`);

    const c = await connectClient(sshd, { privateKey: readFileSync(sshd.userKeyPath) });
    const remotePort = await forwardIn(c);
    expect(remotePort).toBeGreaterThan(0);

    // one connection through the remote forward to a local echo service
    const echo = await startEchoServer();
    c.on('tcp connection', (_info, accept) => {
      const ch = accept();
      const s = connect(echo.port, '127.0.0.1');
      ch.pipe(s).pipe(ch);
    });
    const r = await connectAndCollect(remotePort, Buffer.from('hello tunnel'));
    expect(r.data.toString()).toBe('hello tunnel');
    await echo.close();

    const closed = new Promise<void>((r) => c.once('close', () => r()));
    c.on('error', () => {});
    const port = sshd.port;
    await sshd.kill();
    await closed;
    expect(sshd.running).toBe(false);

    await sshd.restart();
    expect(sshd.port).toBe(port);
    const c2 = await connectClient(sshd, { privateKey: readFileSync(sshd.userKeyPath) });
    expect(await forwardIn(c2)).toBeGreaterThan(0);
    c2.end();
  });

  it('accepts the encrypted ed25519 key with its passphrase and the PEM rsa key', async () => {
    const c = await connectClient(sshd, { privateKey: readFileSync(sshd.encryptedUserKeyPath), passphrase: sshd.passphrase });
    c.end();
    const c2 = await connectClient(sshd, { privateKey: readFileSync(sshd.rsaUserKeyPath) });
    c2.end();
  });

  it('source server delivers the expected bytes', async () => {
    const src = await startSourceServer(3 * 1024 * 1024 + 17);
    const r = await connectAndCollect(src.port, undefined, { keepBytes: 0 });
    expect(r.bytes).toBe(src.bytes);
    expect(r.sha256).toBe(src.expectedSha256);
    await src.close();
  });
});
