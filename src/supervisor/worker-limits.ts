// V8 heap limits for each session worker thread, so one session (a leak, a flood of channels,
// a document asking for too much) cannot take the whole device's memory: a worker that reaches
// its limit dies alone (ERR_WORKER_OUT_OF_MEMORY) and its SessionHandle restarts it with backoff
// like any other crash (EDGE_ERR_WORKER_CRASHED), while the main thread and the other sessions
// run on. Configured by agent.workerMaxHeapMb / agent.workerMaxYoungHeapMb.
import type { ResourceLimits } from 'node:worker_threads';

/** Old generation: far above a busy session's live heap (a few MB) and bulk transfer's peaks. */
export const DEFAULT_WORKER_MAX_HEAP_MB = 64;
/**
 * Young generation: a session's short-lived objects are small (packet payloads live outside the
 * heap, in ArrayBuffers). 2 MB instead of 8 cut an idle worker's RSS by ~2.8 MB (18 vs 20.7 MB,
 * docs/performance.md); 1 MB saved nothing more.
 */
export const DEFAULT_WORKER_MAX_YOUNG_HEAP_MB = 2;
/** V8's default stack (about 1 MB) is enough; 4 MB leaves room for deep parser recursion. */
export const DEFAULT_WORKER_STACK_MB = 4;

export interface WorkerHeapSettings {
  workerMaxHeapMb?: number;
  workerMaxYoungHeapMb?: number;
}

export function workerResourceLimits(settings: WorkerHeapSettings = {}): ResourceLimits {
  return {
    maxOldGenerationSizeMb: settings.workerMaxHeapMb ?? DEFAULT_WORKER_MAX_HEAP_MB,
    maxYoungGenerationSizeMb: settings.workerMaxYoungHeapMb ?? DEFAULT_WORKER_MAX_YOUNG_HEAP_MB,
    stackSizeMb: DEFAULT_WORKER_STACK_MB,
  };
}
