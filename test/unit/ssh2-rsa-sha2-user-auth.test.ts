// The no-SHA-1 user-auth hook (src/ssh2/rsa-sha2-user-auth.ts) on a live in-process ssh2 client
// and server. The client is made to ignore the server's EXT_INFO, as against a server without
// server-sig-algs: without the hook ssh2 signs with ssh-rsa (SHA-1); with it, rsa-sha2-256.
import net from 'node:net';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519 } from '../../src/gateway/host-key.js';
import { requireRsaSha2UserAuth } from '../../src/ssh2/rsa-sha2-user-auth.js';

describe('ssh2 hook: RSA user keys never sign with SHA-1', () => {
  let server: ssh2.Server;
  let port: number;
  let rsa: { private: string; public: string };
  const seen: string[] = [];

  beforeAll(async () => {
    const pair = ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 });
    rsa = { private: pair.private, public: pair.public };
    server = new ssh2.Server({ hostKeys: [generateEd25519().private] }, (conn) => {
      conn.on('error', () => {});
      conn.on('authentication', (ctx) => {
        if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
        // The signature's hash: undefined = ssh-rsa (SHA-1), sha256 = rsa-sha2-256.
        if (ctx.signature) seen.push(ctx.hashAlgo ?? 'sha1');
        ctx.accept();
      });
      conn.on('ready', () => conn.end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(async () => { await new Promise<void>((resolve) => server.close(() => resolve())); });

  async function login(hook: boolean): Promise<string> {
    seen.length = 0;
    const client = new ssh2.Client();
    client.on('error', () => {});
    const ready = new Promise<void>((resolve, reject) => client.once('ready', resolve).once('error', reject));
    client.connect({ host: '127.0.0.1', port, username: 'x', privateKey: rsa.private, hostVerifier: () => true });
    // As against a server that sends no server-sig-algs.
    (client as unknown as { _protocol: { _handlers: Record<string, unknown> } })._protocol._handlers.EXT_INFO = () => {};
    if (hook) expect(requireRsaSha2UserAuth(client)).toBe(true);
    await ready;
    client.end();
    return seen.join();
  }

  it('without the hook, ssh2 falls back to ssh-rsa (SHA-1): the reason the hook exists', async () => {
    expect(await login(false)).toBe('sha1');
  });

  it('with it, the signature is rsa-sha2-256', async () => {
    expect(await login(true)).toBe('sha256');
  });
});
