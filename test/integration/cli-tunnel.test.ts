// `edge-agent tunnel` as a user runs it: flags in, one line per forward out, traffic through
// a real sshd, a clean exit on SIGTERM, and exit code 2 with a clear message on bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, freePort, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { runCli, runCliToExit } from '../helpers/cli.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

describe('edge-agent tunnel', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  beforeAll(async () => {
    sshd = await startSshd();
    echo = await startEchoServer();
  });
  afterAll(async () => {
    await echo?.close();
    await sshd?.dispose();
  });

  const base = () => ['tunnel', '-p', String(sshd.port), '-i', sshd.userKeyPath, '--known-hosts', sshd.knownHostsPath, '--retry-interval-ms', '200', '--max-retry-interval-ms', '500'];

  it('prints one line per forward with the real remote port, forwards traffic, survives an sshd restart, exits 0 on SIGTERM', async () => {
    // re-bound by the restarted sshd: below the ephemeral range, so no port-0 listener of a test
    // running alongside takes it while sshd is down
    const fixed = await freePort();
    const cli = runCli([...base(), '-R', `127.0.0.1:0:127.0.0.1:${echo.port}`, '-R', `${fixed}:tcp://127.0.0.1:${echo.port}`, `${sshd.username}@127.0.0.1`]);
    try {
      const first = await cli.waitForLine(/^forward R1 up: 127\.0\.0\.1:(\d+) on 127\.0\.0\.1 -> tcp:\/\/127\.0\.0\.1:\d+$/);
      await cli.waitForLine(new RegExp(`^forward R2 up: localhost:${fixed} on 127\\.0\\.0\\.1 -> tcp://127\\.0\\.0\\.1:${echo.port}$`));
      const port = Number(first[1]);
      expect(port).toBeGreaterThan(0);
      expect((await connectAndCollect(port, Buffer.from('via cli'))).data.toString()).toBe('via cli');

      await sshd.kill();
      await sshd.restart();
      await waitUntil(() => cli.stdout().split('\n').filter((l) => l.startsWith('forward R2 up:')).length >= 2, 30_000, 'forward R2 to come back');
      expect((await connectAndCollect(fixed, Buffer.from('after restart'))).data.toString()).toBe('after restart');

      cli.child.kill('SIGTERM');
      const { code } = await cli.exit;
      expect(code).toBe(0);
      expect(cli.stderr()).toContain('draining');
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('exits 1 with the offered fingerprint when the host key does not match', async () => {
    const r = await runCliToExit(['tunnel', '-p', String(sshd.port), '-i', sshd.userKeyPath, '--fingerprint', 'SHA256:' + 'A'.repeat(43), '-R', `0:127.0.0.1:${echo.port}`, `${sshd.username}@127.0.0.1`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('EDGE_ERR_HOST_KEY_MISMATCH');
    expect(r.stderr).toContain(sshd.hostKeyFingerprint);
  });

  it.each([
    [['-R', '8080', 'h'], 'a target is required'],
    [['-R', '99999:127.0.0.1:80', 'h'], '99999'],
    [['-R', '[::1:8080:h:80', 'h'], '['],
    [['-R', '8080:127.0.0.1:80'], 'host is missing'],
    [['h'], 'at least one remote forward'],
    [['--bogus', '-R', '0:h:1', 'h'], 'bogus'],
    [['-p', 'abc', '-R', '0:h:1', 'h'], '-p'],
    [['--reconnect', 'sometimes', '-R', '0:h:1', 'h'], '--reconnect'],
    [['-R', '0:h:1', 'root@127.0.0.1:2401'], 'port glued to it: give the host alone and the port separately (-p 2401)'],
    [['-R', '0:h:1', 'root@gw example.com'], 'whitespace'],
    [['-R', '0:h:1', 'root@gw\u0001x'], 'control characters'],
    [['-R', '0:h:1', 'root@gw$(id)'], 'not a valid host name'],
    [['--algorithms', 'kex=no-such-kex', '-R', '0:h:1', 'h'], '--algorithms.kex: "no-such-kex" is not supported'],
    [['--algorithms', 'macs=hmac-sha1', '-R', '0:h:1', 'h'], 'CATEGORY one of kex'],
  ])('bad usage %j exits 2 and says what is wrong (%s)', async (args, expected) => {
    const r = await runCliToExit(['tunnel', '--known-hosts', sshd.knownHostsPath, '-i', sshd.userKeyPath, ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(expected);
  });

  it('a well-formed name that does not resolve is retried, not a usage error', async () => {
    const cli = runCli([...base(), '-R', `0:127.0.0.1:${echo.port}`, `${sshd.username}@no-such-host.invalid`]);
    try {
      await waitUntil(() => cli.stderr().includes('EDGE_ERR_HOST_NOT_FOUND') || cli.stderr().includes('did not resolve'), 20_000, 'a resolution failure');
      await waitUntil(() => (cli.stderr().match(/did not resolve/g) ?? []).length >= 2, 20_000, 'a second attempt');
      expect(cli.child.exitCode).toBeNull();
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('--help prints the usage and exits 0', async () => {
    const r = await runCliToExit(['tunnel', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('[bind_address:]port:host:hostport');
  });
});
