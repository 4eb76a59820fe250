// What a fleet document may set, end to end: a real fleet endpoint on loopback, a real OpenSSH
// sshd, sessions in worker threads and real HTTP services that count the connections the agent
// opens to them. The local policy lowers a document's http.maxConnections to
// policy.maxHttpConnectionsPerForward (2): six requests at once reach the service over two
// connections, and /status lists the lowered value. Documents that turn off TLS or host key
// verification, name a CA file outside policy.allowedCaFiles, point a session at an SSH host
// outside policy.allowedSshHosts, or widen SSH algorithms are
// rejected whole (EDGE_ERR_POLICY_LOCAL_ONLY) while the running revision keeps serving. The
// local config's own session with the same keys runs as written (its pool is not lowered).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle, type AgentStatus } from '../../src/agent.js';
import { startFleetServer, type FleetServer } from '../helpers/fleet-server.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { TEST_TLS_CERT } from '../helpers/tls-fixture.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

/** An HTTP service that answers /slow after 300 ms and counts the TCP connections it accepted. */
async function startCountingService(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    setTimeout(() => res.end('slow\n'), req.url === '/slow' ? 300 : 0);
  });
  server.on('connection', () => { connections += 1; });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** `count` requests at once, each on its own client connection; resolves with the bodies. */
function requestsAtOnce(port: number, count: number): Promise<string[]> {
  return Promise.all(Array.from({ length: count }, () => new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/slow', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  })));
}

describe('fleet: the local policy bounds what a document may set', () => {
  let sshd: SshdHandle;
  let fleet: FleetServer;
  let remoteService: Awaited<ReturnType<typeof startCountingService>>;
  let localService: Awaited<ReturnType<typeof startCountingService>>;
  let agent: AgentHandle;
  let dir: string;
  let allowedCa: string;
  const logs: string[] = [];

  const session = (id: string, forwards: unknown[], extra: object = {}) => ({
    id, host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'k',
    hostKeys: { knownHostsFile: sshd.knownHostsPath }, reconnect: { retryIntervalMs: 200, maxRetryIntervalMs: 1000 }, forwards, ...extra,
  });
  const webFwd = (http: object = {}) => ({ id: 'web', bind: '127.0.0.1', port: 0, target: `http://127.0.0.1:${remoteService.port}`, http });

  beforeAll(async () => {
    [sshd, fleet, remoteService, localService] = await Promise.all([startSshd(), startFleetServer(), startCountingService(), startCountingService()]);
    fleet.respond(() => ({ status: 503 }));
    dir = mkdtempSync(path.join(os.tmpdir(), 'edge-doc-policy-'));
    mkdirSync(path.join(dir, 'ca'));
    mkdirSync(path.join(dir, 'other'));
    allowedCa = path.join(dir, 'ca', 'internal.pem');
    writeFileSync(allowedCa, TEST_TLS_CERT);
    writeFileSync(path.join(dir, 'other', 'ca.pem'), TEST_TLS_CERT);
    agent = await startAgent({
      agent: { id: 'device-doc-policy', drainTimeoutMs: 2_000, logFormat: 'text', stateDir: path.join(dir, 'state') },
      admin: { listen: '127.0.0.1:0' },
      credentials: { k: { privateKeyFile: sshd.userKeyPath } },
      policy: { maxHttpConnectionsPerForward: 2, allowedCaFiles: [`${path.join(dir, 'ca')}/`], allowedSshHosts: ['127.0.0.1'] },
      // The device owner's own session: every key a document may not set, and a pool above the ceiling.
      sessions: [session('local', [{
        id: 'web', bind: '127.0.0.1', port: 0, target: `http://127.0.0.1:${localService.port}`,
        http: { maxConnections: 50, insecureSkipVerify: true, caFile: path.join(dir, 'other', 'ca.pem') },
      }], { hostKeys: { knownHostsFile: sshd.knownHostsPath, insecureAcceptAny: true } })],
      telemetry: { exporter: 'none' },
      assignments: { url: fleet.url, pollIntervalMs: 60_000 },
    }, {
      log: (level, message) => logs.push(`${level} ${message}`),
      assignments: { responseTimeoutMs: 700, retryBaseMs: 200, retryMaxMs: 600 },
    });
  });
  afterAll(async () => {
    await agent?.destroy();
    await Promise.all([fleet?.close(), remoteService?.close(), localService?.close(), sshd?.dispose()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const status = (): Promise<AgentStatus> => agent.status();
  const portOf = (sessionId: string) => waitUntil(async () => {
    const f = (await status()).sessions.find((s) => s.id === sessionId)?.forwards.find((x) => x.id === 'web');
    return f?.state === 'up' ? f.remotePort ?? undefined : undefined;
  }, 20_000, `${sessionId}/web up`);
  async function serveAndWait(doc: unknown) {
    fleet.serve(doc);
    await agent.refreshAssignments();
    return status();
  }

  it('a document\'s http.maxConnections is lowered to policy.maxHttpConnectionsPerForward: six requests at once, two connections; /status lists it', async () => {
    const st = await serveAndWait({ revision: 1, sessions: [session('gw', [webFwd({ maxConnections: 50 })])] });
    expect(st.assignments).toMatchObject({ revision: 1, lastError: null });
    expect(st.assignments.clampedValues).toEqual([
      { session: 'gw', forward: 'web', path: 'sessions[0].forwards[0].http.maxConnections', asked: 50, applied: 2, limit: 'policy.maxHttpConnectionsPerForward' },
    ]);
    expect(logs.some((l) => /^warn assignment revision 1: sessions\[0\]\.forwards\[0\]\.http\.maxConnections \(gw\/web\) lowered from 50 to 2 by the local policy\.maxHttpConnectionsPerForward/.test(l))).toBe(true);

    const port = (await portOf('gw'))!;
    expect(await requestsAtOnce(port, 6)).toEqual(Array(6).fill('slow\n'));
    expect(remoteService.connections()).toBe(2);
  });

  it('the local config\'s own session keeps what it says: the same six requests open six connections', async () => {
    const port = (await portOf('local'))!;
    expect(await requestsAtOnce(port, 6)).toEqual(Array(6).fill('slow\n'));
    expect(localService.connections()).toBe(6);
  });

  it.each([
    ['http.insecureSkipVerify', (s: typeof session) => s('gw', [webFwd({ insecureSkipVerify: true })]), /sessions\[0\]\.forwards\[0\]\.http\.insecureSkipVerify: turning off TLS verification .*\(policy\.allowInsecureSkipVerify is false/],
    ['http.caFile outside policy.allowedCaFiles', (s: typeof session) => s('gw', [webFwd({ caFile: '/etc/passwd' })]), /sessions\[0\]\.forwards\[0\]\.http\.caFile: "\/etc\/passwd" is not allowed by the local policy\.allowedCaFiles/],
    ['hostKeys.insecureAcceptAny', (s: typeof session) => s('gw', [webFwd()], { hostKeys: { insecureAcceptAny: true } }), /sessions\[0\]\.hostKeys\.insecureAcceptAny: turning off SSH host key verification .*\(policy\.allowInsecureAcceptAny is false/],
    ['a host outside policy.allowedSshHosts', (s: typeof session) => s('gw', [webFwd()], { host: '127.0.0.2' }), /sessions\[0\]\.host: SSH host 127\.0\.0\.2:\d+ is not allowed by the local policy\.allowedSshHosts \["127\.0\.0\.1"\]/],
    ['algorithms', (s: typeof session) => s('gw', [webFwd()], { algorithms: { kex: ['diffie-hellman-group14-sha1'] } }), /sessions\[0\]\.algorithms: weaker SSH algorithms can only be allowed in the local config/],
  ])('a document setting %s is rejected whole (EDGE_ERR_POLICY_LOCAL_ONLY); revision 1 keeps serving', async (_what, make, message) => {
    const revision = (await status()).assignments.revision! + 1;
    const st = await serveAndWait({ revision, sessions: [make(session)] });
    expect(st.assignments.revision).toBe(1);
    expect(st.assignments.lastError).toMatchObject({ code: 'EDGE_ERR_POLICY_LOCAL_ONLY', kind: 'policy', revision });
    expect(st.assignments.lastError!.errors).toEqual([expect.stringMatching(message)]);
    expect(st.assignments.clampedValues).toHaveLength(1);
    const port = (await portOf('gw'))!;
    expect(await requestsAtOnce(port, 1)).toEqual(['slow\n']);
  });

  it('a CA file under policy.allowedCaFiles is accepted; a ceiling below the default lowers the default too', async () => {
    const st = await serveAndWait({ revision: 10, sessions: [session('gw', [webFwd({ caFile: allowedCa })])] });
    expect(st.assignments).toMatchObject({ revision: 10, lastError: null });
    expect(st.assignments.clampedValues).toEqual([expect.objectContaining({ path: 'sessions[0].forwards[0].http.maxConnections', asked: 64, applied: 2 })]);
  });
});
