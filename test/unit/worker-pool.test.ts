// The session pool's settings that the main thread's footprint depends on.
import { afterEach, describe, expect, it } from 'vitest';
import type { Piscina } from 'piscina';
import { createSessionPool } from '../../src/supervisor/worker-pool.js';

let pool: Piscina | undefined;
afterEach(async () => { await pool?.destroy(); pool = undefined; });

describe('createSessionPool', () => {
  it('records no task timings (piscina would keep two HDR histograms, 704 KiB native, for nothing)', () => {
    pool = createSessionPool();
    // piscina's summaries read its histograms; with recordTiming off there are none
    expect(pool.histogram.runTime).toBeUndefined();
    expect(pool.histogram.waitTime).toBeUndefined();
    // …and no worker is started until a session asks for one
    expect(pool.threads).toEqual([]);
  });
});
