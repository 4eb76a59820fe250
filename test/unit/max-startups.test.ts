// sshd's MaxStartups arithmetic for the gateway: parse START:RATE:FULL, random early drop.
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_STARTUPS, dropStartup, parseMaxStartups } from '../../src/gateway/max-startups.js';

describe('maxStartups', () => {
  it('parses START:RATE:FULL and a bare N (hard limit), refuses nonsense', () => {
    expect(parseMaxStartups('10:30:100')).toEqual({ start: 10, rate: 30, full: 100 });
    expect(parseMaxStartups('5')).toEqual({ start: 5, rate: 100, full: 5 });
    for (const bad of ['', '10:30', '10:0:100', '10:101:100', '20:30:10', '0:30:100', 'a:b:c', '-1:30:100']) {
      expect(() => parseMaxStartups(bad, '--max-startups'), bad).toThrow(expect.objectContaining({ code: 'EDGE_ERR_INVALID_CONFIG', message: expect.stringMatching(/^--max-startups: must be START:RATE:FULL/) }));
    }
  });

  it('serves below START, drops RATE % at START rising linearly to 100 % at FULL', () => {
    const d = DEFAULT_MAX_STARTUPS;
    expect(dropStartup(9, d, () => 0)).toBe(false);
    // at START: a draw below 30 % drops, one above is served
    expect(dropStartup(10, d, () => 0.29)).toBe(true);
    expect(dropStartup(10, d, () => 0.31)).toBe(false);
    // half way (55): 30 + 70 × 45/90 = 65 %
    expect(dropStartup(55, d, () => 0.64)).toBe(true);
    expect(dropStartup(55, d, () => 0.66)).toBe(false);
    expect(dropStartup(100, d, () => 0.999)).toBe(true);
    expect(dropStartup(5, { start: 5, rate: 100, full: 5 }, () => 0.999)).toBe(true);
  });
});
