// Waiting for a state that events change (the last forwarded channel closed, the last client
// gone) with a deadline, without polling: the condition is checked once now and again on each
// of the named events; the deadline is one timer on the injected clock.
import type { EventEmitter } from 'node:events';
import { systemClock, type Clock } from './clock.js';

export interface UntilOptions {
  /** Give up after this long (resolves false). */
  timeoutMs: number;
  clock?: Clock;
  /** Stop waiting now (resolves with the condition's value at that moment). */
  signal?: AbortSignal;
}

/** Resolves true once `done()` holds, false at the deadline (or on abort while it does not). */
export function until(emitter: EventEmitter, events: readonly string[], done: () => boolean, options: UntilOptions): Promise<boolean> {
  const clock = options.clock ?? systemClock;
  return new Promise<boolean>((resolve) => {
    if (done() || options.signal?.aborted) return resolve(done());
    let timer: unknown;
    const finish = (value: boolean) => {
      clock.clearTimeout(timer);
      for (const e of events) emitter.off(e, check);
      options.signal?.removeEventListener('abort', onAbort);
      resolve(value);
    };
    const check = () => {
      if (done()) finish(true);
    };
    const onAbort = () => finish(done());
    for (const e of events) emitter.on(e, check);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    timer = clock.setTimeout(() => finish(done()), options.timeoutMs);
  });
}
