// Imported first by the session worker entry: sets the V8 flags the main thread applied
// (src/runtime-flags.ts, passed as the pool's workerData) again, as early as this thread can. V8
// put `--semi-space-growth-factor` back to its default while it set up this worker's heap, and
// flags are process-wide: until this runs the main thread's young generation may grow again.
import { workerData } from 'node:worker_threads';
import { reapplyRuntimeFlags } from '../src/runtime-flags.js';

const flags = (workerData as { v8Flags?: unknown } | null | undefined)?.v8Flags;
if (Array.isArray(flags)) reapplyRuntimeFlags(flags.filter((f): f is string => typeof f === 'string'));
