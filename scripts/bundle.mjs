// The build's JavaScript (`npm run build`: tsc checks the types and writes the .d.ts files, this
// writes the .js): the agent's own modules bundled into one file per entry, so that a thread
// loads a few files instead of ~80 small ones. Start → first forward up is mostly module loading
// on a slow core (docs/performance.md "Start-up and idle footprint"), and Node 20 has no compile
// cache for ES modules.
// - npm packages stay external (ssh2's internals are reached by deep requires in src/ssh2/, its
//   native binding is optional; undici loads only where it is used; convict, piscina and
//   @opentelemetry/api through require(), REQUIRED_PACKAGES below), except the OpenTelemetry
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
// - the written JavaScript is ASCII (assertAscii below), so that V8 holds each file's source in one
//   byte per character in every thread that loads it.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The npm packages that are bundled; every other package (and @opentelemetry/api) is external. */
export const BUNDLED_PACKAGES = /^@opentelemetry\/(?!api(\/|$))/;

/**
 * External CommonJS packages that the bundle loads with require() (createRequire) instead of an
 * ES module `import`: Node's ESM loader runs cjs-module-lexer over a CommonJS module imported from
 * an ES module to find its named exports, and on `run`'s main thread (convict, @opentelemetry/api,
 * piscina: ≈ 27 KB of source) that made the lexer's parseSource hot enough for V8 to optimise it
 * with TurboFan on a platform thread: a 45 ms compile whose zone memory stayed in that thread's
 * own glibc malloc arena, ≈ 4 MB of idle RSS (docs/performance.md, bench/native-mem-probe.ts).
 * The same module instance either way (the ESM loader loads CommonJS through require's cache).
 */
export const REQUIRED_PACKAGES = ['convict', 'piscina', '@opentelemetry/api'];
const REQUIRE_NS = 'edge-agent-require';

/**
 * The ES module that stands in for a REQUIRED_PACKAGES package: require()s it with Node's CommonJS
 * loader and exports what Node's ESM loader would (`default` = module.exports, and its own
 * properties as named exports, read once), with the names taken here from the installed package
 * (package.json pins these three exactly: a name a later version added or dropped would otherwise
 * differ from the build) instead of by lexing its source at every start.
 */
function requireStandIn(pkg) {
  const m = createRequire(`${ROOT}package.json`)(pkg);
  // a class's statics (piscina exports its Piscina class, whose ES module wrapper re-exports them) are not enumerable
  const own = typeof m === 'function' ? Object.getOwnPropertyNames(m).filter((n) => !['length', 'name', 'prototype', 'caller', 'arguments'].includes(n)) : Object.keys(m);
  const names = own.filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== 'default');
  return [
    'import { createRequire } from "node:module";',
    `const m = createRequire(import.meta.url)(${JSON.stringify(pkg)});`,
    'export default m;',
    names.length ? `export const { ${names.join(', ')} } = m;` : '',
  ].join('\n');
}

/**
 * Every package external but the bundled ones (REQUIRED_PACKAGES: through their stand-ins); and
 * the CommonJS build of a bundled OTel file
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
      if (REQUIRED_PACKAGES.includes(args.path)) return { path: args.path, namespace: REQUIRE_NS };
      return BUNDLED_PACKAGES.test(args.path) ? undefined : { path: args.path, external: true };
    });
    b.onLoad({ filter: /.*/, namespace: REQUIRE_NS }, (args) => ({ contents: requireStandIn(args.path), loader: 'js' }));
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

/**
 * A loaded file's source stays in the thread's V8 heap (lazy compilation, Function#toString), in
 * one byte per character only when every character is Latin-1: one "≤" in a kept comment doubled
 * the session code's 289 KB in every session worker. With whitespace minified esbuild writes
 * ASCII (its charset escapes strings and identifiers, and no comment is kept) — but not inside
 * regular expression literals and String.raw templates, where rewriting a character would change
 * what the code does. So a non-ASCII character fails the build, naming the file and where.
 */
export function assertAscii(file, text) {
  const at = text.search(/[^\x00-\x7f]/);
  if (at < 0) return;
  const line = text.slice(0, at).split('\n').length;
  throw new Error(`${file}:${line}: non-ASCII character ${JSON.stringify(text[at])} in the bundled JavaScript (V8 would keep the whole file's source two bytes per character; write it as an escape, e.g. \\u${text.charCodeAt(at).toString(16).padStart(4, '0')})`);
}

/** Bundles `program` into `outdir` (default dist/) as `npm run build` does; returns esbuild's metafile. */
export async function bundleProgram(program, outdir) {
  const { metafile, outputFiles } = await build({ ...bundleOptions(program, outdir), write: false });
  for (const f of outputFiles) {
    mkdirSync(path.dirname(f.path), { recursive: true });
    if (f.path.endsWith('.js')) assertAscii(path.relative(ROOT, f.path), f.text);
    writeFileSync(f.path, f.contents);
  }
  return metafile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  rmSync(`${ROOT}dist/chunks`, { recursive: true, force: true }); // a previous build's chunks
  const bundled = new Set();
  for (const program of Object.keys(PROGRAMS)) {
    const metafile = await bundleProgram(program);
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
