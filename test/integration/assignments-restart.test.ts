// The revision floor survives a restart (issue 12, item 3), and the operator has a local way out
// (item 2): the real `edge-agent run` process, restarted, against a real HTTP fleet endpoint that
// serves signed documents. With no assignments.cacheFile, the last applied document lives in
// agent.stateDir (0700 directory, 0600 file); an old signed document replayed after the restart is
// stale (EDGE_ERR_ASSIGNMENT_STALE) and the cached newer one runs. `edge-agent assignments reset`
// removes the floor, and the next start takes the endpoint's document whatever its revision.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliToExit, type CliProcess } from '../helpers/cli.js';
import { startFleetServer, type FleetServer } from '../helpers/fleet-server.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

interface Status {
  assignments: { source: string; revision: number | null; lastError: { code: string; kind: string; message: string } | null; lastFetch: { outcome: string } | null };
  sessions: Array<{ id: string; forwards: Array<{ id: string; state: string; remotePort: number | null; lastError: { code: string; message: string } | null }> }>;
}

describe('edge-agent run: the revision floor survives a restart; assignments reset clears it', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  let fleet: FleetServer;
  let dir: string;
  let stateDir: string;
  let configFile: string;
  const keys = generateKeyPairSync('ed25519');
  const children: CliProcess[] = [];

  beforeAll(async () => {
    [sshd, echo] = await Promise.all([startSshd(), startEchoServer()]);
    fleet = await startFleetServer({ signingKey: keys.privateKey });
    dir = mkdtempSync(path.join(os.tmpdir(), 'edge-restart-'));
    stateDir = path.join(dir, 'state', 'edge-agent');
    configFile = path.join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify({
      agent: { id: 'device-restart', drainTimeoutMs: 2000, logFormat: 'text', stateDir },
      admin: { listen: '127.0.0.1:0' },
      credentials: { k: { privateKeyFile: sshd.userKeyPath } },
      telemetry: { exporter: 'none' },
      assignments: { url: fleet.url, pollIntervalMs: 1_000, signingPublicKey: keys.publicKey.export({ type: 'spki', format: 'pem' }) as string },
    }));
  });
  afterAll(async () => {
    for (const c of children) c.child.kill('SIGKILL');
    await Promise.all([fleet?.close(), echo?.close(), sshd?.dispose()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const doc = (revision: number, forward: string) => ({
    revision,
    sessions: [{
      id: 'gw', host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'k',
      hostKeys: { knownHostsFile: sshd.knownHostsPath }, reconnect: { retryIntervalMs: 200, maxRetryIntervalMs: 1000 },
      forwards: [
        { id: forward, bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` },
        // The default policy is loopback TCP only: the Docker API is not reachable through a document.
        { id: 'docker', bind: '127.0.0.1', port: 0, target: 'unix:/var/run/docker.sock' },
      ],
    }],
  });

  async function start(): Promise<{ cli: CliProcess; admin: string }> {
    const cli = runCli(['run', '--config', configFile], { XDG_STATE_HOME: '', STATE_DIRECTORY: '' });
    children.push(cli);
    const m = await cli.waitForLine(/status at (http:\/\/\S+)\/status/);
    return { cli, admin: m[1]! };
  }
  const status = async (admin: string) => (await (await request(`${admin}/status`)).body.json()) as Status;
  async function stop(cli: CliProcess) {
    cli.child.kill('SIGTERM');
    expect((await cli.exit).code).toBe(0);
  }
  const echoes = async (admin: string, fid: string) => {
    const port = await waitUntil(async () => (await status(admin)).sessions[0]?.forwards.find((f) => f.id === fid && f.state === 'up')?.remotePort, 20_000, `forward ${fid} up`);
    return (await connectAndCollect(port!, Buffer.from('hello'))).data.toString() === 'hello';
  };

  it('an old signed document is not applied after a restart; the floor lives in agent.stateDir', async () => {
    fleet.serve(doc(2, 'new'));
    const first = await start();
    await waitUntil(async () => (await status(first.admin)).assignments.revision === 2, 15_000, 'revision 2');
    expect(await echoes(first.admin, 'new')).toBe(true);
    const docker = (await status(first.admin)).sessions[0]!.forwards.find((f) => f.id === 'docker')!;
    expect(docker).toMatchObject({ state: 'refused', lastError: { code: 'EDGE_ERR_POLICY_DENIED' } });
    await stop(first.cli);

    const file = path.join(stateDir, 'assignment-cache.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);

    // The endpoint (or someone in its place) replays revision 1, validly signed.
    fleet.serve(doc(1, 'old'));
    const second = await start();
    const st = await waitUntil(async () => { const s = await status(second.admin); return s.assignments.lastFetch?.outcome === 'stale' ? s : undefined; }, 15_000, 'the replay judged');
    expect(st.assignments).toMatchObject({ revision: 2, source: 'cache', lastError: { code: 'EDGE_ERR_ASSIGNMENT_STALE', kind: 'stale' } });
    expect(await echoes(second.admin, 'new')).toBe(true);
    expect(st.sessions[0]!.forwards.map((f) => f.id)).not.toContain('old');
    await stop(second.cli);
  }, 120_000); // several CLI processes (tsx loads the sources): 40-50 s of 60 s on a loaded 2-core machine

  it('edge-agent assignments reset clears the floor (exit 0); the next start applies the endpoint\'s revision 1', async () => {
    const file = path.join(stateDir, 'assignment-cache.json');
    const reset = await runCliToExit(['assignments', 'reset', '--config', configFile]);
    expect(reset.code).toBe(0);
    expect(reset.stdout).toContain(`removed ${file} (cached revision 2, the revision floor)`);
    expect(existsSync(file)).toBe(false);
    const again = await runCliToExit(['assignments', 'reset', '--config', configFile]);
    expect(again).toMatchObject({ code: 0 });
    expect(again.stdout).toMatch(/nothing to reset/);

    const third = await start();
    await waitUntil(async () => (await status(third.admin)).assignments.revision === 1, 15_000, 'revision 1 after the reset');
    expect(await echoes(third.admin, 'old')).toBe(true);
    await stop(third.cli);
  }, 120_000); // several CLI processes (tsx loads the sources): 40-50 s of 60 s on a loaded 2-core machine

  it('assignments reset: usage and config errors exit 2', async () => {
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ agent: { stateDir: 7 } }));
    const [r, usage] = await Promise.all([runCliToExit(['assignments', 'reset', '--config', bad]), runCliToExit(['assignments', 'wipe'])]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/agent\.stateDir/);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/unknown assignments subcommand "wipe" \(known: reset\)/);
  });
});
