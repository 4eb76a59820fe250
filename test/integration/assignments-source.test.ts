// The fleet endpoint poller (RemoteAssignmentSource) against real local HTTP(S) servers on
// loopback: conditional requests (304), error backoff, Retry-After, timeouts, body limit,
// bearer token, custom CA, HTTP(S)_PROXY/NO_PROXY through a real CONNECT proxy, the manual
// trigger, and 100 agents' worth of polling spread over the interval by jitter.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpConnectProxy } from '../helpers/proxies.js';
import { errorBackoffMs, jitteredIntervalMs, RemoteAssignmentSource, type FetchResult, type RemoteSourceOptions } from '../../src/assignments/remote-source.js';
import { startFleetServer, type FleetServer } from '../helpers/fleet-server.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

const doc = (revision: number) => ({ revision, sessions: [] });

describe('remote assignment source', () => {
  const cleanup: Array<() => Promise<unknown> | unknown> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function fleet(options: Parameters<typeof startFleetServer>[0] = {}): Promise<FleetServer> {
    const f = await startFleetServer(options);
    cleanup.push(() => f.close());
    return f;
  }
  function source(options: RemoteSourceOptions): RemoteAssignmentSource {
    const s = new RemoteAssignmentSource(options);
    cleanup.push(() => s.close());
    return s;
  }

  it('sends If-None-Match with the ETag of the last accepted document; a 304 costs no body', async () => {
    const f = await fleet();
    f.serve(doc(1));
    let accept = true;
    const results: FetchResult[] = [];
    const s = source({ url: f.url, pollIntervalMs: 60_000, onResult: (r) => { results.push(r); return accept; } });

    const first = await s.refresh();
    expect(first.result).toMatchObject({ kind: 'document', httpStatus: 200, etag: f.etag });
    expect(JSON.parse((first.result as { body: Buffer }).body.toString())).toEqual(doc(1));
    expect(f.requests[0]!.headers['if-none-match']).toBeUndefined();
    expect(f.requests[0]!.headers['user-agent']).toMatch(/^ssh-edge-agent\//);

    const second = await s.refresh();
    expect(second.result).toMatchObject({ kind: 'not-modified', httpStatus: 304 });
    expect(f.requests[1]!.headers['if-none-match']).toBe(f.etag);
    expect(f.requests[1]!.answered).toBe(304);

    const acceptedTag = f.etag;
    f.serve(doc(2));
    accept = false; // e.g. a bad signature: its ETag must not be kept
    expect((await s.refresh()).result.kind).toBe('document');
    await s.refresh();
    expect(f.requests[3]!.headers['if-none-match']).toBe(acceptedTag);
    expect(f.requests[3]!.answered).toBe(200);
    expect(s.stats).toMatchObject({ requests: 4, documents: 3, notModified: 1, errors: 0, etag: acceptedTag });
  });

  it('backs off exponentially with jitter on errors, and polls at the jittered interval again after an answer (injected clock)', async () => {
    const f = await fleet();
    f.respond(() => ({ status: 500, body: 'boom' }));
    const clock = new ManualClock();
    const random = () => 0.75;
    const s = source({ url: f.url, pollIntervalMs: 150, retryBaseMs: 100, retryMaxMs: 800, firstPollMaxDelayMs: 1, random, clock });
    /** Waits for the poll that is due to finish, returns the delay it scheduled next. */
    const settled = async (done: () => boolean) => {
      await waitUntil(() => done() && s.stats.nextPollAt !== null, 10_000, 'the poll to finish');
      return s.stats.nextPollAt! - clock.now();
    };
    s.start();
    const delays: number[] = [];
    for (let n = 1; n <= 5; n++) {
      clock.advance(n === 1 ? 0 : delays.at(-1)!);
      delays.push(await settled(() => s.stats.errors === n));
    }
    // equal jitter: uniform in [c/2, c], c = 100, 200, 400, 800, 800 → 0.75 of the way
    expect(delays).toEqual([88, 175, 350, 700, 700]);
    expect(delays).toEqual([1, 2, 3, 4, 5].map((n) => errorBackoffMs(n, 100, 800, random)));
    expect(f.requests).toHaveLength(5); // nothing polled between the clock's steps

    f.serve(doc(1));
    clock.advance(delays.at(-1)!);
    const next = await settled(() => s.stats.documents === 1);
    expect(s.stats.consecutiveErrors).toBe(0);
    expect(next).toBe(jitteredIntervalMs(150, random)); // back to the interval, jittered (×0.5–1.5)
  });

  it('honours Retry-After in seconds and as an HTTP date', async () => {
    const f = await fleet();
    f.respond(() => ({ status: 503, headers: { 'retry-after': '1' } }));
    const s = source({ url: f.url, pollIntervalMs: 100, retryBaseMs: 50, retryMaxMs: 100, firstPollMaxDelayMs: 1 });
    s.start();
    await f.waitForRequests(3, 10_000);
    for (let i = 1; i < 3; i++) {
      const gap = f.requests[i]!.at - f.requests[i - 1]!.at;
      expect(gap).toBeGreaterThanOrEqual(995);
      expect(gap).toBeLessThan(1_700);
    }
    const cycle = await s.refresh(); // a manual trigger does not wait for Retry-After
    expect(cycle.result).toMatchObject({ kind: 'error', errorKind: 'http', httpStatus: 503, retryAfterMs: 1000 });
    expect(cycle.result.kind === 'error' && cycle.result.error.message).toMatch(/HTTP 503.*Retry-After 1 s/);
    await s.close();

    const g = await fleet();
    g.respond(() => ({ status: 429, headers: { 'retry-after': new Date(Date.now() + 2_000).toUTCString() } }));
    const t = source({ url: g.url, pollIntervalMs: 100, retryBaseMs: 50, retryMaxMs: 100, firstPollMaxDelayMs: 1 });
    t.start();
    await g.waitForRequests(2, 10_000);
    // The date has a 1 s resolution: at least ~1 s, never the 50-100 ms backoff.
    expect(g.requests[1]!.at - g.requests[0]!.at).toBeGreaterThanOrEqual(900);
  });

  it('times out a hanging endpoint, reports refused connections, and refuses an oversized body', async () => {
    const f = await fleet();
    f.respond(() => 'hang');
    const s = source({ url: f.url, pollIntervalMs: 60_000, responseTimeoutMs: 300 });
    const started = Date.now();
    const hung = (await s.refresh()).result;
    expect(hung).toMatchObject({ kind: 'error', errorKind: 'timeout' });
    expect(hung.kind === 'error' && hung.error.message).toMatch(/response timeout/);
    expect(Date.now() - started).toBeLessThan(3_000);

    f.respond(() => ({ status: 200, body: Buffer.alloc(5 * 1024 * 1024, 0x20) }));
    const big = (await s.refresh()).result;
    expect(big).toMatchObject({ kind: 'error', errorKind: 'http' });
    expect(big.kind === 'error' && big.error.message).toMatch(/more than the 4194304 bytes/);

    f.respond(() => ({ status: 302, headers: { location: 'http://127.0.0.1:1/elsewhere' } }));
    const moved = (await s.refresh()).result;
    expect(moved.kind === 'error' && moved.error.message).toMatch(/redirects are not followed/);

    const closed = await fleet();
    const url = closed.url;
    await closed.close();
    const t = source({ url, pollIntervalMs: 60_000 });
    const refused = (await t.refresh()).result;
    expect(refused).toMatchObject({ kind: 'error', errorKind: 'fetch', error: { code: 'EDGE_ERR_CONNECT_REFUSED' } });
  });

  it('sends the bearer token from the named env var, and never logs it', async () => {
    const f = await fleet();
    f.respond((req) => (req.headers.authorization === 'Bearer s3cret-t0ken' ? { status: 200, body: JSON.stringify(doc(1)) } : { status: 401 }));
    const logs: string[] = [];
    const log = (level: string, message: string, fields?: Record<string, unknown>) => logs.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
    const s = source({ url: f.url, pollIntervalMs: 60_000, tokenEnv: 'FLEET_TOKEN', env: { FLEET_TOKEN: 's3cret-t0ken' }, log });
    expect((await s.refresh()).result.kind).toBe('document');
    expect(logs.join('\n')).toMatch(/over plain http/); // a warning, without the token

    const t = source({ url: f.url, pollIntervalMs: 60_000, tokenEnv: 'FLEET_TOKEN', env: { FLEET_TOKEN: 'wrong' }, log, firstPollMaxDelayMs: 1 });
    t.start();
    await waitUntil(() => logs.some((l) => l.includes('HTTP 401')), 5_000, 'the 401 to be logged');
    const denied = (await t.refresh()).result;
    expect(denied.kind === 'error' && denied.error.message).toMatch(/HTTP 401: check the bearer token in \$FLEET_TOKEN/);
    const u = source({ url: f.url, pollIntervalMs: 60_000, tokenEnv: 'FLEET_TOKEN', env: {}, log });
    const unset = (await u.refresh()).result;
    expect(unset.kind === 'error' && unset.error.message).toMatch(/\$FLEET_TOKEN \(it is not set\)/);
    expect(f.requests[f.requests.length - 1]!.headers.authorization).toBeUndefined();
    expect(logs.join('\n')).not.toMatch(/s3cret|wrong/);
  });

  it('trusts the endpoint\'s private CA from caFile (and not without it)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-fleet-ca-'));
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=edge test fleet CA');
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1');
    writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
    ssl('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.crt', '-days', '2', '-extfile', 'ext.cnf');
    const f = await fleet({ tls: { key: readFileSync(path.join(dir, 'srv.key')), cert: readFileSync(path.join(dir, 'srv.crt')) } });
    f.serve(doc(3));
    expect(f.url).toMatch(/^https:/);

    const trusted = source({ url: f.url, pollIntervalMs: 60_000, caFile: path.join(dir, 'ca.crt') });
    const ok = (await trusted.refresh()).result;
    expect(ok.kind).toBe('document');

    const untrusted = source({ url: f.url, pollIntervalMs: 60_000 });
    const bad = (await untrusted.refresh()).result;
    expect(bad).toMatchObject({ kind: 'error', errorKind: 'fetch' });
    expect(bad.kind === 'error' && bad.error.message).toMatch(/certificate|self.signed|issuer/i);

    expect(() => new RemoteAssignmentSource({ url: f.url, pollIntervalMs: 1000, caFile: path.join(dir, 'nope.crt') })).toThrow(/assignments\.caFile: cannot read .*no such file/);
  });

  it('goes through HTTP_PROXY/HTTPS_PROXY (CONNECT) unless NO_PROXY matches', async () => {
    const f = await fleet();
    f.serve(doc(1));
    const proxy = await startHttpConnectProxy();
    cleanup.push(() => proxy.close());
    const proxyUrl = proxy.url;
    const connects = () => proxy.requests.map((r) => r.target);

    const saved = { HTTP_PROXY: process.env.HTTP_PROXY, http_proxy: process.env.http_proxy, NO_PROXY: process.env.NO_PROXY, no_proxy: process.env.no_proxy };
    try {
      delete process.env.http_proxy;
      delete process.env.no_proxy;
      delete process.env.NO_PROXY;
      process.env.HTTP_PROXY = proxyUrl;
      const via = source({ url: f.url, pollIntervalMs: 60_000 });
      expect((await via.refresh()).result.kind).toBe('document');
      expect(connects()).toEqual([`127.0.0.1:${f.port}`]);

      process.env.NO_PROXY = '127.0.0.1';
      const direct = source({ url: f.url, pollIntervalMs: 60_000 });
      expect((await direct.refresh()).result.kind).toBe('document');
      expect(connects()).toHaveLength(1);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    // The same through explicit options (what the agent's library tuning passes).
    const explicit = source({ url: f.url, pollIntervalMs: 60_000, proxy: { httpProxy: proxyUrl } });
    expect((await explicit.refresh()).result.kind).toBe('document');
    expect(connects()).toHaveLength(2);
  });

  it('a manual trigger during a request in flight is served by one follow-up request', async () => {
    const f = await fleet();
    let n = 0;
    const body = JSON.stringify(doc(1));
    f.respond(() => ({ status: 200, body }));
    const slow = http.createServer((_req, res) => { n += 1; setTimeout(() => { res.writeHead(200); res.end(body); }, 300); });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => new Promise<void>((r) => { slow.closeAllConnections(); slow.close(() => r()); }));
    const s = source({ url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/`, pollIntervalMs: 60_000 });
    const first = s.refresh();
    await new Promise((r) => setTimeout(r, 50));
    const [a, b, c] = await Promise.all([first, s.refresh(), s.refresh()]);
    expect(n).toBe(2);
    expect(b).toBe(c);
    expect(b.startedAt).toBeGreaterThanOrEqual(a.startedAt + 250);
  });
});
