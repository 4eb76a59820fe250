// EDGE_DIAG_DISABLE=a,b: switches performance levers off, for diagnostics and the benchmark's
// before/after figures (write-batching, padding-pool, inbound-pool, target-write-batching,
// target-read-buffer, outbound-pool, channel-data-direct, single-threaded-gc, small-young-gen,
// wasm-baseline). Kept free of
// imports so that the main thread can read it without loading ssh2.

/** Levers switched off by EDGE_DIAG_DISABLE (comma-separated names). */
export function disabledLevers(env: NodeJS.ProcessEnv = process.env): Set<string> {
  return new Set((env.EDGE_DIAG_DISABLE ?? '').split(',').map((s) => s.trim()).filter(Boolean));
}
