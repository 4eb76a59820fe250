// The reporter's schedule against a real loopback HTTP endpoint, with a status source the test
// controls and a manual clock: a stream of changes that only move counters neither floods the
// endpoint nor postpones the interval report; a real change is sent after the debounce.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentStatus } from '../../src/agent.js';
import type { StatusReport } from '../../src/report/status-report.js';
import { errorBackoffMs } from '../../src/assignments/remote-source.js';
import { StatusReporter } from '../../src/report/status-reporter.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

function agentStatus(bytes: number, state = 'up'): AgentStatus {
  return {
    agentId: 'dev', version: '0', assignments: { source: 'static', revision: null, lastError: null, refusedForwards: [] },
    sessions: [{ id: 's', state: 'connected', host: '127.0.0.1', port: 22, attempt: 1, serverBanner: null, hostKeyFingerprint: null, lastError: null, proxy: null, localForwards: [], dynamicForwards: [], threadId: 1, workerRestarts: 0,
      forwards: [{ id: 'f', state, bind: 'localhost', port: 0, remotePort: 4000, target: 'tcp://127.0.0.1:1', channels: { open: 0, total: bytes, rejected: 0 }, bytesIn: bytes, bytesOut: 0, lastError: null }] }],
  } as unknown as AgentStatus;
}

/** Lets pending I/O and promise callbacks run until `done` holds (no timers, no wall-clock bound). */
async function waitUntilQuiet(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100_000 && !done(); i++) await new Promise((r) => setImmediate(r));
  if (!done()) throw new Error('the reporter did not settle');
}

async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

describe('StatusReporter schedule', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => { for (const c of cleanup.splice(0)) await c(); });

  async function endpoint(answer = 200) {
    const reports: StatusReport[] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => { reports.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as StatusReport); res.writeHead(answer).end(); });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => { server.closeAllConnections(); server.close(r); }));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/r`, reports };
  }

  it('changes that only move counters do not send, and do not postpone the interval report; a real change does send', async () => {
    const { url, reports } = await endpoint();
    const clock = new ManualClock();
    let current = agentStatus(0);
    const reporter = new StatusReporter({ url, intervalMs: 600, status: async () => current, debounceMs: 20, random: () => 0.5, clock });
    cleanup.push(() => reporter.close());
    // Nothing scheduled = a report is being built or sent (the clock stands still meanwhile).
    const quiet = () => waitUntilQuiet(() => reporter.status().nextAt !== null);
    reporter.start();
    clock.advance(20); // the start report's debounce
    await waitUntil(() => reports.length === 1, 5_000, 'the start report');
    await quiet();
    // A change that only moves counters every 30 ms, for 1 300 ms of the clock: the interval
    // reports still go out at 600 and 1 200 ms, not postponed by ~40 changes.
    let bytes = 0;
    for (let t = 0; t < 1_300; t += 30) {
      current = agentStatus(++bytes);
      reporter.changed();
      clock.advance(30);
      await quiet();
    }
    expect(reports.slice(1).map((r) => r.reason)).toEqual(['interval', 'interval']);
    const before = reports.length;
    current = agentStatus(bytes, 'retrying');
    reporter.changed();
    clock.advance(20);
    const changed = await waitUntil(() => reports.slice(before).find((r) => r.reason === 'change'), 5_000, 'the change report');
    expect(changed.sessions[0]!.forwards[0]!.state).toBe('retrying');
    expect(reports.map((r) => r.sequence)).toEqual(reports.map((_, i) => i + 1));
  });

  it('a failing endpoint is retried with the shared backoff, on the injected clock', async () => {
    const { url, reports } = await endpoint(500);
    const clock = new ManualClock();
    const random = () => 0.5;
    const reporter = new StatusReporter({ url, intervalMs: 60_000, retryBaseMs: 1_000, retryMaxMs: 8_000, debounceMs: 10, status: async () => agentStatus(0), random, clock });
    cleanup.push(() => reporter.close());
    reporter.start();
    clock.advance(10); // the start report's debounce
    for (let failures = 1; failures <= 5; failures++) {
      await waitUntil(() => reporter.status().consecutiveFailures === failures && clock.pendingTimers === 1, 5_000, `failure ${failures}`);
      const delay = errorBackoffMs(failures, 1_000, 8_000, random);
      clock.advance(delay - 1);
      await settle();
      expect(reports, `nothing sent before the ${delay} ms backoff is over`).toHaveLength(failures);
      clock.advance(1);
      await waitUntil(() => reports.length === failures + 1, 5_000, `attempt ${failures + 1}`);
    }
    // 750, 1500, 3000, 6000, 6000 ms: doubling, equal jitter, capped at retryMaxMs
    expect([1, 2, 3, 4, 5].map((n) => errorBackoffMs(n, 1_000, 8_000, random))).toEqual([750, 1_500, 3_000, 6_000, 6_000]);
  });
});
