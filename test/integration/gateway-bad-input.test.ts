// The built-in gateway facing clients that misbehave: garbage instead of an SSH banner,
// unknown keys, password guessing, connection floods, silent connections, unwanted channels.
// Whatever one connection does, the gateway keeps serving the others.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type ssh2 from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { randomKey, sshLogin, startTestGateway, type TestGateway } from '../helpers/gateway-fixtures.js';
import { connectAndCollect, startEchoServer } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function gatewayWithKey(options: Parameters<typeof startTestGateway>[0] = {}) {
  const gw = await startTestGateway(options);
  const key = gw.newKey('device');
  gw.writeAuthorizedKeys([key.publicLine]);
  cleanups.push(() => gw.close());
  return { gw, key };
}

async function login(gw: TestGateway, privateKey: Buffer, sock?: net.Socket): Promise<ssh2.Client> {
  const client = await sshLogin(gw.port, gw.fingerprint, { privateKey, ...(sock ? { sock } : {}) });
  client.on('error', () => {});
  cleanups.push(() => { client.end(); });
  return client;
}

function forwardIn(client: ssh2.Client, bind: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => client.forwardIn(bind, port, (err, p) => (err ? reject(err) : resolve(p))));
}

interface RawConnection {
  sock: net.Socket;
  /** Everything the gateway sent, as latin1 text. */
  received(): string;
  /** 'end' = clean FIN, 'error: CODE', or null while open. */
  closedBy(): string | null;
  closed: Promise<string>;
}

/** A plain TCP connection to the gateway that records what comes back and how it ends. */
function raw(port: number, opts: { read?: boolean } = {}): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let text = '';
    let how: string | null = null;
    let markClosed!: (how: string) => void;
    const closed = new Promise<string>((r) => { markClosed = r; });
    const close = (why: string) => {
      if (how === null) how = why;
      markClosed(how);
    };
    if (opts.read !== false) {
      sock.on('data', (d: Buffer) => { text += d.toString('latin1'); });
      sock.on('end', () => close('end'));
    }
    sock.on('error', (e: NodeJS.ErrnoException) => close(`error: ${e.code ?? e.message}`));
    sock.on('close', () => close(how ?? 'close'));
    sock.once('connect', () => resolve({ sock, received: () => text, closedBy: () => how, closed }));
    sock.once('error', reject);
  });
}

describe('garbage and strangers', () => {
  it('random bytes instead of an SSH banner: that connection is closed, the gateway still serves', async () => {
    const { gw, key } = await gatewayWithKey();
    const junk = await raw(gw.port);
    cleanups.push(() => { junk.sock.destroy(); });
    // No "SSH-" line, no line end for a long stretch: not an SSH client.
    junk.sock.write(randomBytes(16 * 1024).map((b) => (b === 10 || b === 13 ? 0x41 : b)));
    const how = await Promise.race([junk.closed, new Promise<string>((r) => setTimeout(() => r('still open'), 5_000))]);
    expect(how).not.toBe('still open');
    await waitUntil(() => gw.gateway.status().connections.length === 0, 5_000, 'junk connection to be gone');

    const client = await login(gw, key.privateKey);
    expect(await forwardIn(client, '127.0.0.1', 0)).toBeGreaterThan(1024);
  });

  it('a garbage line after a valid banner is a protocol error; the gateway still serves', async () => {
    const { gw, key } = await gatewayWithKey();
    const c = await raw(gw.port);
    cleanups.push(() => { c.sock.destroy(); });
    c.sock.write('SSH-2.0-junk\r\n');
    c.sock.write(Buffer.concat([Buffer.from([0, 0, 0, 12, 4]), randomBytes(4096)]));
    expect(await Promise.race([c.closed, new Promise<string>((r) => setTimeout(() => r('still open'), 5_000))])).not.toBe('still open');
    await login(gw, key.privateKey);
  });

  it('an unknown key is refused and logged with its fingerprint', async () => {
    const { gw } = await gatewayWithKey();
    await expect(sshLogin(gw.port, gw.fingerprint, { privateKey: randomKey() })).rejects.toThrow(/authentication methods failed/);
    expect(gw.logged(/authentication failed for user "tester" from 127\.0\.0\.1:\d+ .*key ssh-ed25519 SHA256:\S+ is not in authorized_keys/)).not.toHaveLength(0);
  });

  it('passwords: off unless configured; a wrong one is refused; the right one works and is never logged', async () => {
    const secret = 'hunter2-but-longer';
    const { gw } = await gatewayWithKey({ allowPassword: { alice: secret } });
    await expect(sshLogin(gw.port, gw.fingerprint, { username: 'alice', authHandler: [{ type: 'password', username: 'alice', password: 'nope' }] })).rejects.toThrow(/authentication methods failed/);
    await expect(sshLogin(gw.port, gw.fingerprint, { username: 'bob', authHandler: [{ type: 'password', username: 'bob', password: secret }] })).rejects.toThrow(/authentication methods failed/);
    const client = await sshLogin(gw.port, gw.fingerprint, { username: 'alice', authHandler: [{ type: 'password', username: 'alice', password: secret }] });
    cleanups.push(() => { client.end(); });
    expect(await forwardIn(client, 'localhost', 0)).toBeGreaterThan(1024);
    expect(JSON.stringify(gw.logs)).not.toContain(secret);
    expect(JSON.stringify(gw.logs)).not.toContain('nope');
  });

  it('an RSA key logs in with an rsa-sha2 signature from ssh2 as well', async () => {
    const { gw, key } = await gatewayWithKey();
    const rsa = gw.newKey('rsa', 'rsa');
    gw.writeAuthorizedKeys([key.publicLine, rsa.publicLine]);
    const client = await login(gw, rsa.privateKey);
    expect(await forwardIn(client, 'localhost', 0)).toBeGreaterThan(1024);
  });

  it('authorized_keys edits apply to the next login without a restart', async () => {
    const { gw, key } = await gatewayWithKey();
    const later = gw.newKey('later');
    await expect(sshLogin(gw.port, gw.fingerprint, { privateKey: later.privateKey })).rejects.toThrow(/authentication methods failed/);
    gw.writeAuthorizedKeys([key.publicLine, later.publicLine]);
    await login(gw, later.privateKey);
  });

  it('too many failed attempts: the connection is closed after maxAuthAttempts', async () => {
    const { gw } = await gatewayWithKey({ maxAuthAttempts: 3 });
    let offered = 0;
    const keys = Array.from({ length: 8 }, () => randomKey());
    const err = await sshLogin(gw.port, gw.fingerprint, {
      authHandler: (_methods, _partial, next) => {
        const k = keys[offered++];
        if (!k) return next(false as never);
        next({ type: 'publickey', username: 'tester', key: k } as never);
      },
    }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    // The client was cut off after the third failure, long before it ran out of keys.
    expect(offered).toBeLessThanOrEqual(4);
    expect(gw.logged(/closed: too many authentication failures \(3, maxAuthAttempts 3\)/)).toHaveLength(1);
    expect(gw.gateway.status().totals.authFailures).toBe(3);
    await waitUntil(() => gw.gateway.status().connections.length === 0, 5_000, 'connection closed');
  });
});

describe('connection limits', () => {
  it('closes a connection that does not log in within the login grace time', async () => {
    const { gw, key } = await gatewayWithKey({ loginGraceTimeoutMs: 300 });
    // Timed from before the connect: the grace timer starts at accept, and a start taken after
    // the connect resolved can lag it by a descheduled moment under load.
    const started = Date.now();
    const c = await raw(gw.port);
    cleanups.push(() => { c.sock.destroy(); });
    c.sock.write('SSH-2.0-slowpoke\r\n');
    await c.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(5_000); // the default grace is 20 s
    expect(gw.logged(/not authenticated within the login grace time \(300 ms\)/)).toHaveLength(1);
    // A logged-in session is not subject to it.
    const client = await login(gw, key.privateKey);
    await new Promise((r) => setTimeout(r, 500));
    expect(await forwardIn(client, '127.0.0.1', 0)).toBeGreaterThan(1024);
  });

  it('allowedClients is checked at accept, before any SSH byte', async () => {
    const { gw } = await gatewayWithKey({ allowedClients: ['10.0.0.0/8', '192.168.0.0/16'] });
    const c = await raw(gw.port);
    expect(await c.closed).toBeTruthy();
    expect(c.received()).toBe('');
    expect(gw.logged(/connection from 127\.0\.0\.1:\d+ refused: address not in allowedClients/)).toHaveLength(1);
  });

  async function flood(max: number, total: number) {
    // The pre-authentication limits (maxStartups, per source) are lifted: this is about maxConnections alone.
    const { gw, key } = await gatewayWithKey({ maxConnections: max, maxStartups: String(total * 10), perSourceMaxStartups: 0 });
    const echo = await startEchoServer();
    cleanups.push(() => echo.close());
    // One real agent-like session first: it must keep working through the flood.
    const client = await login(gw, key.privateKey);
    const fwdPort = await forwardIn(client, '127.0.0.1', 0);
    client.on('tcp connection', (_info, accept) => {
      const ch = accept();
      const sock = net.connect(echo.port, '127.0.0.1');
      ch.pipe(sock).pipe(ch);
    });

    // Fill the gateway up (unread, so the sockets can be handed to an SSH client later)...
    const first: RawConnection[] = [];
    for (let i = 0; i < max - 1; i += 100) {
      first.push(...await Promise.all(Array.from({ length: Math.min(100, max - 1 - i) }, () => raw(gw.port, { read: false }))));
    }
    cleanups.push(() => { for (const c of first) c.sock.destroy(); });
    await waitUntil(() => gw.gateway.status().connections.length === max, 10_000, `${max} connections accepted`);

    // ...then everything beyond maxConnections is closed right after accept, cleanly (FIN).
    const extra = await Promise.all(Array.from({ length: total - max }, () => raw(gw.port)));
    cleanups.push(() => { for (const c of extra) c.sock.destroy(); });
    const outcomes = await Promise.all(extra.map((c) => Promise.race([c.closed, new Promise<string>((r) => setTimeout(() => r('still open'), 10_000))])));
    expect(outcomes.filter((o) => o !== 'end')).toEqual([]);
    expect(extra.every((c) => c.received() === '')).toBe(true);
    expect(gw.gateway.status().connections.length).toBe(max);
    expect(gw.gateway.status().totals.refused).toBe(total - max);

    // The first ones still work: the established session carries traffic...
    expect((await connectAndCollect(fwdPort, Buffer.from('during the flood'))).data.toString()).toBe('during the flood');
    // ...and early raw connections can still complete a full SSH login.
    for (const c of [first[0]!, first[first.length - 1]!]) {
      const c2 = await login(gw, key.privateKey, c.sock);
      expect(await forwardIn(c2, '127.0.0.1', 0)).toBeGreaterThan(1024);
    }
    // Once they go away there is room again.
    for (const c of first) c.sock.destroy();
    await waitUntil(() => gw.gateway.status().connections.length <= 3, 10_000, 'connections to drain');
    await login(gw, key.privateKey);
  }

  it('maxConnections 50, 100 connections: the extra 50 are closed cleanly, the first ones keep working', async () => {
    await flood(50, 100);
  });

  it('maxConnections 1000, 2000 connections (the seed default and the issue numbers)', async () => {
    const started = Date.now();
    await flood(1000, 2000);
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);
});

describe('channels the client may not open', () => {
  it('exec / shell (session channels) are refused as administratively prohibited with a reason', async () => {
    const { gw, key } = await gatewayWithKey();
    const client = await login(gw, key.privateKey);
    const err = await new Promise<Error | undefined>((resolve) => client.exec('id', (e) => resolve(e)));
    expect(err?.message).toMatch(/administratively prohibited|only accepts port forwarding/i);
    expect((err as Error & { reason?: number }).reason).toBe(1);
    expect(gw.logged(/session channel refused: this gateway only accepts port forwarding/)).toHaveLength(1);
    // The connection itself is unharmed.
    expect(await forwardIn(client, '127.0.0.1', 0)).toBeGreaterThan(1024);
  });

  it('direct-tcpip is refused unless enabled; when enabled, permitopen limits it', async () => {
    const echo = await startEchoServer();
    cleanups.push(() => echo.close());
    const off = await gatewayWithKey();
    const client = await login(off.gw, off.key.privateKey);
    const refused = await new Promise<Error | undefined>((resolve) => client.forwardOut('127.0.0.1', 1, '127.0.0.1', echo.port, (e) => resolve(e)));
    expect(refused?.message).toMatch(/direct-tcpip .* is disabled on this gateway/);

    const on = await startTestGateway({ allowDirectTcpip: true });
    cleanups.push(() => on.close());
    const k = on.newKey('k');
    on.writeAuthorizedKeys([`permitopen="127.0.0.1:${echo.port}" ${k.publicLine}`]);
    const c2 = await login(on, k.privateKey);
    const channel = await new Promise<ssh2.ClientChannel>((resolve, reject) => c2.forwardOut('127.0.0.1', 1, '127.0.0.1', echo.port, (e, ch) => (e ? reject(e) : resolve(ch))));
    let got = '';
    channel.on('data', (d: Buffer) => { got += d; });
    channel.end('through direct-tcpip');
    await waitUntil(() => got === 'through direct-tcpip', 5_000, 'echo over direct-tcpip');
    channel.close();
    const notListed = await new Promise<Error | undefined>((resolve) => c2.forwardOut('127.0.0.1', 1, '127.0.0.1', echo.port + 1, (e) => resolve(e)));
    expect(notListed?.message).toMatch(/not in this key's permitopen/);
  });
});
