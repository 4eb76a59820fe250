// A stock OpenSSH client (`ssh -N -R …`) against the built-in gateway: the gateway must look
// like an sshd to it — host key pinned via known_hosts, port 0 allocation reported back,
// permitlisten and from= enforced, session channels refused with a reason.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway, type UserKey } from '../helpers/gateway-fixtures.js';
import { connectAndCollect, freePort, startEchoServer, type TcpService } from '../helpers/tcp-services.js';

const SSH = '/usr/bin/ssh';

interface SshRun {
  child: ChildProcess;
  stderr(): string;
  /** Resolves with the first stderr match; rejects if ssh exits first or on timeout. */
  waitForStderr(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exit: Promise<number | null>;
}

const running = new Set<ChildProcess>();

function ssh(gw: TestGateway, key: UserKey, args: string[], user = 'device'): SshRun {
  const child = spawn(SSH, [
    '-F', '/dev/null',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${gw.knownHostsPath}`,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'IdentityAgent=none',
    '-o', 'ConnectTimeout=10',
    '-i', key.path,
    '-p', String(gw.port),
    ...args,
    `${user}@127.0.0.1`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let err = '';
  const waiters = new Set<() => void>();
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; for (const w of waiters) w(); });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => { running.delete(child); for (const w of waiters) w(); resolve(code); }));
  return {
    child,
    stderr: () => err,
    exit,
    waitForStderr(re, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`timed out waiting for ${re} in ssh stderr:\n${err}`)); }, timeoutMs);
        const check = () => {
          const m = re.exec(err);
          if (m) { clearTimeout(timer); waiters.delete(check); resolve(m); return; }
          if (child.exitCode !== null) { clearTimeout(timer); waiters.delete(check); reject(new Error(`ssh exited (${child.exitCode}) before printing ${re}:\n${err}`)); }
        };
        waiters.add(check);
        check();
      });
    },
  };
}

let gw: TestGateway;
let echo: TcpService;
let plainKey: UserKey;
let limitedKey: UserKey;
let fromKey: UserKey;
let restrictedKey: UserKey;
let allowedPort: number;

beforeAll(async () => {
  if (!existsSync(SSH)) throw new Error(`this test needs OpenSSH's client at ${SSH} (apt-get install openssh-client)`);
  gw = await startTestGateway();
  echo = await startEchoServer();
  plainKey = gw.newKey('plain');
  limitedKey = gw.newKey('limited');
  fromKey = gw.newKey('from');
  restrictedKey = gw.newKey('restricted');
  allowedPort = await freePort();
  gw.writeAuthorizedKeys([
    '# written by gateway-openssh-client.test.ts',
    plainKey.publicLine,
    `permitlisten="127.0.0.1:${allowedPort}",no-pty ${limitedKey.publicLine}`,
    `from="10.0.0.0/8" ${fromKey.publicLine}`,
    `restrict ${restrictedKey.publicLine}`,
  ]);
});

afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
});

afterAll(async () => {
  await echo?.close();
  await gw?.close();
});

describe('OpenSSH ssh -N -R against the built-in gateway', () => {
  it('port 0: ssh reports the allocated port and the forward carries traffic', async () => {
    const run = ssh(gw, plainKey, ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:0:127.0.0.1:${echo.port}`]);
    const [, port] = await run.waitForStderr(/Allocated port (\d+) for remote forward/);
    const res = await connectAndCollect(Number(port), Buffer.from('through openssh'));
    expect(res.data.toString()).toBe('through openssh');
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    const bigRes = await connectAndCollect(Number(port), big, { keepBytes: 0 });
    expect(bigRes.bytes).toBe(big.length);

    const conn = gw.gateway.status().connections.find((c) => c.forwards.some((f) => f.port === Number(port)));
    expect(conn).toMatchObject({ user: 'device', clientVersion: expect.stringMatching(/^SSH-2\.0-OpenSSH/) });
    expect(gw.logged(new RegExp(`user "device" \\(connection #\\d+, key SHA256:[^)]*\\)\\) forwards 127\\.0\\.0\\.1:${port} \\(port chosen by the gateway\\)`))).toHaveLength(1);
    run.child.kill('SIGTERM');
    await run.exit;
  });

  it('permitlisten: the listed port works, any other is refused (ssh exits non-zero with ExitOnForwardFailure)', async () => {
    const ok = ssh(gw, limitedKey, ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:${allowedPort}:127.0.0.1:${echo.port}`]);
    // A fixed port prints nothing on success; the listener appearing is the signal.
    const deadline = Date.now() + 10_000;
    let res;
    for (;;) {
      try { res = await connectAndCollect(allowedPort, Buffer.from('allowed'), { timeoutMs: 2_000 }); break; } catch (err) {
        if (Date.now() > deadline || ok.child.exitCode !== null) throw new Error(`forward never came up: ${String(err)}\n${ok.stderr()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(res.data.toString()).toBe('allowed');
    ok.child.kill('SIGTERM');
    await ok.exit;

    const other = await freePort();
    const refused = ssh(gw, limitedKey, ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:${other}:127.0.0.1:${echo.port}`]);
    expect(await refused.exit).not.toBe(0);
    expect(refused.stderr()).toMatch(/remote port forwarding failed for listen port \d+/);
    expect(gw.logged(new RegExp(`forward 127\\.0\\.0\\.1:${other} refused: .*not in this key's permitlisten \\(127\\.0\\.0\\.1:${allowedPort}\\)`))).toHaveLength(1);
  });

  it('a key without permitlisten may not listen on a public address', async () => {
    const run = ssh(gw, plainKey, ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `0.0.0.0:0:127.0.0.1:${echo.port}`]);
    expect(await run.exit).not.toBe(0);
    expect(run.stderr()).toMatch(/remote port forwarding failed/);
  });

  it('restrict: logging in works, forwarding does not', async () => {
    const run = ssh(gw, restrictedKey, ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:0:127.0.0.1:${echo.port}`]);
    expect(await run.exit).not.toBe(0);
    expect(run.stderr()).toMatch(/remote port forwarding failed/);
    expect(gw.logged(/refused: port forwarding is disabled for this key \(restrict/)).not.toHaveLength(0);
  });

  it('from="10.0.0.0/8": the key cannot log in from 127.0.0.1', async () => {
    const run = ssh(gw, fromKey, ['-N', '-R', `127.0.0.1:0:127.0.0.1:${echo.port}`]);
    expect(await run.exit).toBe(255);
    expect(run.stderr()).toMatch(/Permission denied \(publickey\)/);
    expect(gw.logged(/may not log in from 127\.0\.0\.1 \(from="10\.0\.0\.0\/8"\)/)).not.toHaveLength(0);
  });

  it('an unknown key is refused', async () => {
    const stranger = gw.newKey('stranger');
    const run = ssh(gw, stranger, ['-N']);
    expect(await run.exit).toBe(255);
    expect(run.stderr()).toMatch(/Permission denied \(publickey\)/);
  });

  it('a remote command (session channel) is refused as administratively prohibited, with a reason', async () => {
    const run = ssh(gw, plainKey, ['-T'], 'device');
    run.child.stdin?.end();
    // `ssh host` without -N asks for a session channel (shell).
    expect(await run.exit).toBe(255);
    expect(run.stderr()).toMatch(/administratively prohibited: this gateway only accepts port forwarding/);
    expect(gw.logged(/session channel refused: this gateway only accepts port forwarding/)).not.toHaveLength(0);
  });

  it('RSA (rsa-sha2 signatures) and ECDSA keys log in too', async () => {
    const rsa = gw.newKey('rsa', 'rsa');
    const ecdsa = gw.newKey('ecdsa', 'ecdsa');
    gw.writeAuthorizedKeys([plainKey.publicLine, rsa.publicLine, ecdsa.publicLine]);
    try {
      for (const key of [rsa, ecdsa]) {
        const run = ssh(gw, key, ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:0:127.0.0.1:${echo.port}`]);
        const [, port] = await run.waitForStderr(/Allocated port (\d+) for remote forward/);
        expect((await connectAndCollect(Number(port), Buffer.from(key.path))).data.toString()).toBe(key.path);
        run.child.kill('SIGTERM');
        await run.exit;
      }
      expect(gw.logged(/logged in .*publickey ssh-rsa SHA256:/)).toHaveLength(1);
      expect(gw.logged(/logged in .*publickey ecdsa-sha2-nistp256 SHA256:/)).toHaveLength(1);
    } finally {
      gw.writeAuthorizedKeys([
        plainKey.publicLine,
        `permitlisten="127.0.0.1:${allowedPort}",no-pty ${limitedKey.publicLine}`,
        `from="10.0.0.0/8" ${fromKey.publicLine}`,
        `restrict ${restrictedKey.publicLine}`,
      ]);
    }
  });

  it('a remote unix socket forward (streamlocal) is refused', async () => {
    const run = ssh(gw, plainKey, ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `${gw.dir}/remote.sock:127.0.0.1:${echo.port}`]);
    expect(await run.exit).not.toBe(0);
    expect(run.stderr()).toMatch(/remote port forwarding failed/);
    expect(gw.logged(/socket forward ".*remote\.sock" refused: unix socket forwarding is off on this gateway \(no socket directory configured: --socket-dir\)/)).toHaveLength(1);
  });

  it('the host key must match known_hosts (StrictHostKeyChecking=yes)', async () => {
    const other = await startTestGateway({}, [plainKey.publicLine]);
    try {
      // Our known_hosts holds the first gateway's key; point ssh at the second one.
      const run = ssh({ ...gw, port: other.port }, plainKey, ['-N']);
      expect(await run.exit).toBe(255);
      expect(run.stderr()).toMatch(/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No ED25519 host key is known/);
    } finally {
      await other.close();
    }
  });
});
