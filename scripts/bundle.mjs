// The build's JavaScript (`npm run build`: tsc checks the types and writes the .d.ts files, this
// writes the .js): the agent's own modules bundled into one file per entry, so that a thread
// loads a few files instead of ~80 small ones. Start → first forward up is mostly module loading
// on a slow core (docs/performance.md "Start-up and idle footprint"), and Node 20 has no compile
// cache for ES modules.
// - npm packages stay external (ssh2's internals are reached by deep requires in src/ssh2/, its
//   native binding is optional; undici and the OTel SDK load only where they are used);
// - every import() in the sources stays lazy: splitting makes each a chunk of its own, loaded
//   when it is called (test/unit/bundle-graph.test.ts checks what each entry loads up front);
// - one esbuild run per program, so that chunks are not cut along the other programs' lines:
//   the CLI, the library (its two exports share one copy of each module: one EdgeError class),
//   and the session worker (its own thread).
// Source maps are written next to each file (`node --enable-source-maps` maps stack traces back
// to the .ts sources; docs/performance.md says why it is not on by default).
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** One esbuild run per program: output path (under dist/, without .js) → source entry. */
export const PROGRAMS = {
  cli: { 'src/cli': 'src/cli.ts' },
  lib: { 'src/index': 'src/index.ts', 'src/agent': 'src/agent.ts' },
  worker: { 'workers/session-worker': 'workers/session-worker.ts' },
};

/** esbuild options for one program; `outdir` defaults to dist/. */
export function bundleOptions(program, outdir = `${ROOT}dist`) {
  return {
    absWorkingDir: ROOT,
    entryPoints: PROGRAMS[program],
    outdir,
    // at depth 2 like the sources' files, so that paths relative to import.meta.url (the
    // session worker's, src/supervisor/worker-pool.ts) resolve the same from a chunk
    chunkNames: `chunks/${program}/[name]-[hash]`,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20.18',
    packages: 'external',
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    logLevel: 'warning',
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  rmSync(`${ROOT}dist/chunks`, { recursive: true, force: true }); // a previous build's chunks
  for (const program of Object.keys(PROGRAMS)) await build(bundleOptions(program));
}
