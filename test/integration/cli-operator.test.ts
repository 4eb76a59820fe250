// The operator's CLI paths (issue 17): `check` reads every file the config names, `run` refuses
// to start without a config or with unreadable files (exit 2), `status --config` finds the admin
// server from the config, and SIGHUP re-reads an edited config file in a running agent: the
// unchanged session's open connection survives, a new forward appears, and every forward added,
// retargeted or removed is logged. The real CLI as a child process, a real OpenSSH sshd.
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliToExit } from '../helpers/cli.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, freePort, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

interface StatusDoc { sessions: Array<{ id: string; threadId: number | null; forwards: Array<{ id: string; state: string; remotePort: number | null; target: string | null }> }> }

// The CLI must not pick up the developer's own agent settings.
const NO_AGENT_ENV = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('EDGE_AGENT_')).map((k) => [k, undefined]));

describe('edge-agent operator paths', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  let echo2: TcpService;
  let dir: string;
  beforeAll(async () => {
    [sshd, echo, echo2] = await Promise.all([startSshd(), startEchoServer(), startEchoServer()]);
    dir = mkdtempSync(path.join(os.tmpdir(), 'edge-operator-'));
  });
  afterAll(async () => {
    await Promise.all([echo?.close(), echo2?.close(), sshd?.dispose()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const write = (name: string, doc: unknown) => {
    const file = path.join(dir, name);
    writeFileSync(file, JSON.stringify(doc, null, 2));
    return file;
  };
  const session = (id: string, forwards: unknown[], over: Record<string, unknown> = {}) => ({
    id, host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'k',
    hostKeys: { knownHostsFile: sshd.knownHostsPath }, reconnect: { retryIntervalMs: 200, maxRetryIntervalMs: 1000 }, forwards, ...over,
  });
  const fwd = (id: string, port: number) => ({ id, bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${port}` });

  it('check names every file the config refers to that cannot be read, and exits 2', async () => {
    const config = write('missing-files.json', {
      credentials: { k: { privateKeyFile: path.join(dir, 'no-key') }, spare: { privateKeyFile: sshd.userKeyPath } },
      sessions: [session('s', [fwd('e', echo.port)], { hostKeys: { knownHostsFile: path.join(dir, 'no-known-hosts') } })],
      assignments: { caFile: dir },
    });
    const r = await runCliToExit(['check', '--config', config], NO_AGENT_ENV);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n').sort()).toEqual([
      `assignments.caFile: ${dir}: cannot read it (it is a directory)`,
      `credentials.k.privateKeyFile: ${path.join(dir, 'no-key')}: cannot read it (no such file)`,
      `sessions[0].hostKeys.knownHostsFile: ${path.join(dir, 'no-known-hosts')}: cannot read it (no such file)`,
    ]);
    // and `run` refuses the same config with the same list, before starting anything
    const run = await runCliToExit(['run', '--config', config], NO_AGENT_ENV);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('3 file(s) named in the configuration cannot be read');
    expect(run.stderr).toContain(`credentials.k.privateKeyFile: ${path.join(dir, 'no-key')}: cannot read it (no such file)`);
  });

  it('run without any configuration exits 2 and says how to give one', async () => {
    const r = await runCliToExit(['run'], NO_AGENT_ENV);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no configuration given.*--config FILE.*EDGE_AGENT_CONFIG_JSON/s);
  });

  it('status --config finds the admin server from the config; EDGE_AGENT_ADMIN_LISTEN wins; --health', async () => {
    const adminPort = await freePort();
    const config = write('status.json', {
      admin: { listen: `0.0.0.0:${adminPort}` }, agent: { logFormat: 'text' }, telemetry: { exporter: 'none' },
      credentials: { k: { privateKeyFile: sshd.userKeyPath } }, sessions: [session('st', [fwd('e', echo.port)])],
    });
    const cli = runCli(['run', '--config', config], NO_AGENT_ENV);
    try {
      await cli.waitForLine(/status at http/);
      await waitUntil(async () => ((JSON.parse(await (await request(`http://127.0.0.1:${adminPort}/status`)).body.text()) as StatusDoc).sessions[0]?.forwards[0]?.state === 'up'), 20_000, 'forward up');
      const table = await runCliToExit(['status', '--config', config], NO_AGENT_ENV);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^st\s+connected\s+127\.0\.0\.1:\d+\s+e\s+up\s+127\.0\.0\.1:\d+/m);
      const wrongEnv = await runCliToExit(['status', '--config', config], { ...NO_AGENT_ENV, EDGE_AGENT_ADMIN_LISTEN: `127.0.0.1:${await freePort()}` });
      expect(wrongEnv.code).toBe(1);
      expect(wrongEnv.stderr).toMatch(/address from EDGE_AGENT_ADMIN_LISTEN/);
      const health = await runCliToExit(['status', '--health'], { ...NO_AGENT_ENV, EDGE_AGENT_CONFIG: config });
      expect(health).toMatchObject({ code: 0, stdout: `healthy: http://127.0.0.1:${adminPort}/healthz answered 200\n` });
    } finally {
      cli.child.kill('SIGTERM');
      await cli.exit;
    }
    const down = await runCliToExit(['status', '--health', '--config', config], NO_AGENT_ENV);
    expect(down.code).toBe(1);
  }, 120_000); // several CLI processes (tsx loads the sources): 40-50 s of 60 s on a loaded 2-core machine

  it('SIGHUP re-reads the edited config: unchanged session keeps its connection, forwards are added, retargeted and removed, each logged', async () => {
    const base = {
      admin: { listen: '127.0.0.1:0' }, agent: { logFormat: 'text' }, telemetry: { exporter: 'none' },
      credentials: { k: { privateKeyFile: sshd.userKeyPath } },
    };
    const file = write('reload.json', { ...base, sessions: [session('keep', [fwd('e', echo.port)]), session('edit', [fwd('old', echo.port), fwd('move', echo.port)])] });
    const cli = runCli(['run', '--config', file], NO_AGENT_ENV);
    try {
      const admin = (await cli.waitForLine(/status at (http:\/\/\S+)\/status/))[1]!;
      const status = async () => JSON.parse(await (await request(`${admin}/status`)).body.text()) as StatusDoc;
      const before = await waitUntil(async () => {
        const s = await status();
        return s.sessions.length === 2 && s.sessions.every((x) => x.forwards.every((f) => f.state === 'up')) ? s : undefined;
      }, 30_000, 'both sessions up');
      const keep = before.sessions.find((s) => s.id === 'keep')!;
      // An open connection through the session that will not change.
      const conn = net.connect(keep.forwards[0]!.remotePort!, '127.0.0.1');
      await new Promise((r) => conn.once('connect', r));
      const echoed = (text: string) => new Promise<string>((resolve) => { conn.once('data', (d) => resolve(d.toString())); conn.write(text); });
      expect(await echoed('before')).toBe('before');

      writeFileSync(file, JSON.stringify({ ...base, sessions: [session('keep', [fwd('e', echo.port)]), session('edit', [fwd('move', echo2.port), fwd('new', echo2.port)])] }));
      cli.child.kill('SIGHUP');
      const after = await waitUntil(async () => {
        const s = await status();
        const edit = s.sessions.find((x) => x.id === 'edit');
        return edit && edit.forwards.map((f) => f.id).sort().join() === 'move,new' && edit.forwards.every((f) => f.state === 'up') ? s : undefined;
      }, 30_000, 'the edited forwards up');
      expect(await echoed('after')).toBe('after'); // same TCP connection, same SSH session
      expect(after.sessions.find((s) => s.id === 'keep')!.threadId).toBe(keep.threadId);
      const edited = after.sessions.find((s) => s.id === 'edit')!;
      expect(edited.forwards.find((f) => f.id === 'move')!.target).toBe(`tcp://127.0.0.1:${echo2.port}`);
      const port = edited.forwards.find((f) => f.id === 'new')!.remotePort!;
      expect((await connectAndCollect(port, Buffer.from('new'))).data.toString()).toBe('new');
      conn.destroy();

      await waitUntil(() => /SIGHUP: configuration reloaded from/.test(cli.stderr()), 5_000, 'the SIGHUP line');
      const log = cli.stderr();
      expect(log).toContain('forward edit/new (-R) added: 127.0.0.1:0 → tcp://127.0.0.1:');
      expect(log).toContain(`forward edit/move (-R) retargeted: tcp://127.0.0.1:${echo.port} → tcp://127.0.0.1:${echo2.port}`);
      expect(log).toContain('forward edit/old (-R) removed');
      expect(log).not.toMatch(/forward keep\/e \(-R\) (removed|retargeted|changed)/);

      // A broken edit changes nothing and says why.
      writeFileSync(file, '{ "sessions": [ nope');
      cli.child.kill('SIGHUP');
      await waitUntil(() => /configuration not reloaded, the running one stays: EDGE_ERR_[A-Z_]+: .*invalid JSON/.test(cli.stderr()), 10_000, 'the rejected reload');
      expect((await status()).sessions).toHaveLength(2);
    } finally {
      cli.child.kill('SIGTERM');
      await cli.exit;
    }
  });
});
