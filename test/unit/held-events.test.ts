import { describe, expect, it } from 'vitest';
import { HeldEvents } from '../../src/lifecycle/held-events.js';

describe('HeldEvents', () => {
  it('keeps items in order until released, then passes later ones straight through', () => {
    const held = new HeldEvents<number>(10);
    held.push(1);
    held.push(2);
    const seen: number[] = [];
    expect(held.release((n) => seen.push(n))).toBe(0);
    expect(seen).toEqual([1, 2]);
    held.push(3);
    expect(seen).toEqual([1, 2, 3]);
  });

  it('is bounded: past the limit items are counted, not kept', () => {
    const held = new HeldEvents<number>(2);
    for (let i = 0; i < 5; i++) held.push(i);
    const seen: number[] = [];
    expect(held.release((n) => seen.push(n))).toBe(3);
    expect(seen).toEqual([0, 1]);
  });
});
