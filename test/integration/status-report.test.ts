// Report-back end to end, in process (startAgent; sessions in worker threads): a real HTTPS
// endpoint on loopback (trusted through assignments.caFile, bearer token from tokenEnv)
// receives the agent's status reports; a real sshd holds a port-0 forward. The report names
// the port sshd really picked, a revision that adds a forward sends a new report, every report
// validates against config/report.schema.json, and a failing endpoint is counted, retried with
// backoff, one request at a time, while the tunnels serve on.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as ajv2020 from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent.js';
import type { StatusReport } from '../../src/report/status-report.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { TEST_TLS_CERT, TEST_TLS_KEY } from '../helpers/tls-fixture.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

const { Ajv2020 } = ajv2020;
const schema = JSON.parse(readFileSync(new URL('../../config/report.schema.json', import.meta.url), 'utf8')) as object;
const validate = new Ajv2020({ strict: true, allErrors: true, validateFormats: false }).compile(schema);

interface Received { at: number; headers: Record<string, unknown>; report: StatusReport }

describe('status reports to assignments.reportUrl', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  let server: https.Server;
  let url: string;
  let agent: AgentHandle;
  const received: Received[] = [];
  const answer = { status: 204, delayMs: 0 };
  let inFlight = 0;
  let maxInFlight = 0;
  const logs: string[] = [];
  const TOKEN = 'report-token-5f1e';

  beforeAll(async () => {
    sshd = await startSshd();
    echo = await startEchoServer();
    server = https.createServer({ key: TEST_TLS_KEY, cert: TEST_TLS_CERT }, (req, res) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const { status, delayMs } = answer;
        setTimeout(() => {
          inFlight -= 1;
          if (status < 300) received.push({ at: Date.now(), headers: req.headers, report: JSON.parse(Buffer.concat(chunks).toString('utf8')) as StatusReport });
          res.writeHead(status).end();
        }, delayMs);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1/devices/report`;
  });
  afterAll(async () => {
    await agent?.destroy();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await Promise.all([echo?.close(), sshd?.dispose()]);
  });

  const session = (forwards: Array<{ id: string }>) => ({
    id: 'gw', host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'k',
    hostKeys: { knownHostsFile: sshd.knownHostsPath }, reconnect: { retryIntervalMs: 200, maxRetryIntervalMs: 1000 },
    forwards: forwards.map((f) => ({ ...f, bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` })),
  });
  const forwardIn = (r: Received | undefined, id: string) => r?.report.sessions.find((s) => s.id === 'gw')?.forwards.find((f) => f.id === id);
  const last = () => received.at(-1);

  it('reports the real remote port of a port-0 forward through sshd, over HTTPS with the CA file and the bearer token', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-report-'));
    writeFileSync(path.join(dir, 'ca.crt'), TEST_TLS_CERT);
    process.env.EDGE_REPORT_TEST_TOKEN = TOKEN;
    agent = await startAgent({
      agent: { id: 'device-42', drainTimeoutMs: 2_000, logLevel: 'info', logFormat: 'text' },
      admin: { listen: '' },
      credentials: { k: { privateKeyFile: sshd.userKeyPath } },
      telemetry: { exporter: 'none' },
      sessions: [session([{ id: 'web' }])],
      assignments: { reportUrl: url, reportIntervalMs: 60_000, tokenEnv: 'EDGE_REPORT_TEST_TOKEN', caFile: path.join(dir, 'ca.crt') },
    }, { log: (level, message) => logs.push(`${level} ${message}`), report: { debounceMs: 100, retryBaseMs: 150, retryMaxMs: 400 } });

    const first = await waitUntil(() => received.find((r) => forwardIn(r, 'web')?.state === 'up'), 20_000, 'a report with the forward up');
    const web = forwardIn(first, 'web')!;
    expect(web.remotePort).toBeGreaterThan(0);
    expect(web.port).toBe(0);
    // the port in the report is where sshd really listens: the service answers through it
    expect((await connectAndCollect(web.remotePort!, Buffer.from('via report'))).data.toString()).toBe('via report');
    expect(first.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(first.headers['x-edge-agent-id']).toBe('device-42');
    expect(first.headers['content-type']).toBe('application/json');
    expect(first.report).toMatchObject({ schemaVersion: 1, agentId: 'device-42', assignments: { source: 'static', revision: null } });
    const gw = first.report.sessions[0]!;
    expect(gw.state).toBe('connected');
    expect(gw.gateways).toEqual([expect.objectContaining({ host: '127.0.0.1', port: sshd.port, state: 'connected' })]);
    for (const r of received) expect(validate(r.report), JSON.stringify(validate.errors)).toBe(true);
    // the token never shows in a report, and reports are not sent for byte counters alone
    expect(JSON.stringify(received.map((r) => r.report))).not.toContain(TOKEN);
    const before = received.length;
    await connectAndCollect(web.remotePort!, Buffer.alloc(10_000, 1));
    await new Promise((r) => setTimeout(r, 500));
    expect(received.length).toBe(before);
    const status = await agent.status();
    expect(status.report).toMatchObject({ endpoint: url, sent: received.length, failed: 0 });
  });

  it('a revision that adds a forward sends a new report with its real port and the revision', async () => {
    const before = received.length;
    await agent.applyAssignments({ revision: 7, sessions: [session([{ id: 'web' }, { id: 'api' }])] });
    const report = await waitUntil(() => received.slice(before).find((r) => forwardIn(r, 'api')?.state === 'up'), 20_000, 'a report with the new forward up');
    expect(report.report.reason).toBe('change');
    expect(report.report.assignments).toMatchObject({ source: 'remote', revision: 7 });
    expect(report.report.sequence).toBeGreaterThan(received[before - 1]!.report.sequence);
    const api = forwardIn(report, 'api')!;
    expect((await connectAndCollect(api.remotePort!, Buffer.from('api'))).data.toString()).toBe('api');
    expect(forwardIn(report, 'web')!.remotePort).toBe(forwardIn(received[before - 1], 'web')!.remotePort);
    expect(validate(report.report), JSON.stringify(validate.errors)).toBe(true);
  });

  it('a failing endpoint: counted, logged, retried with backoff one at a time; the tunnels serve on; the latest state arrives when it recovers', async () => {
    answer.status = 500;
    answer.delayMs = 100;
    maxInFlight = 0;
    const webPort = forwardIn(last(), 'web')!.remotePort!;
    await agent.applyAssignments({ revision: 8, sessions: [session([{ id: 'web' }, { id: 'api' }, { id: 'extra' }])] });
    await waitUntil(async () => ((await agent.status()).report?.failed ?? 0) >= 3, 20_000, 'three failed reports');
    expect((await connectAndCollect(webPort, Buffer.from('still'))).data.toString()).toBe('still');
    const metrics = await agent.metrics();
    expect(Number(/edge_agent_report_failures_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(3);
    expect(logs.filter((l) => /report: .* answered HTTP 500/.test(l))).toHaveLength(1); // rate-limited: one line per minute
    const report = (await agent.status()).report!;
    expect(report.lastError).toMatchObject({ code: 'EDGE_ERR_NETWORK' });
    expect(report.consecutiveFailures).toBeGreaterThanOrEqual(3);

    // another change while failing, then the endpoint recovers: the retry carries the latest state
    await agent.applyAssignments({ revision: 9, sessions: [session([{ id: 'web' }, { id: 'api' }])] });
    answer.status = 200;
    const recovered = await waitUntil(() => received.find((r) => r.report.assignments.revision === 9 && forwardIn(r, 'extra') === undefined), 20_000, 'the latest state reported');
    expect(validate(recovered.report), JSON.stringify(validate.errors)).toBe(true);
    // Never queued up: latest wins. One retry built before revision 9 was applied may still be in
    // flight when the endpoint recovers (it carries the state of when it was built, and answered
    // after the switch to 200 it is accepted); the failed attempts before it are not resent.
    const stale = received.filter((r) => r.report.assignments.revision === 8);
    expect(stale.length).toBeLessThanOrEqual(1);
    if (stale[0]) expect(stale[0].report.sequence).toBeLessThan(recovered.report.sequence);
    expect(maxInFlight).toBe(1);
    // the endpoint records the request before it answers (delayMs): the agent logs recovery on the answer
    await waitUntil(() => logs.some((l) => /accepts reports again/.test(l)), 10_000, 'recovery logged');
    expect(await agent.metrics()).toMatch(/edge_agent_reports_sent_total [1-9]/);
  });
});
