// Fleet assignments end to end, in process (startAgent; sessions still run in worker threads):
// a real local HTTP server plays the fleet endpoint and changes its answer during the test,
// two real OpenSSH sshd carry the tunnels. Revisions add, retarget and remove forwards and
// sessions live — a 20 MB transfer through an unchanged forward survives, the session never
// reconnects — and nothing bad the endpoint sends (schema errors, forbidden targets, stale
// revisions, bad signatures, 500s, timeouts, garbage) disturbs the tunnels that run.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle, type AgentStatus } from '../../src/agent.js';
import { readAssignmentCache } from '../../src/assignments/cache.js';
import { startFleetServer, type FleetServer } from '../helpers/fleet-server.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, pseudoRandomChunks, pseudoRandomSha256, startEchoServer, startSinkServer, startSourceServer, type SinkServer, type SourceServer, type TcpService } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

const MB = 1024 * 1024;
const POLL_MS = 300;

describe('fleet assignments, live', () => {
  let a: SshdHandle;
  let b: SshdHandle;
  let echo: TcpService;
  let sink: SinkServer;
  let source: SourceServer;
  let fleet: FleetServer;
  let agent: AgentHandle;
  let cacheFile: string;
  const logs: string[] = [];
  const keys = generateKeyPairSync('ed25519');
  const impostor = generateKeyPairSync('ed25519');

  beforeAll(async () => {
    [a, b] = await Promise.all([startSshd(), startSshd()]);
    [echo, sink, source] = await Promise.all([startEchoServer(), startSinkServer(), startSourceServer(256 * 1024, { seed: 7 })]);
    fleet = await startFleetServer({ signingKey: keys.privateKey });
    fleet.respond(() => ({ status: 503 })); // nothing assigned yet
    cacheFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'edge-live-')), 'cache', 'assignments.json');
    agent = await startAgent({
      agent: { id: 'device-test', drainTimeoutMs: 10_000, logLevel: 'debug', logFormat: 'text' },
      admin: { listen: '127.0.0.1:0' },
      credentials: { ka: { privateKeyFile: a.userKeyPath }, kb: { privateKeyFile: b.userKeyPath } },
      telemetry: { exporter: 'none' },
      assignments: {
        url: fleet.url, pollIntervalMs: POLL_MS, cacheFile, tokenEnv: 'EDGE_AGENT_TOKEN', caFile: '',
        signingPublicKey: keys.publicKey.export({ type: 'spki', format: 'pem' }) as string,
      },
    }, {
      log: (level, message) => logs.push(`${level} ${message}`),
      assignments: { responseTimeoutMs: 700, retryBaseMs: 200, retryMaxMs: 600 },
    });
  });
  afterAll(async () => {
    await agent?.destroy();
    await Promise.all([fleet?.close(), echo?.close(), sink?.close(), source?.close(), a?.dispose(), b?.dispose()]);
  });

  const fwd = (id: string, target: string) => ({ id, bind: '127.0.0.1', port: 0, target });
  const session = (sshd: SshdHandle, id: string, forwards: unknown[]) => ({
    id, host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: id === 'a' ? 'ka' : 'kb',
    hostKeys: { knownHostsFile: sshd.knownHostsPath }, reconnect: { retryIntervalMs: 200, maxRetryIntervalMs: 1000 }, forwards,
  });
  const tcp = (s: TcpService) => `tcp://127.0.0.1:${s.port}`;

  const status = (): Promise<AgentStatus> => agent.status();
  const sessionOf = async (id: string) => (await status()).sessions.find((s) => s.id === id);
  const forwardOf = async (sid: string, fid: string) => (await sessionOf(sid))?.forwards.find((f) => f.id === fid);
  const portOf = async (sid: string, fid: string) => (await forwardOf(sid, fid))!.remotePort!;
  const waitRevision = (n: number, ms = 20_000) => waitUntil(async () => (await status()).assignments.revision === n, ms, `revision ${n}`);
  const waitUp = (pairs: Array<[string, string]>, ms = 20_000) => waitUntil(async () => {
    for (const [s, f] of pairs) if ((await forwardOf(s, f))?.state !== 'up') return false;
    return true;
  }, ms, `forwards ${pairs.map((p) => p.join('/')).join(', ')} up`);
  /** SSH logins sshd accepted: the connect counter (a reconnect would add one). */
  const logins = (sshd: SshdHandle) => (sshd.logs().match(/Accepted publickey/g) ?? []).length;
  const echoes = async (sid: string, fid: string) => (await connectAndCollect(await portOf(sid, fid), Buffer.from(`ping ${sid}/${fid}`))).data.toString() === `ping ${sid}/${fid}`;

  // The state after each step, for "the last good document keeps running".
  let last: { revision: number; attemptA: number; threadA: number | null; loginsA: number };
  async function expectLastGoodRunning(): Promise<void> {
    const st = await status();
    expect(st.assignments.revision).toBe(last.revision);
    const sa = st.sessions.find((s) => s.id === 'a')!;
    expect(sa.state).toBe('connected');
    expect(sa.attempt).toBe(last.attemptA);
    expect(sa.threadId).toBe(last.threadA);
    expect(logins(a)).toBe(last.loginsA);
    expect(await echoes('a', 'new')).toBe(true);
  }
  const remember = async (revision: number) => {
    const sa = (await sessionOf('a'))!;
    last = { revision, attemptA: sa.attempt, threadA: sa.threadId, loginsA: logins(a) };
  };

  it('revision 1 with one forward: the forward comes up and carries traffic; /status shows the remote source', async () => {
    fleet.serve({ revision: 1, sessions: [session(a, 'a', [fwd('sink', tcp(sink))])] });
    await waitRevision(1);
    await waitUp([['a', 'sink']]);
    const before = sink.results.length;
    await connectAndCollect(await portOf('a', 'sink'), Buffer.from('hello'));
    await sink.waitForResults(before + 1);
    expect(sink.results[before]!.bytes).toBe(5);
    const st = await status();
    expect(st.assignments).toMatchObject({ source: 'remote', revision: 1, lastError: null, refusedForwards: [], signed: true });
    expect(st.assignments.endpoint).toBe(fleet.url);
    expect(st.assignments.lastFetch).toMatchObject({ outcome: expect.stringMatching(/applied|not-modified/), httpStatus: expect.any(Number) });
    expect(fleet.requests.at(-1)!.headers['x-edge-agent-id']).toBe('device-test');
  });

  it('304: once applied, polls send If-None-Match and get 304 without a body', async () => {
    const n = fleet.requests.length;
    await fleet.waitForRequests(n + 2, 5_000);
    for (const r of fleet.requests.slice(n, n + 2)) {
      expect(r.headers['if-none-match']).toBe(fleet.etag);
      expect(r.answered).toBe(304);
    }
    const st = await status();
    expect(st.assignments.lastFetch!.outcome).toBe('not-modified');
    expect(st.assignments.fetches!.notModified).toBeGreaterThanOrEqual(2);
    // The cache holds revision 1, written atomically.
    expect(await readAssignmentCache(cacheFile)).toMatchObject({ status: 'ok', entry: { revision: 1, etag: fleet.etag } });
  });

  it('revision 2 adds a forward and a session, without reconnecting the running session', async () => {
    await remember(1);
    fleet.serve({ revision: 2, sessions: [
      session(a, 'a', [fwd('sink', tcp(sink)), fwd('r', tcp(echo))]),
      session(b, 'b', [fwd('echo', tcp(echo))]),
    ] });
    await waitRevision(2);
    await waitUp([['a', 'sink'], ['a', 'r'], ['b', 'echo']]);
    expect(await echoes('a', 'r')).toBe(true);
    expect(await echoes('b', 'echo')).toBe(true);
    const sa = (await sessionOf('a'))!;
    expect(sa.attempt).toBe(last.attemptA);
    expect(sa.threadId).toBe(last.threadA);
    expect(logins(a)).toBe(last.loginsA);
  });

  it('revision 3 adds a forward and retargets another while a 20 MB transfer runs through a third: transfer intact, no reconnect', async () => {
    await remember(2);
    const sinkPort = await portOf('a', 'sink');
    const rPort = await portOf('a', 'r');
    const before = sink.results.length;
    const transfer = connectAndCollect(sinkPort, (async function* () {
      for (const chunk of pseudoRandomChunks(20 * MB, 11)) {
        yield chunk;
        await new Promise((r) => setTimeout(r, 6));
      }
    })(), { timeoutMs: 90_000 });
    await waitUntil(() => sink.bytesReceived > 1 * MB, 15_000, 'the transfer to start');

    fleet.serve({ revision: 3, sessions: [
      session(a, 'a', [fwd('sink', tcp(sink)), fwd('r', tcp(source)), fwd('new', tcp(echo))]),
      session(b, 'b', [fwd('echo', tcp(echo))]),
    ] });
    await waitRevision(3);
    const receivedAtApply = sink.bytesReceived;
    await waitUp([['a', 'new']]);

    // Retarget in effect, on the same server-side listener.
    expect(await portOf('a', 'r')).toBe(rPort);
    const viaR = await connectAndCollect(rPort, Buffer.alloc(0));
    expect(viaR.bytes).toBe(source.bytes);
    expect(viaR.sha256).toBe(source.expectedSha256);
    // New forward up and serving.
    expect(await echoes('a', 'new')).toBe(true);

    // The transfer was in flight while revision 3 was applied, and arrives intact.
    await transfer;
    await waitUntil(() => sink.results.slice(before).some((r) => r.bytes === 20 * MB), 60_000, 'the 20 MB to reach the sink');
    expect(receivedAtApply).toBeLessThan(20 * MB);
    expect(sink.results.slice(before).find((r) => r.bytes === 20 * MB)!.sha256).toBe(pseudoRandomSha256(20 * MB, 11));

    // Same SSH connection all along.
    const sa = (await sessionOf('a'))!;
    expect(sa.state).toBe('connected');
    expect(sa.attempt).toBe(last.attemptA);
    expect(sa.threadId).toBe(last.threadA);
    expect(logins(a)).toBe(last.loginsA);
    expect((await forwardOf('a', 'sink'))!.remotePort).toBe(sinkPort);
  });

  it('revision 4 removes a session: its open channel drains, then its port closes; the other session is untouched', async () => {
    await remember(3);
    const bPort = await portOf('b', 'echo');
    const held = net.connect({ host: '127.0.0.1', port: bPort });
    held.on('error', () => {});
    const read = () => new Promise<string>((r) => held.once('data', (d: Buffer) => r(d.toString())));
    held.write('one');
    expect(await read()).toBe('one');

    fleet.serve({ revision: 4, sessions: [
      session(a, 'a', [fwd('sink', tcp(sink)), fwd('r', tcp(source)), fwd('new', tcp(echo))]),
    ] });
    // Draining: no new connections on b's port...
    await waitUntil(async () => {
      const r = await connectAndCollect(bPort, Buffer.from('late'), { allowError: true, timeoutMs: 2_000 }).catch((e: Error) => ({ error: e }));
      return 'error' in r && r.error !== undefined;
    }, 15_000, 'new connections to b to be refused');
    // ...while the open channel still works until it ends.
    held.write('two');
    expect(await read()).toBe('two');
    expect((await status()).assignments.revision).toBe(3); // applied once b has stopped
    held.end();
    await waitRevision(4);
    expect(await sessionOf('b')).toBeUndefined();
    const refused = await connectAndCollect(bPort, Buffer.from('x'), { allowError: true, timeoutMs: 2_000 }).catch((e: Error) => ({ error: e }));
    expect('error' in refused && refused.error).toBeTruthy();

    const sa = (await sessionOf('a'))!;
    expect(sa.attempt).toBe(last.attemptA);
    expect(sa.threadId).toBe(last.threadA);
    expect(logins(a)).toBe(last.loginsA);
    expect(await echoes('a', 'new')).toBe(true);
    await remember(4);
  });

  const rev4Sessions = () => [session(a, 'a', [fwd('sink', tcp(sink)), fwd('r', tcp(source)), fwd('new', tcp(echo))])];

  it('a document with schema errors is rejected whole, every error with its JSON path; the last good keeps running', async () => {
    const bad = { revision: 5, sessions: rev4Sessions() } as { revision: number; sessions: Array<Record<string, unknown> & { forwards: Array<Record<string, unknown>> }> };
    bad.sessions[0]!.forwards[0]!.port = 70000;
    delete bad.sessions[0]!.username;
    bad.sessions.push({ ...session(a, 'c', []), credential: 'nope', forwards: [] });
    fleet.serve(bad);
    await waitUntil(async () => (await status()).assignments.lastError?.kind === 'invalid', 10_000, 'the rejection');
    const { assignments } = await status();
    expect(assignments.lastError).toMatchObject({ code: 'EDGE_ERR_INVALID_CONFIG', revision: 5 });
    expect(assignments.lastError!.errors).toEqual(expect.arrayContaining([
      'sessions[0].username: is required',
      'sessions[0].forwards[0].port: must be <= 65535 (got 70000)',
      expect.stringMatching(/^sessions\[1\]\.credential: unknown credential "nope"/),
    ]));
    expect(assignments.lastFetch!.outcome).toBe('rejected');
    expect(logs.some((l) => l.startsWith('error Assignment rejected') && l.includes('sessions[0].forwards[0].port'))).toBe(true);
    await expectLastGoodRunning();
  });

  it('a forbidden target or bind address is refused with a clear reason while the rest of the document applies', async () => {
    fleet.serve({ revision: 5, sessions: [session(a, 'a', [
      fwd('sink', tcp(sink)), fwd('r', tcp(source)), fwd('new', tcp(echo)),
      fwd('lan', 'tcp://192.0.2.10:22'), { ...fwd('open', tcp(echo)), bind: '0.0.0.0' }, fwd('extra', tcp(echo)),
    ])] });
    await waitRevision(5);
    await waitUp([['a', 'extra']]);
    const st = await status();
    expect(st.assignments.lastError).toBeNull();
    expect(st.assignments.refusedForwards).toEqual([
      expect.objectContaining({ session: 'a', forward: 'lan', path: 'sessions[0].forwards[3]', reason: expect.stringContaining('not allowed by the local policy.allowedTargets') }),
      expect.objectContaining({ session: 'a', forward: 'open', path: 'sessions[0].forwards[4]', reason: expect.stringContaining('not allowed by the local policy.allowedBindAddresses') }),
    ]);
    const lan = (await forwardOf('a', 'lan'))!;
    expect(lan).toMatchObject({ state: 'refused', remotePort: null, lastError: { message: expect.stringContaining('refused by the local policy') } });
    expect((await request(`${agent.adminUrl}/readyz`)).statusCode).toBe(503); // an assigned forward is not up
    expect(await echoes('a', 'extra')).toBe(true);
    expect(logs.some((l) => /forward a\/lan .* refused: target tcp:\/\/192\.0\.2\.10:22/.test(l))).toBe(true);
    await remember(5);
    await expectLastGoodRunning();
  });

  it('a stale revision is ignored, and so is a changed document under the running revision', async () => {
    fleet.serve({ revision: 3, sessions: [] });
    await waitUntil(async () => (await status()).assignments.lastError?.kind === 'stale', 10_000, 'the stale revision to be reported');
    expect((await status()).assignments.lastError!.message).toMatch(/revision 3 ignored: revision 5 is running/);
    await expectLastGoodRunning();
    fleet.serve({ revision: 5, sessions: [] });
    await waitUntil(async () => /revision 5 ignored: it differs from the running revision 5/.test((await status()).assignments.lastError?.message ?? ''), 10_000, 'the conflicting revision 5 to be reported');
    await expectLastGoodRunning();
    expect((await sessionOf('a'))!.forwards.filter((f) => f.state === 'up')).toHaveLength(4);
  });

  it('an unsigned or badly signed document is rejected', async () => {
    const next = { revision: 6, sessions: [] };
    fleet.serve(next, { signWith: impostor.privateKey });
    await waitUntil(async () => (await status()).assignments.lastError?.kind === 'signature', 10_000, 'the bad signature to be reported');
    expect((await status()).assignments.lastError!.message).toMatch(/does not verify against assignments\.signingPublicKey/);
    await expectLastGoodRunning();
    fleet.serve(next, { sign: false });
    await waitUntil(async () => /unsigned/.test((await status()).assignments.lastError?.message ?? ''), 10_000, 'the unsigned document to be reported');
    // Signed correctly but with one byte changed after signing.
    fleet.serve(next, { raw: JSON.stringify(next) + ' ', signature: (await import('../../src/assignments/signature.js')).signAssignmentBody(Buffer.from(JSON.stringify(next)), keys.privateKey) });
    await waitUntil(async () => (await status()).assignments.fetches!.rejected >= 3 && (await status()).assignments.lastError?.kind === 'signature', 10_000, 'the tampered document');
    await expectLastGoodRunning();
  });

  it('a 500 and a timeout are retried with backoff; garbage bytes are rejected; the last good keeps running throughout', async () => {
    fleet.respond(() => ({ status: 500, body: 'internal error' }));
    let n = fleet.requests.length;
    await waitUntil(async () => (await status()).assignments.lastError?.httpStatus === 500, 10_000, 'the 500 to be reported');
    await fleet.waitForRequests(n + 3, 10_000); // retried
    expect((await status()).assignments.lastError).toMatchObject({ kind: 'http', code: 'EDGE_ERR_NETWORK', message: expect.stringContaining('answered HTTP 500') });
    expect((await status()).assignments.fetches!.consecutiveErrors).toBeGreaterThanOrEqual(2);
    await expectLastGoodRunning();

    fleet.respond(() => 'hang');
    n = fleet.requests.length;
    await waitUntil(async () => (await status()).assignments.lastError?.kind === 'timeout', 10_000, 'the timeout to be reported');
    await fleet.waitForRequests(n + 2, 10_000); // retried
    expect((await status()).assignments.lastError!.message).toMatch(/response timeout/);
    await expectLastGoodRunning();

    // Signed garbage (a document is checked for its signature first, then for being JSON).
    fleet.serve(null, { raw: Buffer.from([0xff, 0xfe, 0x00, 0x81, 0x9c, 0x42, 0x7b]) });
    await waitUntil(async () => /not UTF-8/.test((await status()).assignments.lastError?.message ?? ''), 10_000, 'the garbage to be rejected');
    fleet.serve(null, { raw: '{"revision": 6, "sessions": [' });
    await waitUntil(async () => /not JSON/.test((await status()).assignments.lastError?.message ?? ''), 10_000, 'the truncated JSON to be rejected');
    await expectLastGoodRunning();
    expect(logs.some((l) => /document from .* rejected, the running assignment is unchanged: the body .* is not JSON/.test(l))).toBe(true);
  });

  it('a good revision after all that applies at once; POST /assignments/refresh fetches immediately', async () => {
    fleet.serve({ revision: 6, sessions: rev4Sessions() });
    await waitRevision(6);
    const st = await status();
    expect(st.assignments).toMatchObject({ revision: 6, lastError: null, refusedForwards: [] });
    expect(await forwardOf('a', 'lan')).toBeUndefined();
    expect(await forwardOf('a', 'extra')).toBeUndefined();
    last.revision = 6;
    await expectLastGoodRunning();

    fleet.serve({ revision: 7, sessions: rev4Sessions().map((s) => ({ ...s, forwards: [...s.forwards, fwd('seven', tcp(echo))] })) });
    const res = await request(`${agent.adminUrl}/assignments/refresh`, { method: 'POST' });
    expect(res.statusCode).toBe(200);
    const body = await res.body.json() as { revision: number; lastFetch: { trigger: string; outcome: string } };
    expect(body).toMatchObject({ revision: 7, lastFetch: { trigger: 'manual', outcome: 'applied' } });
    await waitUp([['a', 'seven']]);
    expect((await request(`${agent.adminUrl}/assignments/refresh`)).statusCode).toBe(405);
    expect(await readAssignmentCache(cacheFile)).toMatchObject({ status: 'ok', entry: { revision: 7 } });
    last.revision = 7;
    await expectLastGoodRunning();
  });
});
