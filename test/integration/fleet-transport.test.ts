// The fleet client's own HTTP transport (node:http/https, src/assignments/fleet-transport.ts,
// fleet-proxy.ts) against real loopback servers: an https endpoint trusted through caFile and
// reached through an authenticating CONNECT proxy (TLS inside the tunnel), the proxy's 407,
// NO_PROXY, the connect timeout over a TLS handshake that never completes, a body that stalls,
// an endless body cut at the byte cap, repeated signature headers, and close() in flight.
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RemoteAssignmentSource, type RemoteSourceOptions } from '../../src/assignments/remote-source.js';
import { StatusReporter } from '../../src/report/status-reporter.js';
import type { AgentStatus } from '../../src/agent.js';
import { startHttpConnectProxy } from '../helpers/proxies.js';
import { TEST_TLS_CERT, TEST_TLS_KEY } from '../helpers/tls-fixture.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

const body = JSON.stringify({ revision: 1, sessions: [] });
const caFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'edge-fleet-transport-')), 'ca.crt');
writeFileSync(caFile, TEST_TLS_CERT);

describe('fleet transport (node:http/https)', () => {
  const cleanup: Array<() => Promise<unknown> | unknown> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function listen<S extends net.Server>(server: S): Promise<number> {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => new Promise<void>((r) => {
      (server as unknown as http.Server).closeAllConnections?.();
      server.close(() => r());
    }));
    return (server.address() as AddressInfo).port;
  }
  function source(options: RemoteSourceOptions): RemoteAssignmentSource {
    const s = new RemoteAssignmentSource(options);
    cleanup.push(() => s.close());
    return s;
  }
  /** The shared test CONNECT proxy (test/helpers/proxies.ts), wanting `user:pa ss` (Basic). */
  async function proxy(): Promise<{ url: string; connects: () => string[] }> {
    const p = await startHttpConnectProxy({ auth: { username: 'user', password: 'pa ss' } });
    cleanup.push(() => p.close());
    return { url: p.url, connects: () => p.requests.map((r) => r.target) };
  }

  it('reaches an https endpoint trusted through caFile through an authenticating CONNECT proxy; a 407 names the proxy without its password', async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const server = https.createServer({ key: TEST_TLS_KEY, cert: TEST_TLS_CERT }, (req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json', etag: '"r1"' });
      res.end(body);
    });
    const port = await listen(server);
    const p = await proxy();
    // localhost: a name, so the certificate is checked against it (SNI) — inside the tunnel
    const s = source({ url: `https://localhost:${port}/a?x=1`, pollIntervalMs: 60_000, caFile, proxy: { httpsProxy: p.url } });
    const ok = (await s.refresh()).result;
    expect(ok).toMatchObject({ kind: 'document', httpStatus: 200, etag: '"r1"' });
    expect(p.connects()).toEqual([`localhost:${port}`]);
    expect(seen[0]!.host).toBe(`localhost:${port}`);
    expect(seen[0]!['proxy-authorization']).toBeUndefined(); // proxy credentials stay with the proxy

    // Without the CA file the endpoint's certificate is refused, proxy or not.
    const untrusted = source({ url: `https://localhost:${port}/a`, pollIntervalMs: 60_000, proxy: { httpsProxy: p.url } });
    const bad = (await untrusted.refresh()).result;
    expect(bad.kind === 'error' && bad.error.message).toMatch(/certificate/i);

    const wrong = source({ url: `https://localhost:${port}/a`, pollIntervalMs: 60_000, caFile, proxy: { httpsProxy: p.url.replace('pa%20ss', 'nope') } });
    const denied = (await wrong.refresh()).result;
    expect(denied).toMatchObject({ kind: 'error', errorKind: 'fetch' });
    expect(denied.kind === 'error' && denied.error.message).toMatch(/proxy http:\/\/\*\*\*.*127\.0\.0\.1:\d+ answered HTTP 407/);
    expect(denied.kind === 'error' && denied.error.message).not.toMatch(/nope/);

    // NO_PROXY (here the override): straight to the endpoint, no CONNECT.
    const direct = source({ url: `https://localhost:${port}/a`, pollIntervalMs: 60_000, caFile, proxy: { httpsProxy: p.url, noProxy: 'localhost' } });
    expect((await direct.refresh()).result.kind).toBe('document');
    expect(p.connects()).toHaveLength(3);
  });

  it('the status report POSTs through the proxy too', async () => {
    const posted: string[] = [];
    const server = http.createServer((req, res) => {
      let data = '';
      req.on('data', (c) => { data += c; });
      req.on('end', () => { posted.push(data); res.writeHead(204); res.end(); });
    });
    const port = await listen(server);
    const p = await proxy();
    const status = async () => ({ agentId: 'dev', version: '0', assignments: { source: 'static', revision: null, lastError: null, refusedForwards: [] }, sessions: [] } as unknown as AgentStatus);
    const reporter = new StatusReporter({ url: `http://127.0.0.1:${port}/report`, intervalMs: 60_000, debounceMs: 0, status, proxy: { httpProxy: p.url } });
    cleanup.push(() => reporter.close());
    reporter.start();
    await waitUntil(() => reporter.status().sent === 1, 10_000, 'the report to be accepted');
    expect(JSON.parse(posted[0]!)).toMatchObject({ agentId: 'dev' });
    expect(p.connects()).toEqual([`127.0.0.1:${port}`]);
  });

  it('a TLS handshake that never completes is a connect timeout; a body that stalls is a response timeout', async () => {
    const silent = net.createServer((socket) => { cleanup.push(() => socket.destroy()); }); // accepts, never answers
    const silentPort = await listen(silent);
    const s = source({ url: `https://127.0.0.1:${silentPort}/`, pollIntervalMs: 60_000, connectTimeoutMs: 300, responseTimeoutMs: 10_000 });
    const started = Date.now();
    const hung = (await s.refresh()).result;
    expect(Date.now() - started).toBeLessThan(5_000); // not the 10.3 s deadline
    expect(hung).toMatchObject({ kind: 'error', errorKind: 'timeout', error: { code: 'EDGE_ERR_CONNECT_TIMEOUT' } });
    expect(hung.kind === 'error' && hung.error.message).toMatch(/could not connect within 300 ms/);

    const stalling = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"revision":'); // …and nothing more
    });
    const stallPort = await listen(stalling);
    const t = source({ url: `http://127.0.0.1:${stallPort}/`, pollIntervalMs: 60_000, connectTimeoutMs: 5_000, responseTimeoutMs: 300 });
    const t0 = Date.now();
    const stalled = (await t.refresh()).result;
    expect(Date.now() - t0).toBeLessThan(4_000); // not the 5.3 s deadline
    expect(stalled).toMatchObject({ kind: 'error', errorKind: 'timeout' });
    expect(stalled.kind === 'error' && stalled.error.message).toMatch(/response timeout/);
  });

  it('an endless body without Content-Length is cut at the byte cap and its connection closed', async () => {
    let sent = 0;
    let closed = false;
    const endless = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked, no length
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      const pump = () => { while (!res.destroyed && res.write(chunk)) sent += chunk.length; };
      res.on('drain', pump);
      res.on('close', () => { closed = true; });
      pump();
    });
    const port = await listen(endless);
    const s = source({ url: `http://127.0.0.1:${port}/`, pollIntervalMs: 60_000, maxBodyBytes: 256 * 1024 });
    const big = (await s.refresh()).result;
    expect(big).toMatchObject({ kind: 'error', errorKind: 'http' });
    expect(big.kind === 'error' && big.error.message).toMatch(/more than the 262144 bytes accepted/);
    await waitUntil(() => closed, 5_000, 'the server to see the connection closed');
    expect(sent).toBeLessThan(64 * 1024 * 1024); // it stopped reading; the server did not fill memory
  });

  it('a token Node refuses as a header value fails before connecting, without leaving a connection or naming the token', async () => {
    let connections = 0;
    const server = http.createServer((_req, res) => { res.writeHead(200); res.end(body); });
    server.on('connection', () => { connections += 1; });
    const port = await listen(server);
    const s = source({ url: `http://127.0.0.1:${port}/`, pollIntervalMs: 60_000, tokenEnv: 'FLEET_TOKEN', env: { FLEET_TOKEN: 'secret-part\r\nX-Evil: 1' } });
    const r = (await s.refresh()).result;
    expect(r.kind).toBe('error');
    expect(r.kind === 'error' && r.error.message).not.toMatch(/secret-part|X-Evil/);
    expect(connections).toBe(0); // undici refused such a header before connecting too
  });

  it('keeps repeated X-Edge-Signature headers apart, and close() ends a request in flight', async () => {
    const server = http.createServer((req, res) => {
      if (req.url === '/hang') return; // never answers
      res.setHeader('x-edge-signature', ['ed25519=AAAA', 'ed25519=BBBB']);
      res.writeHead(200);
      res.end(body);
    });
    const port = await listen(server);
    const s = source({ url: `http://127.0.0.1:${port}/`, pollIntervalMs: 60_000 });
    const r = (await s.refresh()).result;
    expect(r.kind === 'document' && r.signature).toEqual(['ed25519=AAAA', 'ed25519=BBBB']);

    const h = new RemoteAssignmentSource({ url: `http://127.0.0.1:${port}/hang`, pollIntervalMs: 60_000 });
    const inflight = h.refresh();
    await waitUntil(async () => (await new Promise<number>((res) => server.getConnections((_e, n) => res(n)))) === 1, 5_000, 'the request to arrive');
    const t0 = Date.now();
    await h.close();
    const result = (await inflight).result;
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(result.kind === 'error' && result.error.message).toMatch(/the agent is stopping/);
    await waitUntil(async () => (await new Promise<number>((res) => server.getConnections((_e, n) => res(n)))) === 0, 5_000, 'the connection to be closed');
  });
});
