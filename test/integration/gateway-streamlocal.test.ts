// Unix socket forwards on the built-in gateway with a stock OpenSSH client
// (`ssh -N -R DIR/alice.sock:127.0.0.1:PORT`, streamlocal-forward@openssh.com): bytes and an
// HTTP page through the socket, names confined to the user, paths confined to --socket-dir,
// a held socket kept by its key, a stale socket file replaced, the file removed at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintOf, startTestGateway, type TestGateway, type UserKey } from '../helpers/gateway-fixtures.js';
import { startEchoServer, startFreezableProxy, type TcpService } from '../helpers/tcp-services.js';

const SSH = '/usr/bin/ssh';
const running = new Set<ChildProcess>();

interface SshRun { child: ChildProcess; stderr(): string; exit: Promise<number | null> }

function ssh(gw: TestGateway, key: UserKey, user: string, args: string[], port = gw.port): SshRun {
  const child = spawn(SSH, [
    '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${gw.knownHostsPath}`,
    '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-o', 'ConnectTimeout=10', '-o', 'ExitOnForwardFailure=yes',
    '-i', key.path, '-p', String(port), '-N', ...args, `${user}@127.0.0.1`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => { running.delete(child); resolve(code); }));
  return { child, stderr: () => err, exit };
}

/** Sends `payload` over the unix socket, half-closes, resolves with everything read back. */
function roundTrip(socketPath: string, payload: Buffer, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ path: socketPath, allowHalfOpen: true });
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('round trip timed out')); }, timeoutMs);
    sock.on('error', (err) => { clearTimeout(timer); reject(err); });
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('end', () => { clearTimeout(timer); sock.end(); resolve(Buffer.concat(chunks)); });
    sock.end(payload);
  });
}

/** Waits until the gateway holds `socketPath` (a fixed-name forward prints nothing on success). */
async function waitForSocket(gw: TestGateway, socketPath: string, run: SshRun): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!gw.gateway.status().sockets.some((s) => s.path === socketPath)) {
    if (run.child.exitCode !== null) throw new Error(`ssh exited (${run.child.exitCode}) before the forward came up:\n${run.stderr()}`);
    if (Date.now() > deadline) throw new Error(`the socket forward never came up:\n${run.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops ssh and waits until the gateway has let go of every socket. */
async function stop(gw: TestGateway, run: SshRun): Promise<void> {
  run.child.kill('SIGTERM');
  await run.exit;
  const deadline = Date.now() + 5_000;
  while (gw.gateway.status().sockets.length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(gw.gateway.status().sockets).toEqual([]);
}

let gw: TestGateway;
let base: string;
let dir: string;
let echo: TcpService;
let web: http.Server;
let webPort: number;
let alice: UserKey;
let other: UserKey;
/** A key line without principals=: a typed user name alone must not name a socket. */
let bare: UserKey;
let restricted: UserKey;
let listenOnly: UserKey;
let device42: UserKey;

beforeAll(async () => {
  if (!existsSync(SSH)) throw new Error(`this test needs OpenSSH's client at ${SSH} (apt-get install openssh-client)`);
  // The socket directory is reached through a symlink: the gateway must confine to its realpath.
  base = mkdtempSync(path.join(os.tmpdir(), 'edge-gw-sockets-'));
  mkdirSync(path.join(base, 'sockets'), { mode: 0o750 });
  symlinkSync(path.join(base, 'sockets'), path.join(base, 'run'));
  dir = realpathSync(path.join(base, 'sockets'));
  gw = await startTestGateway({ socketDir: path.join(base, 'run'), takeoverProbeTimeoutMs: 1_000, adminListen: { host: '127.0.0.1', port: 0 } });
  echo = await startEchoServer();
  web = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`page ${req.url} for ${req.headers.host}\n`);
  });
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  webPort = (web.address() as net.AddressInfo).port;
});

afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
});

afterAll(async () => {
  await new Promise((resolve) => web?.close(resolve));
  await echo?.close();
  await gw?.close();
  if (base) rmSync(base, { recursive: true, force: true });
});

describe('ssh -R DIR/NAME.sock:host:port against the built-in gateway with a socket directory', () => {
  beforeAll(() => {
    alice = gw.newKey('alice');
    other = gw.newKey('other');
    bare = gw.newKey('bare');
    restricted = gw.newKey('restricted');
    listenOnly = gw.newKey('listen-only');
    device42 = gw.newKey('device-42');
    gw.writeAuthorizedKeys([`principals="alice" ${alice.publicLine}`, `principals="alice" ${other.publicLine}`, `restrict,principals="restricted" ${restricted.publicLine}`, `permitlisten="127.0.0.1:9",principals="limited" ${listenOnly.publicLine}`, `principals="device-42" ${device42.publicLine}`, bare.publicLine]);
  });

  it('carries bytes and an HTTP page through alice.sock, mode 0660, listed in /status, removed at the end', async () => {
    const sockPath = path.join(dir, 'alice.sock');
    const webSock = path.join(dir, 'alice-web.sock');
    const run = ssh(gw, alice, 'alice', ['-R', `${sockPath}:127.0.0.1:${echo.port}`, '-R', `${webSock}:127.0.0.1:${webPort}`]);
    await waitForSocket(gw, sockPath, run);
    await waitForSocket(gw, webSock, run);

    expect((lstatSync(sockPath).mode & 0o777).toString(8)).toBe('660');
    expect((await roundTrip(sockPath, Buffer.from('through a unix socket'))).toString()).toBe('through a unix socket');
    const big = Buffer.alloc(2 * 1024 * 1024, 9);
    expect((await roundTrip(sockPath, big)).equals(big)).toBe(true);

    const page = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      http.get({ socketPath: webSock, path: '/hello', headers: { host: 'alice.example.com' } }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      }).on('error', reject);
    });
    expect(page).toEqual({ status: 200, body: 'page /hello for alice.example.com\n' });

    const status = await (await fetch(`http://127.0.0.1:${gw.adminPort}/status`)).json() as ReturnType<typeof gw.gateway.status>;
    expect(status.socketDir).toBe(dir);
    const held = status.sockets.find((s) => s.path === sockPath)!;
    expect(held).toMatchObject({ user: 'alice', holder: { kind: 'key', comment: 'alice@test' } });
    expect(status.ports).toEqual([]);
    const conn = status.connections.find((c) => c.id === held.connection)!;
    expect(conn.forwards.find((f) => f.socketPath === sockPath)).toMatchObject({ channelsTotal: 2, bytesIn: 21 + big.length, bytesOut: 21 + big.length });

    await stop(gw, run);
    expect(existsSync(sockPath)).toBe(false);
    expect(existsSync(webSock)).toBe(false);
  });

  it('a cut agent connection closes the clients on the socket and removes the file', async () => {
    const sockPath = path.join(dir, 'alice.sock');
    const run = ssh(gw, alice, 'alice', ['-R', `${sockPath}:127.0.0.1:${echo.port}`]);
    await waitForSocket(gw, sockPath, run);
    const client = net.connect(sockPath);
    const echoed = new Promise<void>((resolve) => client.once('data', () => resolve()));
    client.write('first');
    await echoed;
    const closed = new Promise<boolean>((resolve) => client.on('error', () => {}).once('close', (hadError) => resolve(hadError)));
    run.child.kill('SIGKILL'); // the agent's link dies with the channel open
    await closed;
    await stop(gw, run);
    const cut = /channel closed a unix socket client -> .*alice\.sock \(destroyed\), 5 bytes in, 5 bytes out/;
    const deadline = Date.now() + 5_000;
    while (gw.logged(cut).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(gw.logged(cut)).toHaveLength(1);
    expect(existsSync(sockPath)).toBe(false);
  });

  it('ssh2 (the agent\'s library) gets forwarded-streamlocal channels; it must not insist on an OpenSSH server (strictVendor: false)', async () => {
    const sockPath = path.join(dir, 'alice-lib.sock');
    const client = new ssh2.Client();
    client.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve).once('close', () => reject(new Error('closed before ready')));
      client.connect({
        host: '127.0.0.1', port: gw.port, username: 'alice', privateKey: alice.privateKey, strictVendor: false, readyTimeout: 10_000,
        hostVerifier: (key: Buffer) => fingerprintOf(key) === gw.fingerprint,
      });
    });
    try {
      client.on('unix connection', (info, accept) => {
        expect(info.socketPath).toBe(sockPath);
        const channel = accept();
        const target = net.connect(echo.port, '127.0.0.1');
        channel.pipe(target).pipe(channel);
      });
      await new Promise<void>((resolve, reject) => client.openssh_forwardInStreamLocal(sockPath, (err) => (err ? reject(err) : resolve())));
      expect((await roundTrip(sockPath, Buffer.from('via ssh2'))).toString()).toBe('via ssh2');
      await new Promise<void>((resolve, reject) => client.openssh_unforwardInStreamLocal(sockPath, (err) => (err ? reject(err) : resolve())));
      expect(existsSync(sockPath)).toBe(false);
      expect(gw.gateway.status().sockets).toEqual([]);
    } finally {
      client.end();
    }
  });

  it('principals="device-42": the key gets device-42.sock, and no socket under another user name', async () => {
    const sockPath = path.join(dir, 'device-42.sock');
    const ok = ssh(gw, device42, 'device-42', ['-R', `${sockPath}:127.0.0.1:${echo.port}`]);
    await waitForSocket(gw, sockPath, ok);
    expect((await roundTrip(sockPath, Buffer.from('device 42'))).toString()).toBe('device 42');
    await stop(gw, ok);
    const squat = ssh(gw, device42, 'alice', ['-R', `${path.join(dir, 'alice.sock')}:127.0.0.1:${echo.port}`]);
    expect(await squat.exit).not.toBe(0);
    expect(gw.logged(/alice\.sock" refused: user "alice" is not in this key's principals \(device-42\)/)).toHaveLength(1);
  });

  it('a key line without principals= gets no socket, whatever user name it logs in with', async () => {
    const squat = ssh(gw, bare, 'device-42', ['-R', `${path.join(dir, 'device-42.sock')}:127.0.0.1:${echo.port}`]);
    expect(await squat.exit).not.toBe(0);
    expect(gw.logged(/device-42\.sock" refused: this key has no principals="…" in authorized_keys/)).toHaveLength(1);
    expect(existsSync(path.join(dir, 'device-42.sock'))).toBe(false);
  });

  it('a name not after the user is refused', async () => {
    const run = ssh(gw, alice, 'alice', ['-R', `${path.join(dir, 'bob.sock')}:127.0.0.1:${echo.port}`]);
    expect(await run.exit).not.toBe(0);
    expect(run.stderr()).toMatch(/remote port forwarding failed/);
    expect(gw.logged(/socket forward ".*bob\.sock" refused: user "alice" may only use alice\.sock or alice-<suffix>\.sock \(not bob\.sock\)/)).toHaveLength(1);
    expect(existsSync(path.join(dir, 'bob.sock'))).toBe(false);
  });

  it.each([
    ['a relative ../ path', '../alice.sock'],
    ['a sub-directory', 'sub/alice.sock'],
    ['an absolute path elsewhere', '/tmp/alice.sock'],
    ['a path that climbs out through ..', 'x/../../elsewhere/alice.sock'],
  ])('%s is refused (%s)', async (_what, requested) => {
    const before = gw.logged(/sockets must be directly inside the gateway's socket directory/).length;
    const run = ssh(gw, alice, 'alice', ['-R', `${requested}:127.0.0.1:${echo.port}`]);
    expect(await run.exit).not.toBe(0);
    expect(gw.logged(/sockets must be directly inside the gateway's socket directory/)).toHaveLength(before + 1);
  });

  it('a second key asking for a held socket is refused while the first still serves', async () => {
    const sockPath = path.join(dir, 'alice.sock');
    const first = ssh(gw, alice, 'alice', ['-R', `${sockPath}:127.0.0.1:${echo.port}`]);
    await waitForSocket(gw, sockPath, first);
    const second = ssh(gw, other, 'alice', ['-R', `${sockPath}:127.0.0.1:${webPort}`]);
    expect(await second.exit).not.toBe(0);
    expect(gw.logged(/socket forward ".*alice\.sock" refused: socket in use by another client \(held by connection #\d+, key SHA256:\S+ \("alice@test"\); this connection: key SHA256:\S+ \("other@test"\)\)/)).toHaveLength(1);
    // The same key again: the holder answers the keepalive probe and keeps it.
    const again = ssh(gw, alice, 'alice', ['-R', `${sockPath}:127.0.0.1:${webPort}`]);
    expect(await again.exit).not.toBe(0);
    expect(gw.logged(/socket forward ".*alice\.sock" refused: socket in use by another client: connection #\d+ of the same key .* answered a keepalive probe/)).toHaveLength(1);
    expect((await roundTrip(sockPath, Buffer.from('still mine'))).toString()).toBe('still mine');
    await stop(gw, first);
  });

  it('the same key takes the socket over once its old connection fails the keepalive probe', async () => {
    const sockPath = path.join(dir, 'alice.sock');
    const proxy = await startFreezableProxy(gw.port);
    appendFileSync(gw.knownHostsPath, `[127.0.0.1]:${proxy.port} ${gw.hostPublicKey}\n`);
    const takeovers: unknown[] = [];
    const onTakeover = (t: unknown) => takeovers.push(t);
    gw.gateway.on('takeover', onTakeover);
    try {
      const old = ssh(gw, alice, 'alice', ['-R', `${sockPath}:127.0.0.1:${echo.port}`], proxy.port);
      await waitForSocket(gw, sockPath, old);
      const oldConn = gw.gateway.status().sockets[0]!.connection;
      proxy.freeze(); // the old link goes silent: a device whose network died
      const fresh = ssh(gw, alice, 'alice', ['-R', `${sockPath}:127.0.0.1:${echo.port}`]);
      const deadline = Date.now() + 10_000;
      while (!gw.gateway.status().sockets.some((s) => s.path === sockPath && s.connection !== oldConn) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(takeovers).toEqual([expect.objectContaining({ user: 'alice', socketPath: sockPath, from: oldConn })]);
      // The old, dead connection is ended by the takeover (after a short grace to say goodbye).
      while (gw.gateway.status().connections.some((c) => c.id === oldConn) && Date.now() < deadline + 5_000) await new Promise((r) => setTimeout(r, 50));
      expect(gw.gateway.status().connections.map((c) => c.id)).not.toContain(oldConn);
      expect((await roundTrip(sockPath, Buffer.from('taken over'))).toString()).toBe('taken over');
      old.child.kill('SIGKILL');
      await stop(gw, fresh);
    } finally {
      gw.gateway.off('takeover', onTakeover);
      await proxy.close();
    }
  });

  it('a stale socket file at the path is replaced; a live socket or a file that is not a socket is left alone', async () => {
    const sockPath = path.join(dir, 'alice.sock');
    // A socket file nobody listens on any more (a crashed gateway leaves these behind).
    const tmp = path.join(dir, 'tmp.sock');
    const stale = net.createServer().listen(tmp);
    await new Promise((r) => stale.once('listening', r));
    renameSync(tmp, sockPath);
    stale.close();
    expect(lstatSync(sockPath).isSocket()).toBe(true);
    await expect(roundTrip(sockPath, Buffer.from('x'))).rejects.toThrow(/ECONNREFUSED/);

    const run = ssh(gw, alice, 'alice', ['-R', `${sockPath}:127.0.0.1:${echo.port}`]);
    await waitForSocket(gw, sockPath, run);
    expect((await roundTrip(sockPath, Buffer.from('fresh'))).toString()).toBe('fresh');
    expect(gw.logged(/removed the stale socket .*alice\.sock before listening on it/)).toHaveLength(1);
    await stop(gw, run);

    // A socket another process still listens on is not stale: refused, left alone.
    const livePath = path.join(dir, 'alice-live.sock');
    const live = net.createServer((c) => c.on('error', () => {}).end('other process\n')).listen(livePath);
    await new Promise((r) => live.once('listening', r));
    try {
      const taken = ssh(gw, alice, 'alice', ['-R', `${livePath}:127.0.0.1:${echo.port}`]);
      expect(await taken.exit).not.toBe(0);
      expect(gw.logged(/alice-live\.sock" refused: cannot listen on .*: another process listens on that socket/)).toHaveLength(1);
      expect((await roundTrip(livePath, Buffer.alloc(0))).toString()).toBe('other process\n');
    } finally {
      await new Promise((r) => live.close(r));
    }

    const file = path.join(dir, 'alice-data.sock');
    writeFileSync(file, 'not a socket');
    const refused = ssh(gw, alice, 'alice', ['-R', `${file}:127.0.0.1:${echo.port}`]);
    expect(await refused.exit).not.toBe(0);
    expect(gw.logged(/alice-data\.sock" refused: cannot listen on .*: a file that is not a socket is in the way/)).toHaveLength(1);
    expect(lstatSync(file).isFile()).toBe(true);
    rmSync(file);
  });

  it('restrict refuses socket forwards; permitlisten (ports only) does not limit them, as in sshd', async () => {
    const run = ssh(gw, restricted, 'restricted', ['-R', `${path.join(dir, 'restricted.sock')}:127.0.0.1:${echo.port}`]);
    expect(await run.exit).not.toBe(0);
    expect(gw.logged(/restricted\.sock" refused: port forwarding is disabled for this key \(restrict in authorized_keys\)/)).toHaveLength(1);

    const sockPath = path.join(dir, 'limited.sock');
    const ok = ssh(gw, listenOnly, 'limited', ['-R', `${sockPath}:127.0.0.1:${echo.port}`]);
    await waitForSocket(gw, sockPath, ok);
    expect((await roundTrip(sockPath, Buffer.from('permitlisten is for ports'))).toString()).toBe('permitlisten is for ports');
    await stop(gw, ok);
  });
});
