// The status report document: built from /status, valid against config/report.schema.json —
// also for what later status will have (several gateway connections per session, socket
// forwards) — and its change fingerprint ignores byte and channel counters.
import { readFileSync } from 'node:fs';
import * as ajv2020 from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import type { AgentStatus } from '../../src/agent.js';
import { buildStatusReport, reportFingerprint } from '../../src/report/status-report.js';

const { Ajv2020 } = ajv2020;
const validate = new Ajv2020({ strict: true, allErrors: true, validateFormats: false })
  .compile(JSON.parse(readFileSync(new URL('../../config/report.schema.json', import.meta.url), 'utf8')) as object);

function status(): AgentStatus {
  return {
    agentId: 'dev-7', version: '0.1.0',
    assignments: { source: 'remote', revision: 12, lastError: { code: 'EDGE_ERR_INVALID_CONFIG', message: 'bad doc', kind: 'invalid', errors: ['x'] }, refusedForwards: [], endpoint: 'https://fleet/a' },
    sessions: [{
      id: 'gw', state: 'connected', host: 'gw1.example.com', port: 22, attempt: 1, serverBanner: 'OpenSSH_9.2', hostKeyFingerprint: 'SHA256:abc', lastError: null,
      proxy: { configured: 'http://***:***@proxy:3128', route: null },
      forwards: [
        { id: 'web', state: 'up', bind: 'localhost', port: 0, remotePort: 41255, target: 'http://127.0.0.1:3000', channels: { open: 1, total: 9, rejected: 0 }, bytesIn: 10, bytesOut: 20, lastError: null },
        { id: 'sock', state: 'retrying', bind: '', port: 0, remotePort: null, remoteSocket: '/run/edge/dev-7.sock', target: 'tcp://127.0.0.1:22', channels: { open: 0, total: 0, rejected: 0 }, bytesIn: 0, bytesOut: 0, lastError: { code: 'EDGE_ERR_FORWARD_REFUSED', message: 'refused' } },
      ],
      localForwards: [{ kind: 'local', id: 'db', state: 'up', bind: '127.0.0.1', port: 5432, localPort: 5432, allowRelay: false, host: 'db', hostPort: 5432, target: 'tcp://db:5432', channels: { open: 0, total: 0, rejected: 0 }, bytesIn: 0, bytesOut: 0, lastError: null }],
      dynamicForwards: [],
      gateways: [
        { host: 'gw1.example.com', port: 22, state: 'connected', serverBanner: 'OpenSSH_9.2' },
        { host: 'gw2.example.com', port: 2222, state: 'backoff', lastError: { code: 'EDGE_ERR_CONNECT_REFUSED', message: 'refused' } },
      ],
      threadId: 3, workerRestarts: 0,
    }],
  } as unknown as AgentStatus;
}

describe('status report', () => {
  it('is valid against config/report.schema.json, lists every gateway connection and where forwards listen, and carries nothing secret', () => {
    const report = buildStatusReport(status(), { sequence: 3, reason: 'change', now: new Date('2026-01-01T00:00:00Z') });
    expect(validate(report), JSON.stringify(validate.errors)).toBe(true);
    expect(report.sessions[0]!.gateways.map((g) => `${g.host}:${g.port} ${g.state} ${g.lastError?.code ?? ''}`.trim()))
      .toEqual(['gw1.example.com:22 connected', 'gw2.example.com:2222 backoff EDGE_ERR_CONNECT_REFUSED']);
    expect(report.sessions[0]!.forwards.map((f) => [f.id, f.remotePort, f.remoteSocket])).toEqual([['web', 41255, null], ['sock', null, '/run/edge/dev-7.sock']]);
    expect(report.assignments).toEqual({ source: 'remote', revision: 12, lastError: { code: 'EDGE_ERR_INVALID_CONFIG', message: 'bad doc', kind: 'invalid' }, refusedForwards: 0 });
    expect(JSON.stringify(report)).not.toMatch(/proxy|\*\*\*|threadId/);
  });

  it('the schema rejects a report without a forward\'s real listening place', () => {
    const report = buildStatusReport(status(), { sequence: 1, reason: 'start' }) as unknown as { sessions: Array<{ forwards: Array<Record<string, unknown>> }> };
    delete report.sessions[0]!.forwards[0]!.remotePort;
    expect(validate(report)).toBe(false);
  });

  it('the change fingerprint ignores counters but not states, ports or error codes', () => {
    const base = reportFingerprint(buildStatusReport(status(), { sequence: 1, reason: 'start' }));
    const busy = status();
    busy.sessions[0]!.forwards[0]!.bytesIn = 1e9;
    busy.sessions[0]!.forwards[0]!.channels.total = 500;
    expect(reportFingerprint(buildStatusReport(busy, { sequence: 2, reason: 'change' }))).toBe(base);
    const moved = status();
    moved.sessions[0]!.forwards[0]!.remotePort = 41256;
    expect(reportFingerprint(buildStatusReport(moved, { sequence: 2, reason: 'change' }))).not.toBe(base);
    const revised = status();
    revised.assignments.revision = 13;
    expect(reportFingerprint(buildStatusReport(revised, { sequence: 2, reason: 'change' }))).not.toBe(base);
  });
});
