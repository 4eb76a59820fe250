// Offline boot: the last good assignment document is cached on disk (atomically) and a device
// that boots while its fleet endpoint is unreachable holds its tunnels from the cache; when the
// endpoint comes back, a 304 for the cached ETag confirms the cache. A corrupt or unusable cache
// file is reported in a log line and ignored, never a crash. Real sshd, real HTTP endpoint.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent.js';
import { CACHE_FORMAT, readAssignmentCache } from '../../src/assignments/cache.js';
import { startFleetServer, type FleetServer } from '../helpers/fleet-server.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, freePort, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

describe('fleet assignments, offline boot and the cache file', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  let fleet: FleetServer;
  let fleetPort: number;
  let dir: string;
  let cacheFile: string;
  const agents: AgentHandle[] = [];

  beforeAll(async () => {
    sshd = await startSshd();
    echo = await startEchoServer();
    // restarted on this port later: drawn below the ephemeral range, so no port-0 listener of a
    // test running alongside can take it while the endpoint is down
    fleetPort = await freePort();
    fleet = await startFleetServer({ port: fleetPort });
    dir = mkdtempSync(path.join(os.tmpdir(), 'edge-offline-'));
    cacheFile = path.join(dir, 'state', 'assignments.json');
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.destroy()));
    await Promise.all([fleet?.close(), echo?.close(), sshd?.dispose()]);
  });

  const doc = (revision: number, forwardId = 'echo') => ({
    revision,
    sessions: [{
      id: 'gw', host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'k',
      hostKeys: { knownHostsFile: sshd.knownHostsPath }, reconnect: { retryIntervalMs: 200, maxRetryIntervalMs: 1000 },
      forwards: [{ id: forwardId, bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }],
    }],
  });

  async function device(options: { url?: string; cache?: string; signingPublicKey?: string; sessions?: unknown[] } = {}) {
    const logs: string[] = [];
    const agent = await startAgent({
      agent: { id: 'device-offline', drainTimeoutMs: 2_000, logLevel: 'debug', logFormat: 'text' },
      admin: { listen: '' },
      credentials: { k: { privateKeyFile: sshd.userKeyPath } },
      telemetry: { exporter: 'none' },
      sessions: (options.sessions ?? []) as never,
      assignments: {
        url: options.url ?? fleet.url, pollIntervalMs: 300, cacheFile: options.cache ?? cacheFile,
        tokenEnv: 'EDGE_AGENT_TOKEN', caFile: '', signingPublicKey: options.signingPublicKey ?? '',
      },
    }, { log: (level, message) => logs.push(`${level} ${message}`), assignments: { retryBaseMs: 200, retryMaxMs: 600 } });
    agents.push(agent);
    return { agent, logs };
  }
  const forwardUpAndEchoing = async (agent: AgentHandle, forwardId = 'echo') => {
    const port = await waitUntil(async () => {
      const f = (await agent.status()).sessions.find((s) => s.id === 'gw')?.forwards.find((x) => x.id === forwardId);
      return f?.state === 'up' ? f.remotePort : null;
    }, 20_000, `forward ${forwardId} up`);
    expect((await connectAndCollect(port!, Buffer.from('from the cache'))).data.toString()).toBe('from the cache');
  };

  it('writes the last good document to the cache file atomically (mode 0600, exact bytes, ETag)', async () => {
    fleet.serve(doc(7));
    const { agent } = await device();
    await waitUntil(async () => (await agent.status()).assignments.revision === 7, 20_000, 'revision 7');
    await forwardUpAndEchoing(agent);
    const read = await readAssignmentCache(cacheFile);
    expect(read).toMatchObject({ status: 'ok', entry: { format: CACHE_FORMAT, revision: 7, etag: fleet.etag, signature: null } });
    expect(read.status === 'ok' && JSON.parse(read.entry.body)).toEqual(doc(7));
    expect(statSync(cacheFile).mode & 0o777).toBe(0o600);
    expect((await agent.status()).assignments.cache).toMatchObject({ file: cacheFile, lastWriteAt: expect.any(String), lastError: null });
    await agent.close();
  });

  let offline: AgentHandle;
  it('boots from the cache while the endpoint is unreachable: tunnels up, /status source "cache"', async () => {
    await fleet.close(); // connection refused from now on
    const { agent, logs } = await device();
    offline = agent;
    await waitUntil(async () => (await agent.status()).assignments.source === 'cache', 15_000, 'the cache to be applied');
    const { assignments } = await agent.status();
    expect(assignments).toMatchObject({ source: 'cache', revision: 7, cache: { loadedRevision: 7 } });
    expect(assignments.lastError).toMatchObject({ kind: 'fetch', code: 'EDGE_ERR_CONNECT_REFUSED' });
    await forwardUpAndEchoing(agent);
    expect(logs.some((l) => /applied cached revision 7 from .*assignments\.json \(the endpoint is unreachable/.test(l))).toBe(true);
  });

  it('when the endpoint returns, a 304 for the cached ETag confirms the cache (source "remote"); a newer revision applies', async () => {
    fleet = await startFleetServer({ port: fleetPort });
    fleet.serve(doc(7));
    await waitUntil(async () => (await offline.status()).assignments.source === 'remote', 15_000, 'the endpoint to confirm the cache');
    const { assignments } = await offline.status();
    expect(assignments).toMatchObject({ revision: 7, lastError: null, lastFetch: { outcome: 'not-modified', httpStatus: 304 } });
    expect(fleet.requests[0]!.headers['if-none-match']).toBe(fleet.etag);
    fleet.serve(doc(8, 'echo8'));
    await waitUntil(async () => (await offline.status()).assignments.revision === 8, 15_000, 'revision 8');
    await forwardUpAndEchoing(offline, 'echo8');
    await offline.close();
    expect(await readAssignmentCache(cacheFile)).toMatchObject({ status: 'ok', entry: { revision: 8 } });
  });

  it('also sends the cached ETag at boot: an endpoint that answers 304 gets the cache applied as confirmed', async () => {
    const { agent } = await device();
    await waitUntil(async () => (await agent.status()).assignments.revision === 8, 15_000, 'revision 8');
    expect((await agent.status()).assignments).toMatchObject({ source: 'remote', lastFetch: { outcome: 'not-modified' } });
    await agent.close();
  });

  it('at boot, a remote revision older than the cache is stale: the cache runs', async () => {
    fleet.serve(doc(5, 'old'));
    const { agent } = await device();
    await waitUntil(async () => (await agent.status()).assignments.lastError?.kind === 'stale', 15_000, 'the stale revision to be reported');
    const { assignments } = await agent.status();
    expect(assignments).toMatchObject({ source: 'cache', revision: 8 });
    expect(assignments.lastError!.message).toMatch(/revision 5 ignored: revision 8 is running/);
    await forwardUpAndEchoing(agent, 'echo8');
    await agent.close();
  });

  it('a corrupt cache file is reported in a log line and ignored; the agent runs its static sessions', async () => {
    await fleet.close();
    const staticSession = { ...doc(0).sessions[0]!, forwards: [{ id: 'static', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }] };
    const good = readFileSync(cacheFile, 'utf8');
    const envelope = JSON.parse(good) as Record<string, unknown>;
    const corruptions: Array<[string, string, RegExp]> = [
      ['garbage', '\u0000\u0001 not json at all', /not JSON/],
      ['truncated', good.slice(0, Math.floor(good.length / 2)), /not JSON/],
      ['invalid document', JSON.stringify({ ...envelope, revision: 9, body: JSON.stringify({ revision: 9, sessions: [{ id: 'x' }] }) }), /not valid against the local config: sessions\[0\]/],
      ['revision mismatch', JSON.stringify({ ...envelope, revision: 99 }), /revision does not match/],
    ];
    for (const [what, content, why] of corruptions) {
      const file = path.join(dir, `corrupt-${what.replace(/ /g, '-')}.json`);
      writeFileSync(file, content);
      const { agent, logs } = await device({ cache: file, sessions: [staticSession] });
      await waitUntil(async () => (await agent.status()).assignments.lastFetch !== null, 15_000, `a first fetch (${what})`);
      const line = logs.find((l) => l.includes('is corrupt or unusable and was ignored'));
      expect(line, what).toMatch(why);
      expect(line).toContain(file);
      const { assignments } = await agent.status();
      expect(assignments).toMatchObject({ source: 'static', revision: null, cache: { loadedRevision: null, lastError: expect.stringMatching(why) } });
      await forwardUpAndEchoing(agent, 'static');
      await agent.destroy();
    }
  });

  it('with signingPublicKey set, a cache whose signature does not verify is ignored too', async () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const { agent, logs } = await device({ signingPublicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string });
    await waitUntil(async () => (await agent.status()).assignments.lastFetch !== null, 15_000, 'a first fetch');
    expect(logs.find((l) => l.includes('was ignored'))).toMatch(/signature check failed: the document is unsigned/);
    expect((await agent.status()).assignments).toMatchObject({ source: 'static', revision: null, signed: true });
    await agent.destroy();
  });
});
