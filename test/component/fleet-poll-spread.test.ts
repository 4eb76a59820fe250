// A fleet polling one endpoint after a power cut spreads out by jitter instead of arriving in
// lock-step. Real HTTP to an in-process fleet server; the 100 sources share a manual clock, so
// every request's time is exact (no event-loop stalls to allow for) and no wall time passes.
import { afterEach, describe, expect, it } from 'vitest';
import { RemoteAssignmentSource } from '../../src/assignments/remote-source.js';
import { startFleetServer } from '../helpers/fleet-server.js';
import type { Clock } from '../../src/lifecycle/clock.js';
import { ManualClock, seededRandom } from '../helpers/manual-clock.js';

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

describe('fleet poll spread', () => {
  it('100 agents polling one endpoint are spread over the interval by jitter, not in lock-step', async () => {
    const N = 100;
    const interval = 1_000;
    const runMs = 4_500;
    const f = await startFleetServer();
    cleanup.push(() => f.close());
    f.serve({ revision: 1, sessions: [] });
    const clock = new ManualClock();
    const random = seededRandom(13);
    const polls: number[][] = Array.from({ length: N }, () => []);
    // Each source's view of the shared clock notes when its poll timer fires: the exact poll time.
    const pollClock = (i: number): Clock => ({
      now: () => clock.now(),
      setTimeout: (fn, ms) => clock.setTimeout(() => { polls[i]!.push(clock.now()); fn(); }, ms),
      clearTimeout: (handle) => clock.clearTimeout(handle),
    });
    const sources = Array.from({ length: N }, (_, i) => new RemoteAssignmentSource({ url: f.url, pollIntervalMs: interval, clock: pollClock(i), random }));
    cleanup.push(() => Promise.all(sources.map((s) => s.close())));
    for (const s of sources) s.start(); // all at the same moment, like a fleet after a power cut
    const firstDue = sources.map((s) => s.stats.nextPollAt!);

    // Time moves in steps of STEP_MS, each once the requests the last one started are answered:
    // a request takes up to one step of the clock (the next poll is scheduled from its answer).
    const STEP_MS = 20;
    while (clock.now() < runMs) {
      clock.advance(STEP_MS);
      while (sources.some((s) => s.stats.nextPollAt === null)) await new Promise((r) => setImmediate(r));
    }

    // First polls: spread over the whole first interval (10 buckets; lock-step would put all 100 in one).
    const firstBuckets = Array<number>(10).fill(0);
    for (const due of firstDue) firstBuckets[Math.min(9, Math.floor((due / interval) * 10))]! += 1;
    expect(firstBuckets.filter((b) => b >= 1).length, `first-poll buckets ${firstBuckets}`).toBeGreaterThanOrEqual(8);
    expect(Math.max(...firstBuckets), `first-poll buckets ${firstBuckets}`).toBeLessThanOrEqual(35);

    // Each agent's waits: within [0.5, 1.5] × interval (plus the request's step), and varied.
    expect(polls.every((p) => p.length >= 3)).toBe(true);
    const gaps = polls.flatMap((t) => t.slice(1).map((x, i) => (x - t[i]!) / interval));
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    const sd = Math.sqrt(gaps.reduce((a, b) => a + (b - mean) ** 2, 0) / gaps.length);
    const facts = `${gaps.length} waits, min ${Math.min(...gaps)}, max ${Math.max(...gaps)}, mean ${mean.toFixed(3)}, sd ${sd.toFixed(3)} (× interval)`;
    expect(gaps.length, facts).toBeGreaterThan(N * 2);
    expect(Math.min(...gaps), facts).toBeGreaterThanOrEqual(0.5);
    expect(Math.max(...gaps), facts).toBeLessThanOrEqual(1.5 + STEP_MS / interval);
    expect(mean, facts).toBeGreaterThan(0.9);
    expect(mean, facts).toBeLessThan(1.1);
    expect(sd, facts).toBeGreaterThan(0.2); // uniform on [0.5, 1.5]: 0.29; lock-step: 0

    // Load on the endpoint: no 10 %-of-the-interval window after the first gets a crowd.
    const windowMs = interval / 10;
    const counts = new Map<number, number>();
    for (const t of polls.flat()) counts.set(Math.floor(t / windowMs), (counts.get(Math.floor(t / windowMs)) ?? 0) + 1);
    const avg = polls.flat().length / (runMs / windowMs);
    const full = [...counts.entries()].filter(([w]) => w >= 1 && w < Math.floor((runMs - interval / 2) / windowMs)).map(([, c]) => c);
    expect(Math.max(...full), `window counts ${full}`).toBeLessThanOrEqual(Math.max(3 * avg, 35));
    // Almost every answer after the first was a 304 (nothing changed): cheap for the endpoint.
    expect(f.requests.filter((r) => r.answered === 304).length).toBeGreaterThan(f.requests.length - N - 5);
  });
});
