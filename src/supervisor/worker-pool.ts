// The piscina pool that runs one session per worker thread. `atomics: 'disabled'` is what
// lets a task stay pending for a session's whole life while the thread's event loop runs.
// From a build (dist/) the built worker is used; from sources (tsx, vitest) the .ts
// worker is loaded through tsx's loader.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ResourceLimits } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { workerResourceLimits } from './worker-limits.js';
import { runtimeSettings } from '../runtime-flags.js';

/** Sessions one agent can hold at once (one worker thread each). */
export const MAX_SESSIONS = 64;

/** `here`: where this code runs from (its import.meta.url). */
export function workerEntry(here = import.meta.url): { filename: string; execArgv: string[] } {
  if (here.endsWith('.js')) {
    // The bundled build (scripts/bundle.mjs) puts this code in an entry (dist/src/*.js) or a
    // chunk (dist/chunks/<program>/*.js).
    for (const rel of ['../workers/session-worker.js', '../../workers/session-worker.js']) {
      const built = new URL(rel, here);
      if (existsSync(fileURLToPath(built))) return { filename: built.href, execArgv: [] };
    }
  }
  return { filename: new URL('../../workers/session-worker.ts', here).href, execArgv: ['--import', 'tsx'] };
}

/** `resourceLimits`: each worker's V8 heap limits (worker-limits.ts); default the built-in defaults. */
export function createSessionPool(resourceLimits: ResourceLimits = workerResourceLimits()): Piscina {
  const { filename, execArgv } = workerEntry();
  return new Piscina({
    filename,
    execArgv,
    resourceLimits,
    // The V8 flags this process applied, set again by each worker as it starts
    // (workers/reapply-runtime-flags.ts): V8 resets one of them while it sets up the worker's heap.
    workerData: { v8Flags: runtimeSettings().v8Flags },
    atomics: 'disabled',
    minThreads: 0,
    maxThreads: MAX_SESSIONS,
    concurrentTasksPerWorker: 1,
    // A thread whose session ended is let go soon; sessions are long-lived anyway.
    idleTimeout: 1_000,
    // No run/wait-time histograms: nothing reads them (a task is a session's whole life), and
    // each is an HDR histogram of 352 KiB of native memory in this thread (heap snapshot of `run`).
    recordTiming: false,
  });
}
