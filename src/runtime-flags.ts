// The V8 settings the agent's performance figures depend on, applied by the program itself so
// that it runs the same however it is started: `npx edge-agent`, `node dist/src/cli.js`, the
// container, a hand-written systemd unit, or startAgent() inside someone else's process.
//
// Single-threaded garbage collection: on 1–2 core devices V8's parallel scavenger and
// concurrent sweeper compete with the session for the same cores; without them the agent spends
// about half the CPU per GB tunnelled (README, Performance). `--single-threaded-gc` itself cannot
// be set at run time: it also turns off concurrent and parallel *marking*, and V8 11 (Node 20)
// aborts ("Check failed: concurrent_marking_handle_") at the next major GC when those change
// after the heap was set up. The flags below are the part of it that V8 reads at every
// collection and that is safe to change at run time; `npm run bench` measures the agent started
// with no node flag, and CPU per GB equals `node --single-threaded-gc` (README, Performance).
//
// A small young generation in a main thread that carries no session (`run`, startAgent()): V8
// doubles a thread's new space (up to 2 × 16 MB) whenever a scavenge finds much of it alive,
// which loading modules at start does; the grown
// semi-spaces then stay resident while the agent idles (≈ 6–8 MB of `run`'s idle RSS, measured
// with process.memoryUsage() and v8.getHeapSpaceStatistics()). `--semi-space-growth-factor=1`
// keeps it at its initial 1 MB semi-spaces, as `--max-semi-space-size=1` would (which cannot be
// set at run time). V8 resets the factor to its minimum of 2 whenever it sets up a heap, i.e. when
// a worker thread starts: each session worker applies the same flags again once its heap exists
// (workers/reapply-runtime-flags.ts, the first module the session worker loads).
//
// WebAssembly without TurboFan (`--liftoff-only`): the agent's only WebAssembly is undici's HTTP
// parser (llhttp; fleet client, http:// targets). V8 compiles it with its baseline compiler, then
// optimises the hot parser function with TurboFan on a platform thread, whose compile zone takes
// ≈ 25 MB of native memory for about a second — in `run` it was the transient that raised RSS by
// 35–40 MB a few seconds after start (docs/performance.md). Read at compile time, so setting it
// before the first undici request is enough. Parsing stays in baseline code (a 1 KiB response:
// microseconds; req/s measured unchanged).
//
// Not a re-exec: Node 20 has no execve, so a re-exec would leave the first Node process resident
// (~40 MB) on a device where the whole agent targets ~55 MB. Heap sizes cannot be changed for a
// thread that already runs (V8 sizes a heap when it creates it): the session workers get theirs
// from worker `resourceLimits` (src/supervisor/worker-pool.ts).
import v8 from 'node:v8';
import { disabledLevers } from './diag-levers.js';

/** V8 flags applied at start (process-wide: the main thread and every worker thread). */
export const RUNTIME_V8_FLAGS: readonly string[] = [
  '--no-parallel-scavenge',
  '--no-concurrent-sweeping',
  '--no-parallel-compaction',
  '--no-parallel-pointer-update',
  '--no-concurrent-array-buffer-sweeping',
];
/** WebAssembly (undici's llhttp) stays in V8's baseline tier: no TurboFan compile zone (see above). */
export const WASM_V8_FLAGS: readonly string[] = ['--liftoff-only'];
/** The main thread's young generation stays at its initial size (see above). */
export const YOUNG_GENERATION_V8_FLAGS: readonly string[] = ['--semi-space-growth-factor=1'];
/** The EDGE_DIAG_DISABLE name that leaves V8's default collector. */
export const SINGLE_THREADED_GC_LEVER = 'single-threaded-gc';
/** The EDGE_DIAG_DISABLE name that lets the main thread's young generation grow as V8 does by default. */
export const SMALL_YOUNG_GENERATION_LEVER = 'small-young-gen';
/** The EDGE_DIAG_DISABLE name that lets V8 optimise WebAssembly with TurboFan as by default. */
export const WASM_BASELINE_LEVER = 'wasm-baseline';

let applied: string[] | undefined;

/**
 * Applies RUNTIME_V8_FLAGS and WASM_V8_FLAGS once per process (idempotent). A flag already given
 * on the command line or in NODE_OPTIONS is simply set again; `EDGE_DIAG_DISABLE=single-threaded-gc`
 * leaves V8's default collector, `wasm-baseline` its default WebAssembly tiers (diagnostics and
 * the benchmark's before/after). Returns the flags applied.
 */
export function applyRuntimeFlags(env: NodeJS.ProcessEnv = process.env): readonly string[] {
  if (applied) return applied;
  const off = disabledLevers(env);
  applied = [
    ...(off.has(SINGLE_THREADED_GC_LEVER) ? [] : RUNTIME_V8_FLAGS),
    ...(off.has(WASM_BASELINE_LEVER) ? [] : WASM_V8_FLAGS),
  ];
  for (const flag of applied) v8.setFlagsFromString(flag);
  return applied;
}

/**
 * Also keeps the main thread's young generation small (YOUNG_GENERATION_V8_FLAGS), for a main
 * thread that carries no session (startAgent(): the sessions run in workers). Not for `edge-agent
 * tunnel`, whose session moves its data in the main thread: there the small young generation cost
 * ≈ 5–8% more CPU per GB (docs/performance.md) for < 1 MB of idle RSS. `EDGE_DIAG_DISABLE=
 * small-young-gen` leaves V8's default. Call after applyRuntimeFlags(); idempotent.
 */
export function applySessionlessMainThreadFlags(env: NodeJS.ProcessEnv = process.env): readonly string[] {
  if (!applied) return [];
  if (disabledLevers(env).has(SMALL_YOUNG_GENERATION_LEVER)) return applied;
  for (const flag of YOUNG_GENERATION_V8_FLAGS) {
    if (applied.includes(flag)) continue;
    v8.setFlagsFromString(flag);
    applied = [...applied, flag];
  }
  return applied;
}

/**
 * Sets `flags` (what the main thread applied, passed as the session pool's workerData) again from
 * a worker thread whose heap now exists: V8 put the young-generation growth factor back to its
 * default while it set that heap up. Flags are process-wide; setting the same values is harmless.
 */
export function reapplyRuntimeFlags(flags: readonly string[]): void {
  for (const flag of flags) v8.setFlagsFromString(flag);
}

/** What /status reports under `runtime`: the Node version and the V8 flags applied in this process. */
export function runtimeSettings(): { node: string; v8Flags: readonly string[] } {
  return { node: process.version, v8Flags: applied ?? [] };
}
