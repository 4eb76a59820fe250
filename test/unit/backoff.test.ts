import { describe, expect, it } from 'vitest';
import { errorBackoffMs } from '../../src/assignments/remote-source.js';
import { Backoff, backoffDelay } from '../../src/lifecycle/backoff.js';
import { busyRetryDelayMs, credentialRetryDelayMs, reconnectPolicy } from '../../src/session/backoff.js';
import { ManualClock } from '../helpers/manual-clock.js';

const cfg = { retryIntervalMs: 5_000, maxRetryIntervalMs: 60_000 };
const backoffDelayMs = (attempt: number, c: typeof cfg, random?: () => number) => backoffDelay(attempt, reconnectPolicy(c), random);

describe('session reconnect pacing (reconnectPolicy)', () => {
  it('starts at the seed retry interval and doubles up to the cap', () => {
    const top = (attempt: number) => backoffDelayMs(attempt, cfg, () => 1);
    expect([1, 2, 3, 4, 5, 6, 10].map(top)).toEqual([5_000, 10_000, 20_000, 40_000, 60_000, 60_000, 60_000]);
  });

  it('is fully jittered between a small floor and the ceiling', () => {
    expect(backoffDelayMs(1, cfg, () => 0)).toBe(500);
    expect(backoffDelayMs(4, cfg, () => 0)).toBe(500);
    const draws = Array.from({ length: 200 }, () => backoffDelayMs(3, cfg));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(500);
    expect(Math.max(...draws)).toBeLessThanOrEqual(20_000);
    expect(new Set(draws).size).toBeGreaterThan(100); // not lock-step
  });

  it('a busy gateway is retried at a steady pace: [retryIntervalMs / 2, 2 × retryIntervalMs], no doubling', () => {
    expect(busyRetryDelayMs(cfg, () => 0)).toBe(2_500);
    expect(busyRetryDelayMs(cfg, () => 1)).toBe(10_000);
    const draws = Array.from({ length: 200 }, () => busyRetryDelayMs(cfg));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(2_500);
    expect(Math.max(...draws)).toBeLessThanOrEqual(10_000);
    expect(new Set(draws).size).toBeGreaterThan(100);
  });

  it('after a credential failure: authRetryIntervalMs plus up to 25 % jitter, no doubling', () => {
    const auth = { authRetryIntervalMs: 60_000 };
    expect(credentialRetryDelayMs(auth, () => 0)).toBe(60_000);
    expect(credentialRetryDelayMs(auth, () => 1)).toBe(75_000);
    expect(credentialRetryDelayMs(auth, () => 0.5)).toBe(67_500);
  });

  it('the steady paces are the one formula with a fixed ceiling and a jitter range', () => {
    for (const r of [0, 0.3, 0.999]) {
      expect(busyRetryDelayMs(cfg, () => r)).toBe(backoffDelay(7, { baseMs: 5_000, maxMs: 5_000, jitter: [0.5, 2] }, () => r));
    }
  });
});

describe('Backoff (src/lifecycle/backoff.ts) with an injected clock', () => {
  const policy = { baseMs: 1_000, maxMs: 30_000, jitter: 'full' } as const;

  it('one formula for every loop: full jitter (sessions, listeners, workers) and equal jitter (fleet fetch, reports)', () => {
    const top = (n: number, jitter: 'full' | 'equal') => backoffDelay(n, { ...policy, jitter }, () => 1);
    const bottom = (n: number, jitter: 'full' | 'equal') => backoffDelay(n, { ...policy, jitter }, () => 0);
    expect([1, 2, 3, 5, 6, 50].map((n) => top(n, 'full'))).toEqual([1_000, 2_000, 4_000, 16_000, 30_000, 30_000]);
    expect([1, 2, 3, 6].map((n) => bottom(n, 'full'))).toEqual([100, 100, 100, 100]);
    expect([1, 2, 3, 6].map((n) => bottom(n, 'equal'))).toEqual([500, 1_000, 2_000, 15_000]);
    // the session and fleet helpers are this formula
    expect(reconnectPolicy(cfg)).toEqual({ baseMs: 5_000, maxMs: 60_000, jitter: 'full' });
    expect(errorBackoffMs(3, 1_000, 10_000, () => 0.5)).toBe(backoffDelay(3, { baseMs: 1_000, maxMs: 10_000, jitter: 'equal' }, () => 0.5));
    // never longer than a Node timer can wait
    expect(backoffDelay(100, { baseMs: 1_000, maxMs: Number.MAX_SAFE_INTEGER, jitter: 'equal' }, () => 1)).toBe(2_147_483_647);
  });

  it('counts failures, schedules the retry on the clock, and can be cancelled', () => {
    const clock = new ManualClock();
    const backoff = new Backoff(policy, { clock, random: () => 1 });
    let fired = 0;
    expect(backoff.next()).toBe(1_000);
    backoff.schedule(1_000, () => { fired += 1; });
    expect(backoff.pending).toBe(true);
    clock.advance(999);
    expect(fired).toBe(0);
    clock.advance(1);
    expect(fired).toBe(1);
    expect(backoff.pending).toBe(false);
    expect(backoff.next()).toBe(2_000);
    backoff.schedule(2_000, () => { fired += 1; });
    backoff.cancel();
    clock.advance(10_000);
    expect(fired).toBe(1);
    expect(clock.pendingTimers).toBe(0);
    expect(backoff.attempt).toBe(2);
  });

  it('starts over after a run that stayed up for stableAfterMs, not after a short one', () => {
    const clock = new ManualClock();
    const backoff = new Backoff(policy, { clock, random: () => 1, stableAfterMs: 60_000 });
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([1_000, 2_000, 4_000]);
    backoff.markStarted();
    clock.advance(59_999);
    expect(backoff.next()).toBe(8_000); // crashed again within the minute
    backoff.markStarted();
    clock.advance(60_000);
    expect(backoff.next()).toBe(1_000); // ran for a minute: back to the first step
    expect(backoff.attempt).toBe(1);
    backoff.next();
    backoff.schedule(5_000, () => {});
    backoff.reset();
    expect(backoff.attempt).toBe(0);
    expect(backoff.pending).toBe(false);
  });

  it('takes a different policy for one retry (a busy gateway caps sooner)', () => {
    const backoff = new Backoff(policy, { random: () => 1 });
    backoff.next();
    backoff.next();
    expect(backoff.next({ ...policy, maxMs: 3_000 })).toBe(3_000);
  });
});

describe('Backoff.wait and settings read at each retry', () => {
  it('wait() resolves when the clock reaches the delay, or at once on abort', async () => {
    const clock = new ManualClock();
    const backoff = new Backoff({ baseMs: 1_000, maxMs: 8_000, jitter: 'full' }, { clock });
    let done = false;
    const waiting = backoff.wait(3_000).then(() => { done = true; });
    clock.advance(2_999);
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advance(1);
    await waiting;
    expect(done).toBe(true);

    const abort = new AbortController();
    const early = backoff.wait(60_000, abort.signal);
    abort.abort();
    await early;
    expect(clock.pendingTimers).toBe(0);
  });

  it('a policy function is read at every retry (a reloaded config applies to the next one)', () => {
    let maxMs = 8_000;
    const backoff = new Backoff(() => ({ baseMs: 1_000, maxMs, jitter: 'full' }), { random: () => 1 });
    expect([backoff.next(), backoff.next(), backoff.next(), backoff.next()]).toEqual([1_000, 2_000, 4_000, 8_000]);
    maxMs = 3_000;
    expect(backoff.next()).toBe(3_000);
  });
});
