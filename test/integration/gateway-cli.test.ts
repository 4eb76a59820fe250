// `edge-agent gateway` as a process: prints where it listens and its host key fingerprint,
// serves a real agent, answers bad flags with exit 2, and stops on SIGTERM with exit 0.
// (Runs the command module through tsx, as `npm run dev` runs the sources.)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { TunnelSession } from '../../src/session/tunnel-session.js';
import { generateEd25519 } from '../../src/gateway/host-key.js';
import { connectAndCollect, startEchoServer } from '../helpers/tcp-services.js';

const MODULE = fileURLToPath(new URL('../../src/cli/gateway-command.ts', import.meta.url));
const RUNNER = `const m = await import(${JSON.stringify(MODULE)});
try { process.exitCode = await m.runGatewayCommand(process.argv.slice(1)); }
catch (err) { process.stderr.write('edge-agent: ' + err.message + '\\n'); process.exitCode = err.name === 'EdgeError' && err.code && err.constructor.name === 'UsageError' ? 2 : 1; }`;

const children = new Set<ChildProcess>();
const dirs: string[] = [];
afterEach(() => {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function runGateway(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', RUNNER, '--', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child, exit, stdout: () => out, stderr: () => err,
    async waitFor(re: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = re.exec(out);
        if (m) return m;
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no ${re} in stdout:\n${out}\nstderr:\n${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-agent-gateway-cli-'));
  dirs.push(dir);
  return dir;
}

describe('edge-agent gateway', () => {
  it('generates a host key, prints the listen address and fingerprint, serves an agent, and exits 0 on SIGTERM', async () => {
    const dir = tempDir();
    const user = generateEd25519('cli-user');
    writeFileSync(path.join(dir, 'authorized_keys'), `${user.public.trim()}\n`);
    const hostKey = path.join(dir, 'keys', 'host_ed25519');
    const gw = runGateway(['--listen', '127.0.0.1:0', '--host-key', hostKey, '--authorized-keys', path.join(dir, 'authorized_keys'), '--admin', '127.0.0.1:0', '--log-format', 'json']);
    const [, port, fingerprint] = await gw.waitFor(/^gateway listening on 127\.0\.0\.1:(\d+), host key (SHA256:[A-Za-z0-9+/]{43})$/m);
    expect(statSync(hostKey).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${hostKey}.pub`, 'utf8')).toMatch(/^ssh-ed25519 AAAA/);
    const [, adminPort] = await gw.waitFor(/^gateway status at http:\/\/127\.0\.0\.1:(\d+)\/status$/m);

    const echo = await startEchoServer();
    const session = new TunnelSession({
      host: '127.0.0.1', port: Number(port),
      auth: { username: 'cli', privateKeys: [{ key: user.private, source: 'generated' }] },
      hostKeys: { fingerprints: [fingerprint!] },
      reconnect: { mode: 'never' },
      forwards: [{ id: 'echo', bind: 'localhost', port: 0, target: `tcp://127.0.0.1:${echo.port}` }],
    });
    try {
      session.start();
      const remote = await session.waitForForward('echo');
      expect((await connectAndCollect(remote, Buffer.from('cli'))).data.toString()).toBe('cli');
      const status = await (await fetch(`http://127.0.0.1:${adminPort}/status`)).json() as { connections: Array<{ user: string }> };
      expect(status.connections.map((c) => c.user)).toEqual(['cli']);
    } finally {
      await session.close(200);
      await echo.close();
    }
    gw.child.kill('SIGTERM');
    expect(await gw.exit).toBe(0);
    const lines = gw.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; event?: string });
    expect(lines.some((l) => l.event === 'login')).toBe(true);
    expect(lines.some((l) => l.event === 'shutdown')).toBe(true);
  });

  it('reuses an existing host key (same fingerprint on restart) and accepts [::1]:PORT', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'authorized_keys'), '');
    const hostKey = path.join(dir, 'host');
    const first = runGateway(['--listen', '127.0.0.1:0', '--host-key', hostKey, '--authorized-keys', path.join(dir, 'authorized_keys')]);
    const [, , fp1] = await first.waitFor(/listening on (\S+), host key (\S+)$/m);
    first.child.kill('SIGINT');
    expect(await first.exit).toBe(0);
    const second = runGateway(['--listen', '[::1]:0', '--host-key', hostKey, '--authorized-keys', path.join(dir, 'authorized_keys')]);
    const [, where, fp2] = await second.waitFor(/listening on (\S+), host key (\S+)$/m);
    expect(where).toMatch(/^\[::1\]:\d+$/);
    expect(fp2).toBe(fp1);
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
  });

  // One test per flag: each case starts a process that loads the sources through tsx (seconds
  // each on a loaded 2-core machine), and eight of them in one test ran out of its 60 s.
  const h = (dir: string) => path.join(dir, 'h');
  it.each<[string, (dir: string) => string[], RegExp]>([
    ['no --host-key', () => ['--authorized-keys', 'x'], /--host-key FILE is required/],
    ['--listen', (d) => ['--host-key', h(d), '--authorized-keys', 'x', '--listen', 'nope'], /--listen must be HOST:PORT/],
    ['--max-connections', (d) => ['--host-key', h(d), '--authorized-keys', 'x', '--max-connections', '0'], /--max-connections must be an integer/],
    ['--allowed-clients', (d) => ['--host-key', h(d), '--authorized-keys', 'x', '--allowed-clients', '10.0.0.0/99'], /--allowed-clients.*not an IP address or CIDR/],
    ['--authorized-keys', (d) => ['--host-key', h(d), '--authorized-keys', path.join(d, 'missing')], /--authorized-keys: cannot read/],
    ['--algorithms', (d) => ['--host-key', h(d), '--authorized-keys', 'x', '--algorithms', 'kex=+diffie-hellman-group99-sha1'], /--algorithms\.kex: "diffie-hellman-group99-sha1" is not supported/],
    ['--socket-dir', (d) => ['--host-key', h(d), '--authorized-keys', 'x', '--socket-dir', path.join(d, 'no-such-dir')], /--socket-dir: .*no-such-dir is not a usable directory \(ENOENT\)/],
    ['an unknown flag', () => ['--bogus'], /Unknown option '--bogus'/],
  ])('bad flags exit 2 with a message naming the flag: %s', async (_name, argsFor, message) => {
    const args = argsFor(tempDir());
    const run = runGateway(args);
    expect(await run.exit, args.join(' ')).toBe(2);
    expect(run.stderr()).toMatch(message);
  });
});
