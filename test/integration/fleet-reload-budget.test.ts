// SIGHUP applies the same checks to the running assignment document as applying it did: the real
// CLI (`edge-agent run`) with a real OpenSSH sshd and a fleet endpoint on loopback. The running
// document asks maxChannels 5 under policy.maxChannelsPerForward 10; the edited config lowers the
// ceiling to 2, so the reload is refused (the budget names the forward, the value and the key), the
// running config stays — the tunnel serves on and a document asking 8 still applies — and the
// agent keeps running.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startFleetServer, type FleetServer } from '../helpers/fleet-server.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

interface Status {
  assignments: { revision: number | null; lastError: { code: string } | null };
  sessions: Array<{ id: string; forwards: Array<{ id: string; state: string; remotePort: number | null }> }>;
}

// The CLI must not pick up the developer's own agent settings.
const NO_AGENT_ENV = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('EDGE_AGENT_')).map((k) => [k, undefined]));

describe('edge-agent run: SIGHUP checks the running document against the new budget', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  let fleet: FleetServer;
  let dir: string;

  beforeAll(async () => {
    [sshd, echo, fleet] = await Promise.all([startSshd(), startEchoServer(), startFleetServer()]);
    dir = mkdtempSync(path.join(os.tmpdir(), 'edge-reload-budget-'));
  });
  afterAll(async () => {
    await Promise.all([fleet?.close(), echo?.close(), sshd?.dispose()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const doc = (revision: number, maxChannels: number) => ({
    revision,
    sessions: [{
      id: 'gw', host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'k',
      hostKeys: { knownHostsFile: sshd.knownHostsPath }, reconnect: { retryIntervalMs: 200, maxRetryIntervalMs: 1000 },
      forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}`, maxChannels }],
    }],
  });
  const config = (maxChannelsPerForward: number) => JSON.stringify({
    agent: { id: 'device-reload', drainTimeoutMs: 2000, logFormat: 'text', stateDir: path.join(dir, 'state') },
    admin: { listen: '127.0.0.1:0' },
    credentials: { k: { privateKeyFile: sshd.userKeyPath } },
    policy: { maxChannelsPerForward },
    telemetry: { exporter: 'none' },
    assignments: { url: fleet.url, pollIntervalMs: 3_600_000 },
  });

  it('an explicit maxChannels over the reloaded ceiling refuses the reload; the running config stays', async () => {
    const file = path.join(dir, 'config.json');
    writeFileSync(file, config(10));
    fleet.serve(doc(1, 5));
    const cli = runCli(['run', '--config', file], NO_AGENT_ENV);
    try {
      const admin = (await cli.waitForLine(/status at (http:\/\/\S+)\/status/))[1]!;
      const status = async () => (await (await request(`${admin}/status`)).body.json()) as Status;
      const upPort = () => waitUntil(async () => (await status()).sessions[0]?.forwards.find((f) => f.state === 'up')?.remotePort ?? undefined, 20_000, 'gw/echo up');
      await waitUntil(async () => (await status()).assignments.revision === 1, 20_000, 'revision 1');
      expect((await connectAndCollect((await upPort())!, Buffer.from('before'))).data.toString()).toBe('before');

      writeFileSync(file, config(2));
      cli.child.kill('SIGHUP');
      await waitUntil(() => /SIGHUP: configuration not reloaded, the running one stays: EDGE_ERR_POLICY_BUDGET: .*sessions\[0\]\.forwards\[0\]\.maxChannels \(gw\/echo\): 5 exceeds the local policy\.maxChannelsPerForward 2/.test(cli.stderr()), 20_000, 'the refused reload');
      await waitUntil(() => /SIGHUP: fetched the fleet endpoint/.test(cli.stderr()), 20_000, 'the fetch after it');
      expect(cli.stderr()).not.toMatch(/SIGHUP: configuration reloaded/);
      expect(cli.child.exitCode).toBeNull();
      const st = await status();
      expect(st.assignments.revision).toBe(1);
      expect((await connectAndCollect((await upPort())!, Buffer.from('after'))).data.toString()).toBe('after');

      // The ceiling in force is still 10: a document asking 8 applies.
      fleet.serve(doc(2, 8));
      const res = await request(`${admin}/assignments/refresh`, { method: 'POST' });
      expect(await res.body.json()).toMatchObject({ revision: 2, lastError: null });
    } finally {
      cli.child.kill('SIGTERM');
      await cli.exit;
    }
  });
});
