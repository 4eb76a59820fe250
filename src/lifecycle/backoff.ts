// The one backoff of the agent: exponential, jittered ("Exponential Backoff And Jitter", AWS
// architecture blog) so that a fleet that lost its gateway or fleet server at the same instant
// does not come back in lock-step. Every retry loop uses it: session reconnect and forward retry
// (src/session/backoff.ts holds their settings), -L/SOCKS listener retry, worker restart,
// assignment fetch and status report.
//
// Retry n (1-based) waits a uniform draw in [floor, top], ceiling = min(maxMs, baseMs × 2^(n−1)):
//   'full'  floor = baseMs / 10, top = ceiling (a small floor keeps an unlucky draw from retrying at once);
//   'equal' floor = ceiling / 2, top = ceiling (never less than half the step: polling an HTTP endpoint);
//   [a, b]  floor = a × ceiling, top = b × ceiling (a steady pace when maxMs = baseMs: the session's
//           retries after a credential failure or against a busy gateway).
import { MAX_TIMER_MS, systemClock, type Clock } from './clock.js';

export interface BackoffPolicy {
  /** First ceiling. */
  baseMs: number;
  /** Ceilings stop doubling here. */
  maxMs: number;
  jitter: 'full' | 'equal' | readonly [from: number, to: number];
}

/** The delay before retry number `attempt` (1-based) under `policy`. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 40);
  const ceiling = Math.max(0, Math.min(policy.maxMs, policy.baseMs * 2 ** exponent));
  const [floor, top] = policy.jitter === 'full' ? [Math.min(policy.baseMs / 10, ceiling), ceiling]
    : policy.jitter === 'equal' ? [ceiling / 2, ceiling]
      : [policy.jitter[0] * ceiling, policy.jitter[1] * ceiling];
  return Math.min(MAX_TIMER_MS, Math.round(floor + random() * (top - floor)));
}

export interface BackoffOptions {
  random?: () => number;
  clock?: Clock;
  /** A run that lasted this long (from markStarted() to the next failure) starts over at retry 1. */
  stableAfterMs?: number;
}

/**
 * A retry loop's state: how many retries in a row, when the current run started, and the timer
 * of the pending retry. Random source and clock are injectable.
 */
export class Backoff {
  private attemptValue = 0;
  private startedAt: number | undefined;
  private timer: unknown;
  private readonly random: () => number;
  readonly clock: Clock;

  /** `policy` may be a function: settings that can change between retries (a config reload). */
  constructor(private readonly policy: BackoffPolicy | (() => BackoffPolicy), private readonly options: BackoffOptions = {}) {
    this.random = options.random ?? Math.random;
    this.clock = options.clock ?? systemClock;
  }

  /** Retries since the last reset (the number of the retry next() last scheduled). */
  get attempt(): number {
    return this.attemptValue;
  }

  /** The thing being retried has started (connected, worker launched). */
  markStarted(): void {
    this.startedAt = this.clock.now();
  }

  /** Counts one more failure and returns the delay before the next try. */
  next(policy: BackoffPolicy = typeof this.policy === 'function' ? this.policy() : this.policy): number {
    if (this.startedAt !== undefined && this.options.stableAfterMs !== undefined && this.clock.now() - this.startedAt >= this.options.stableAfterMs) {
      this.attemptValue = 0;
    }
    this.startedAt = undefined;
    this.attemptValue += 1;
    return backoffDelay(this.attemptValue, policy, this.random);
  }

  /** Runs `fn` after `delayMs` on the clock (replacing a pending retry). */
  schedule(delayMs: number, fn: () => void): void {
    this.cancel();
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      fn();
    }, delayMs);
  }

  /** Waits `delayMs` on the clock; resolves early (never rejects) when `signal` aborts. */
  wait(delayMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const onAbort = () => {
        this.cancel();
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.schedule(delayMs, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  /** Whether a retry is scheduled. */
  get pending(): boolean {
    return this.timer !== undefined;
  }

  /** Drops the pending retry, if any. */
  cancel(): void {
    if (this.timer === undefined) return;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Starts over at retry 1. */
  reset(): void {
    this.cancel();
    this.attemptValue = 0;
    this.startedAt = undefined;
  }
}
