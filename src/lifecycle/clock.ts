// Time as a dependency: the retry loops take a Clock so tests can drive them with a manual one
// instead of sleeping. systemClock is the real thing.

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Longest delay a Node timer takes (longer ones fire at once). */
export const MAX_TIMER_MS = 2_147_483_647;
