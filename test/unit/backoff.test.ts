import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from '../../src/session/backoff.js';

const cfg = { retryIntervalMs: 5_000, maxRetryIntervalMs: 60_000 };

describe('backoffDelayMs', () => {
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
});
