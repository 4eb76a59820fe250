import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { onShutdown, type StopCause } from '../../src/lifecycle/shutdown.js';
import { ManualClock } from '../helpers/manual-clock.js';

// A stand-in for `process` as a signal source: the module only calls on/off.
function signals() {
  const source = new EventEmitter();
  const send = (s: NodeJS.Signals) => source.emit(s, s);
  return { source, send, count: () => source.listenerCount('SIGINT') + source.listenerCount('SIGTERM') + source.listenerCount('SIGHUP') };
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}

describe('onShutdown', () => {
  it('drains on the first signal and exits with the drain\'s code, then removes its handlers', async () => {
    const { source, send, count } = signals();
    const calls: string[] = [];
    const s = onShutdown({ drain: async (sig) => { calls.push(`drain ${sig}`); return 0; }, stop: () => 9, hangup: () => {} }, source, new ManualClock());
    expect(count()).toBe(3);
    send('SIGTERM');
    expect(await s.exitCode).toBe(0);
    expect(calls).toEqual(['drain SIGTERM']);
    expect(count()).toBe(0);
  });

  it('a second signal stops at once; the drain finishing later does not change the code', async () => {
    const { source, send } = signals();
    const drain = deferred<number>();
    const causes: StopCause[] = [];
    const s = onShutdown({ drain: () => drain.promise, stop: (c) => { causes.push(c); return 1; } }, source, new ManualClock());
    send('SIGINT');
    send('SIGINT');
    send('SIGINT'); // a third is ignored
    drain.resolve(0);
    expect(await s.exitCode).toBe(1);
    expect(causes).toEqual(['SIGINT']);
  });

  it('a drain that runs past its deadline is stopped as by a second signal', async () => {
    const { source, send } = signals();
    const clock = new ManualClock();
    const causes: StopCause[] = [];
    const s = onShutdown({ drain: () => new Promise<number>(() => {}), stop: (c) => { causes.push(c); return 3; }, deadlineMs: 1_000 }, source, clock);
    send('SIGTERM');
    clock.advance(999);
    expect(causes).toEqual([]);
    clock.advance(1);
    expect(causes).toEqual(['deadline']);
    expect(await s.exitCode).toBe(3);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a drain in time clears the deadline timer', async () => {
    const { source, send } = signals();
    const clock = new ManualClock();
    const s = onShutdown({ drain: async () => 0, stop: () => 1, deadlineMs: 1_000 }, source, clock);
    send('SIGTERM');
    expect(await s.exitCode).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('finish() ends the command with its code (a failure seen by the command) and removes the handlers', async () => {
    const { source, send, count } = signals();
    let drained = false;
    const s = onShutdown({ drain: async () => { drained = true; return 0; }, stop: () => 0 }, source, new ManualClock());
    s.finish(1);
    s.finish(0);
    expect(await s.exitCode).toBe(1);
    expect(count()).toBe(0);
    send('SIGTERM'); // nothing listens any more (on a real process: Node's default, the process ends)
    expect(drained).toBe(false);
  });

  it('SIGHUP calls the hangup hook and does not stop', async () => {
    const { source, send } = signals();
    let hups = 0;
    const s = onShutdown({ drain: async () => 0, stop: () => 1, hangup: () => { hups += 1; } }, source, new ManualClock());
    send('SIGHUP');
    send('SIGHUP');
    expect(hups).toBe(2);
    expect(s.signals).toBe(0);
    send('SIGINT');
    expect(await s.exitCode).toBe(0);
  });
});
