import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { until } from '../../src/lifecycle/until.js';
import { ManualClock } from '../helpers/manual-clock.js';

describe('until (wait on events with a deadline)', () => {
  it('resolves true on the event that makes the condition hold, and drops its listeners and timer', async () => {
    const events = new EventEmitter();
    const clock = new ManualClock();
    let open = 2;
    const done = until(events, ['closed'], () => open === 0, { timeoutMs: 1_000, clock });
    open -= 1;
    events.emit('closed');
    open -= 1;
    events.emit('closed');
    expect(await done).toBe(true);
    expect(events.listenerCount('closed')).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('resolves false at the deadline, true at once when it already holds, and with the condition on abort', async () => {
    const events = new EventEmitter();
    const clock = new ManualClock();
    const late = until(events, ['closed'], () => false, { timeoutMs: 1_000, clock });
    clock.advance(1_000);
    expect(await late).toBe(false);
    expect(await until(events, ['closed'], () => true, { timeoutMs: 1_000, clock })).toBe(true);
    const stop = new AbortController();
    const aborted = until(events, ['closed'], () => false, { timeoutMs: 1_000, clock, signal: stop.signal });
    stop.abort();
    expect(await aborted).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });
});
