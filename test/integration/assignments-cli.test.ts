// The manual triggers of `edge-agent run` (the real CLI as a child process): SIGHUP and
// POST /assignments/refresh fetch the fleet endpoint at once, long before the next poll.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliProcess } from '../helpers/cli.js';
import { startFleetServer, type FleetServer } from '../helpers/fleet-server.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

interface Status {
  assignments: { source: string; revision: number | null; lastFetch: { trigger: string; outcome: string } | null };
  sessions: Array<{ id: string; forwards: Array<{ id: string; state: string; remotePort: number | null }> }>;
}

describe('edge-agent run: SIGHUP and POST /assignments/refresh', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  let fleet: FleetServer;
  let dir: string;
  const children: CliProcess[] = [];

  beforeAll(async () => {
    sshd = await startSshd();
    echo = await startEchoServer();
    fleet = await startFleetServer();
    dir = mkdtempSync(path.join(os.tmpdir(), 'edge-assign-cli-'));
  });
  afterAll(async () => {
    for (const c of children) c.child.kill('SIGKILL');
    await Promise.all([fleet?.close(), echo?.close(), sshd?.dispose()]);
  });

  const doc = (revision: number, forwards: string[]) => ({
    revision,
    sessions: [{
      id: 'gw', host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'k',
      hostKeys: { knownHostsFile: sshd.knownHostsPath }, reconnect: { retryIntervalMs: 200, maxRetryIntervalMs: 1000 },
      forwards: forwards.map((id) => ({ id, bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` })),
    }],
  });

  async function run(assignments: Record<string, unknown>): Promise<{ cli: CliProcess; admin: string }> {
    const name = Math.random().toString(16).slice(2);
    const file = path.join(dir, `config-${name}.json`);
    writeFileSync(file, JSON.stringify({
      agent: { id: 'device-cli', drainTimeoutMs: 2000, logFormat: 'text', stateDir: path.join(dir, `state-${name}`) },
      admin: { listen: '127.0.0.1:0' },
      credentials: { k: { privateKeyFile: sshd.userKeyPath } },
      telemetry: { exporter: 'none' },
      assignments,
    }));
    const cli = runCli(['run', '--config', file]);
    children.push(cli);
    const m = await cli.waitForLine(/status at (http:\/\/\S+)\/status/);
    return { cli, admin: m[1]! };
  }
  const status = async (admin: string) => (await (await request(`${admin}/status`)).body.json()) as Status;

  it('SIGHUP fetches at once; so does POST /assignments/refresh; the poll interval is an hour', async () => {
    fleet.serve(doc(1, ['one']));
    // An hour between polls: only the first poll (within 5 s of start) and the triggers fetch.
    const { cli, admin } = await run({ url: fleet.url, pollIntervalMs: 3_600_000 });
    await waitUntil(async () => (await status(admin)).assignments.revision === 1, 15_000, 'revision 1 from the first poll');

    fleet.serve(doc(2, ['one', 'two']));
    const before = fleet.requests.length;
    const sent = Date.now();
    cli.child.kill('SIGHUP');
    // Bounded by the wait alone: without the trigger the next poll is an hour away, and a 5 s
    // bound on a SIGHUP that reloads the config, fetches and applies failed on a loaded machine.
    // The revision shows as soon as the applier took the document; lastFetch is recorded once the
    // apply finished (its outcome is known only then, after the new forward's first bind), so
    // wait for both: reading status in between showed revision 2 with the scheduled fetch before.
    await waitUntil(async () => {
      const a = (await status(admin)).assignments;
      return a.revision === 2 && a.lastFetch?.trigger === 'manual';
    }, 20_000, 'revision 2 and its fetch recorded after SIGHUP');
    expect(Date.now() - sent).toBeLessThan(20_000);
    expect(fleet.requests.length).toBe(before + 1);
    const st = await status(admin);
    expect(st.assignments.lastFetch).toMatchObject({ trigger: 'manual', outcome: 'applied' });
    const port = await waitUntil(async () => (await status(admin)).sessions[0]!.forwards.find((f) => f.id === 'two' && f.state === 'up')?.remotePort, 15_000, 'forward two up');
    expect((await connectAndCollect(port!, Buffer.from('hup'))).data.toString()).toBe('hup');
    await waitUntil(() => /SIGHUP: fetched the fleet endpoint: applied; revision 2 running/.test(cli.stderr()), 5_000, 'the SIGHUP line on stderr');
    expect(cli.child.exitCode).toBeNull();

    fleet.serve(doc(3, ['three']));
    const res = await request(`${admin}/assignments/refresh`, { method: 'POST' });
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toMatchObject({ source: 'remote', revision: 3, lastFetch: { trigger: 'manual', outcome: 'applied' } });

    cli.child.kill('SIGTERM');
    expect((await cli.exit).code).toBe(0);
  });

  it('without assignments.url, SIGHUP only says so and the refresh endpoint answers 409', async () => {
    const { cli, admin } = await run({ url: '' });
    cli.child.kill('SIGHUP');
    await waitUntil(() => /SIGHUP: EDGE_ERR_INVALID_CONFIG: assignments\.url is not set/.test(cli.stderr()), 5_000, 'the SIGHUP message');
    expect(cli.child.exitCode).toBeNull();
    const res = await request(`${admin}/assignments/refresh`, { method: 'POST' });
    expect(res.statusCode).toBe(409);
    expect(await res.body.text()).toMatch(/assignments\.url is not set/);
    expect((await status(admin)).assignments).toMatchObject({ source: 'static', revision: null });
    cli.child.kill('SIGTERM');
    expect((await cli.exit).code).toBe(0);
  });
});
