// The build's JavaScript (`npm run build`: tsc checks the types and writes the .d.ts files, this
// writes the .js): the agent's own modules bundled into one file per entry, so that a thread
// loads a few files instead of ~80 small ones. Start → first forward up is mostly module loading
// on a slow core (docs/performance.md "Start-up and idle footprint"), and Node 20 has no compile
// cache for ES modules.
// - npm packages stay external (ssh2's internals are reached by deep requires in src/ssh2/, its
//   native binding is optional; undici loads only where it is used), except the OpenTelemetry
//   SDK: its packages are bundled into the telemetry chunks from their ES module builds, so that
//   esbuild keeps only what the agent uses (semantic-conventions is one huge constants module that
//   @opentelemetry/core loads whole; docs/performance.md). @opentelemetry/api stays external:
//   it registers the tracer provider on a global per thread, and domain code and the SDK must
//   share one copy of it. Their files carry no `/*!` legal comments esbuild would keep: the
//   build writes their LICENSE texts to dist/THIRD-PARTY-LICENSES.txt (Apache-2.0 §4);
// - every import() in the sources stays lazy: splitting makes each a chunk of its own, loaded
//   when it is called (test/unit/bundle-graph.test.ts checks what each entry loads up front);
// - one esbuild run per program, so that chunks are not cut along the other programs' lines:
//   the CLI, the library (its two exports share one copy of each module: one EdgeError class),
//   and the session worker (its own thread).
// - whitespace and comments minified (identifiers kept, so stack traces name the functions): V8
//   keeps every loaded module's source text in the heap for as long as the thread lives (lazy
//   compilation reads it again), ≈ 0.85 MB of `run`'s main thread before (heap snapshot,
//   bench/results/2026-12-03-main-thread-heap.md); whitespace-minified ≈ 25% less.
// Source maps are written next to each file (`node --enable-source-maps` maps stack traces back
// to the .ts sources; docs/performance.md says why it is not on by default).
import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The npm packages that are bundled; every other package (and @opentelemetry/api) is external. */
export const BUNDLED_PACKAGES = /^@opentelemetry\/(?!api(\/|$))/;

/**
 * Every package external but the bundled ones; and the CommonJS build of a bundled OTel file
 * (exporter-prometheus has no other: its serializer, telemetry/prometheus-reader.ts) rewritten
 * as an ES module, `const x_1 = require("p")` → `import * as x_1 from "p"`, so that esbuild
 * tree-shakes what it uses from the packages it requires: a require() keeps a package's every
 * export (semantic-conventions' ≈ 150 KB of constants), and a require() of an external package
 * throws in an ES module bundle. A file that does not fit the pattern fails the build.
 */
const packagesPlugin = (program) => ({
  name: 'edge-agent-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (BUNDLED_PACKAGES.test(args.path)) return undefined;
      if (REQUIRED_PACKAGES[program]?.includes(args.path)) return { path: args.path, namespace: 'edge-require' };
      return { path: args.path, external: true };
    });
    b.onLoad({ filter: /.*/, namespace: 'edge-require' }, (args) => ({ contents: requireShim(args.path), loader: 'js' }));
    b.onLoad({ filter: /[\\/]node_modules[\\/]@opentelemetry[\\/][^\\/]+[\\/]build[\\/]src[\\/].*\.js$/ }, (args) => {
      const contents = readFileSync(args.path, 'utf8')
        .replace(/^Object\.defineProperty\(exports, "__esModule", \{ value: true \}\);$/m, '')
        .replace(/^exports\.\w+ = void 0;$/m, '')
        .replace(/^const (\w+) = require\(("[^"]+")\);$/gm, 'import * as $1 from $2;')
        .replace(/^exports\.(\w+) = (\w+);$/gm, (all, name, local) => `export { ${local} as ${name} };`);
      if (/\brequire\(|\bexports\b/.test(contents)) return { errors: [{ text: `${args.path}: a CommonJS shape scripts/bundle.mjs cannot rewrite as an ES module` }] };
      return { contents, loader: 'js' };
    });
  },
});

/**
 * CommonJS packages that a main thread without a session (`run`, startAgent()) loads with
 * require() rather than `import`: the first `import` of a CommonJS package makes Node load its
 * CommonJS export lexer (`internal/deps/cjs-module-lexer`, ≈ 100–140 KiB of compiled code kept
 * for good, plus the parse of each package's source; heap snapshot, bench/results/
 * 2026-12-03-main-thread-heap.md). The sources keep their imports (the import-graph tests read
 * them); the bundle resolves each to a module that require()s the package and re-exports it —
 * the same instance an `import` gets (Node's CommonJS cache), so @opentelemetry/api stays one
 * copy per thread. Not the worker and `tunnel`: ssh2 is imported there anyway.
 */
export const REQUIRED_PACKAGES = {
  cli: ['piscina', 'convict', '@opentelemetry/api'],
  lib: ['piscina', 'convict', '@opentelemetry/api'],
};

/** `export default` module.exports, as Node's `import` of CommonJS does, and each own property by name. */
function requireShim(pkg) {
  const exported = createRequire(`${ROOT}package.json`)(pkg);
  // own properties, also a class's static ones (piscina's module.exports is its class)
  const names = Object.getOwnPropertyNames(exported)
    .filter((k) => !['default', '__esModule', 'length', 'name', 'prototype', 'caller', 'arguments'].includes(k) && /^[A-Za-z_$][\w$]*$/.test(k));
  return [
    "import { createRequire } from 'node:module';",
    `const m = createRequire(import.meta.url)(${JSON.stringify(pkg)});`,
    'export default m;',
    ...(names.length ? [`export const { ${names.join(', ')} } = m;`] : []),
  ].join('\n');
}

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
    plugins: [packagesPlugin(program)],
    // the bundled packages' ES module builds ("module" field, "module"/"import" export conditions)
    mainFields: ['module', 'main'],
    minifyWhitespace: true,
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    logLevel: 'warning',
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  rmSync(`${ROOT}dist/chunks`, { recursive: true, force: true }); // a previous build's chunks
  const bundled = new Set();
  for (const program of Object.keys(PROGRAMS)) {
    const { metafile } = await build(bundleOptions(program));
    for (const input of Object.keys(metafile.inputs)) bundled.add(/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1]);
  }
  writeFileSync(`${ROOT}dist/THIRD-PARTY-LICENSES.txt`, thirdPartyLicenses([...bundled].filter(Boolean).sort()));
}

/** The notice for the packages bundled into dist/: name, version, their LICENSE file. */
function thirdPartyLicenses(packages) {
  const parts = packages.map((name) => {
    const dir = `${ROOT}node_modules/${name}`;
    const { version, license } = JSON.parse(readFileSync(`${dir}/package.json`, 'utf8'));
    return `${name}@${version} (${license})\n\n${readFileSync(`${dir}/LICENSE`, 'utf8').trim()}\n`;
  });
  return `Packages bundled into this build's JavaScript (scripts/bundle.mjs):\n\n${parts.join(`\n${'-'.repeat(72)}\n\n`)}`;
}
