import { afterEach, describe, expect, it } from 'vitest';
import { isoTime } from '../../src/iso-time.js';
import { createLogger } from '../../src/log.js';

const original = Date.prototype.toISOString;
afterEach(() => { Date.prototype.toISOString = original; });

describe('isoTime', () => {
  it('writes exactly what Date#toISOString writes', () => {
    const samples = [0, 1, 999, 1_000, 59_999, 86_399_999, Date.UTC(2026, 11, 3, 7, 8, 9, 10), Date.UTC(2000, 1, 29, 23, 59, 59, 999),
      Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(100, 0, 1), -Date.UTC(1969, 0, 1) - 1, Date.now()];
    for (let i = 0; i < 2000; i++) samples.push(Math.floor(Math.random() * 253_402_300_799_999));
    for (const ms of samples) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    expect(isoTime(new Date(1_700_000_000_123))).toBe('2023-11-14T22:13:20.123Z');
  });

  it('falls back to toISOString outside years 0–9999 (and throws on an invalid date, as it did)', () => {
    expect(isoTime(Date.UTC(10000, 0, 1))).toBe('+010000-01-01T00:00:00.000Z');
    expect(() => isoTime(Number.NaN)).toThrow(RangeError);
  });

  // Date#toISOString pages in ICU's time-zone data in Node 20 (≈ 0.65 MB per process for good,
  // bench/results/2026-12-03-run-settled.md): the logger must not call it.
  it('the logger stamps lines without Date#toISOString', () => {
    Date.prototype.toISOString = () => { throw new Error('Date#toISOString called'); };
    const lines: string[] = [];
    const log = createLogger({ format: 'json', write: (l) => lines.push(l) });
    const before = Date.now();
    log('info', 'hello');
    const time = (JSON.parse(lines[0]!) as { time: string }).time;
    Date.prototype.toISOString = original;
    expect(time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.parse(time)).toBeGreaterThanOrEqual(before - 1);
  });
});
