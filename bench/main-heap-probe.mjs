// `node --import bench/main-heap-probe.mjs …`: after MAIN_HEAP_PROBE_MS (default 4000) of the
// agent's life, the main thread (only) collects garbage (needs --expose-gc), writes
// v8.getHeapSpaceStatistics(), process.memoryUsage() and /proc/self/status to
// $MAIN_HEAP_PROBE_OUT.json and, with MAIN_HEAP_PROBE_SNAPSHOT=1, a heap snapshot beside it.
// Used by bench/main-heap.ts; never loaded by the agent itself.
import { isMainThread } from 'node:worker_threads';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import v8 from 'node:v8';

const out = process.env.MAIN_HEAP_PROBE_OUT;
if (isMainThread && out) {
  // MAIN_HEAP_PROBE_TIMELINE=1: the new space's capacity (and the process's thread count) every 20 ms until the probe fires (when it grows)
  const timeline = [];
  if (process.env.MAIN_HEAP_PROBE_TIMELINE === '1') {
    const t0 = performance.now();
    let last = -1;
    let lastThreads = 0;
    const tick = setInterval(() => {
      const ns = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
      const threads = readdirSync('/proc/self/task').length;
      if (ns.space_size !== last || threads !== lastThreads) { last = ns.space_size; lastThreads = threads; timeline.push([Math.round(performance.now() - t0), ns.space_size, ns.physical_space_size, threads]); }
    }, 20);
    tick.unref();
  }
  setTimeout(() => {
    globalThis.gc?.();
    globalThis.gc?.();
    const status = readFileSync('/proc/self/status', 'utf8');
    const stats = { timeline, spaces: v8.getHeapSpaceStatistics(), heap: v8.getHeapStatistics(), memory: process.memoryUsage(), status };
    writeFileSync(`${out}.json`, JSON.stringify(stats));
    if (process.env.MAIN_HEAP_PROBE_SNAPSHOT === '1') v8.writeHeapSnapshot(`${out}.heapsnapshot`);
    writeFileSync(`${out}.done`, '');
  }, Number(process.env.MAIN_HEAP_PROBE_MS ?? 4000)).unref();
}
