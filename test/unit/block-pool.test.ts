// The data path's buffer pool: only sizes worth a block get one (a byte-counted queue of small
// chunks must not hold a 35–64 KB block per chunk), blocks are reused, the free list is bounded
// and emptied once the pool has been idle for a whole period (an idle worker keeps no pool).
import { describe, expect, it } from 'vitest';
import { BlockPool, type IdleTimer } from '../../src/net/block-pool.js';
import { copyRead, releaseCopiedRead, targetReadStats } from '../../src/net/target-read-buffer.js';

/** A timer driven by the test: fire() runs what is due. */
function manualTimer(): { timer: IdleTimer; pending: () => number; fire: () => void } {
  let due: Array<() => void> = [];
  return {
    timer: (fn) => { due.push(fn); },
    pending: () => due.length,
    fire: () => { const now = due; due = []; for (const fn of now) fn(); },
  };
}

const stats = () => ({ allocated: 0, reused: 0, released: 0 });

describe('BlockPool', () => {
  it('a block only for at least half a block; never above one', () => {
    const pool = new BlockPool(35_000, 4, stats());
    expect(pool.fits(17_500)).toBe(true);
    expect(pool.fits(35_000)).toBe(true);
    expect(pool.fits(17_499)).toBe(false);
    expect(pool.fits(4_200)).toBe(false);
    expect(pool.fits(35_001)).toBe(false);
  });

  it('reuses a released block and keeps at most maxFree', () => {
    const s = stats();
    const pool = new BlockPool(1024, 2, s, 30_000, manualTimer().timer);
    const views = [pool.take(600), pool.take(600), pool.take(600)];
    for (const v of views) pool.release(v);
    expect(pool.freeCount).toBe(2);
    const again = pool.take(700);
    expect(s.reused).toBe(1);
    expect(again.buffer.byteLength).toBe(1024);
    pool.release(again);
    pool.release(again); // a second release of the same view does nothing
    expect(s.released).toBe(4);
  });

  it('drops its free blocks after a whole idle period, not while blocks are being taken', () => {
    const clock = manualTimer();
    const pool = new BlockPool(1024, 8, stats(), 30_000, clock.timer);
    pool.release(pool.take(800));
    expect(pool.freeCount).toBe(1);
    expect(clock.pending()).toBe(1);
    pool.release(pool.take(800)); // busy during the period
    clock.fire();
    expect(pool.freeCount).toBe(1); // kept, checked again
    expect(clock.pending()).toBe(1);
    clock.fire(); // a whole period without a take
    expect(pool.freeCount).toBe(0);
    expect(clock.pending()).toBe(0);
  });
});

describe('copies of target reads', () => {
  it('a small read gets an exact copy, a large one a pooled 64 KiB block', () => {
    const before = { ...targetReadStats };
    const small = copyRead(Buffer.alloc(200, 1));
    expect(small.length).toBe(200);
    expect(small.buffer.byteLength).toBeLessThan(16 * 1024); // not a 64 KiB block
    expect(targetReadStats.allocated + targetReadStats.reused).toBe(before.allocated + before.reused);
    const large = copyRead(Buffer.alloc(40 * 1024, 2));
    expect(large.buffer.byteLength).toBe(64 * 1024);
    expect(large.every((b) => b === 2)).toBe(true);
    expect(targetReadStats.allocated + targetReadStats.reused).toBe(before.allocated + before.reused + 1);
    releaseCopiedRead(large);
    releaseCopiedRead(small); // not from the pool: ignored
    expect(targetReadStats.released).toBe(before.released + 1);
  });
});
