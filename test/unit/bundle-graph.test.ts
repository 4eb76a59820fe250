// The build bundles the agent's modules (scripts/bundle.mjs). What each thread loads up front is
// then what a bundled file imports statically: these checks build the bundle as `npm run build`
// does (in memory) and follow its static imports, the counterpart of module-weight.test.ts for
// the build. They fail when a lazy import() gets inlined (esbuild without splitting hoists the
// lazily loaded module's package imports into the file that loads it), and when ssh2 could load
// in a thread before the hooks that must run first.
import { build, type Metafile } from 'esbuild';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertAscii, bundleOptions, bundleProgram, PROGRAMS, REQUIRED_PACKAGES } from '../../scripts/bundle.mjs';
import { workerEntry } from '../../src/supervisor/worker-pool.js';

const OTEL_SDK = ['@opentelemetry/core', '@opentelemetry/sdk-trace-base', '@opentelemetry/sdk-metrics', '@opentelemetry/resources', '@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/exporter-metrics-otlp-http', '@opentelemetry/exporter-prometheus'];

type Program = keyof typeof PROGRAMS;
const outputs = new Map<Program, Metafile['outputs']>();
const inputs = new Map<Program, Metafile['inputs']>();
/** Each output file's text, by its metafile path (relative to the working directory). */
const texts = new Map<string, string>();
/** A package required at a bundled file's top level (`var x = require2("ssh2/lib/client.js")`): it loads with the file. */
const TOP_LEVEL_REQUIRE = /^var [^=\n]+= \(?require\d*\("([^".][^"]*)"\)/gm;
const warnings: string[] = [];
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The output file made for `source` (an entry, or the chunk of a module that is import()ed). */
function outputFor(program: Program, source: string): string {
  const out = Object.entries(outputs.get(program)!).find(([file, o]) => file.endsWith('.js') && o.entryPoint === source);
  if (!out) throw new Error(`no output for ${source} in ${program}`);
  return out[0];
}

/**
 * What loading `source`'s output loads before any of its code runs (or, for a package required at
 * a file's top level, while it runs): files, packages, package specifiers, bundled sources.
 */
function upFront(program: Program, source: string): { files: string[]; packages: Set<string>; specifiers: Set<string>; sources: Set<string> } {
  const outs = outputs.get(program)!;
  const files: string[] = [];
  const packages = new Set<string>();
  const specifiers = new Set<string>();
  const sources = new Set<string>();
  const addPackage = (spec: string) => {
    specifiers.add(spec);
    packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
  };
  const walk = (file: string) => {
    if (files.includes(file)) return;
    files.push(file);
    for (const m of (texts.get(file) ?? '').matchAll(TOP_LEVEL_REQUIRE)) addPackage(m[1]!);
    for (const s of Object.keys(outs[file]!.inputs)) {
      sources.add(s);
      // a bundled package (the OTel SDK, scripts/bundle.mjs) counts as loaded like an external one
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(s)?.[1];
      if (pkg) packages.add(pkg);
      // a CommonJS package loaded with require() (REQUIRED_PACKAGES): its stand-in module
      const required = /^edge-agent-require:(.+)$/.exec(s)?.[1];
      if (required && REQUIRED_PACKAGES.includes(required)) packages.add(required);
    }
    for (const i of outs[file]!.imports) {
      if (i.kind !== 'import-statement') continue; // import() is loaded when called
      if (!i.external) walk(i.path);
      else if (!i.path.startsWith('node:')) addPackage(i.path);
    }
  };
  walk(outputFor(program, source));
  return { files, packages, specifiers, sources };
}

const reaches = (program: Program, source: string, pkgs: string[]) => pkgs.filter((p) => upFront(program, source).packages.has(p));

// One build of each program (not whitespace-minified) that the checks below share.
beforeAll(async () => {
  for (const program of Object.keys(PROGRAMS) as Program[]) {
    // not whitespace-minified: one statement per line, so TOP_LEVEL_REQUIRE can tell a
    // top-level require() (the same files and imports either way)
    const r = await build({ ...bundleOptions(program, '/nonexistent-out'), minifyWhitespace: false, write: false, sourcemap: false, logLevel: 'silent' });
    outputs.set(program, r.metafile.outputs);
    inputs.set(program, r.metafile.inputs);
    for (const f of r.outputFiles) texts.set(path.relative(ROOT, f.path), f.text);
    warnings.push(...r.warnings.map((w) => `${program}: ${w.text}`));
  }
}, 60_000);

describe('the bundled build: what each entry loads up front', () => {
  it('every import() in the sources names its module literally, so that the bundle has it as a chunk', () => {
    expect(warnings).toEqual([]);
    const computed: string[] = [];
    for (const dir of ['src', 'workers', 'telemetry', 'config']) {
      for (const f of readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' }).filter((x) => x.endsWith('.ts'))) {
        const text = readFileSync(path.join(ROOT, dir, f), 'utf8');
        // `typeof import('…')` is a type; any other import( must be followed by a string literal
        for (const m of text.matchAll(/(?<!typeof )\bimport\(\s*([^'"\s)])/g)) computed.push(`${dir}/${f}: import(${m[1]}…`);
      }
    }
    expect(computed).toEqual([]);
  });

  it('the CLI entry loads no package, and its ssh2 hook runs before a command (with ssh2) is imported', () => {
    const cli = upFront('cli', 'src/cli.ts');
    expect([...cli.packages]).toEqual([]);
    expect(cli.sources.has('src/ssh2/poly1305-wasm.ts')).toBe(true);
    // the commands stay lazy: `tunnel` is not in what the entry loads
    expect(cli.sources.has('src/cli/tunnel-command.ts')).toBe(false);
  });

  it('`tunnel` (tcp targets) loads ssh2 but no undici or OpenTelemetry SDK until an http(s):// target needs it', () => {
    const tunnel = upFront('cli', 'src/cli/tunnel-command.ts');
    expect(tunnel.packages.has('ssh2')).toBe(true);
    expect(reaches('cli', 'src/cli/tunnel-command.ts', ['undici', ...OTEL_SDK])).toEqual([]);
    expect(tunnel.sources.has('src/session/targets/http/http-forward.ts')).toBe(false);
    expect(upFront('cli', 'src/session/targets/http/http-forward.ts').packages.has('undici')).toBe(true);
    // fewer, larger files: the point of the bundle (tsc's output: ~80 modules)
    expect(tunnel.files.length).toBeLessThan(25);
  });

  it("a session thread (`tunnel`, the session worker) loads ssh2's client modules, not its index (server, keygen, HTTP agents)", () => {
    for (const [program, source] of [['cli', 'src/cli/tunnel-command.ts'], ['worker', 'workers/session-runner.ts']] as const) {
      const { specifiers } = upFront(program, source);
      expect(specifiers.has('ssh2/lib/client.js'), source).toBe(true);
      expect([...specifiers].filter((s) => s === 'ssh2' || /^ssh2\/lib\/(index|server|keygen|http-agents)\.js$/.test(s)), source).toEqual([]);
    }
    expect(upFront('lib', 'src/index.ts').specifiers.has('ssh2')).toBe(true); // the gateway (server) is in the root export
  });

  it('the main thread of `run` / startAgent() loads neither ssh2, undici nor the OpenTelemetry SDK up front', () => {
    expect(reaches('cli', 'src/cli/run-command.ts', ['ssh2', 'undici', ...OTEL_SDK])).toEqual([]);
    expect(reaches('lib', 'src/agent.ts', ['ssh2', 'undici', ...OTEL_SDK])).toEqual([]);
    expect(upFront('cli', 'telemetry/agent-telemetry.ts').packages.has('@opentelemetry/sdk-metrics')).toBe(true);
    expect(reaches('cli', 'telemetry/agent-telemetry.ts', ['@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/exporter-prometheus'])).toEqual([]);
    // The fleet client is on node:http(s): its lazily loaded chunk carries no undici either.
    expect(reaches('cli', 'src/assignments/assignment-controller.ts', ['undici'])).toEqual([]);
    expect(upFront('lib', 'src/index.ts').packages.has('ssh2')).toBe(true); // the root export does carry it
  });

  it('the session worker entry loads nothing but its thread set-up; the session code (ssh2) is imported after it', () => {
    const entry = upFront('worker', 'workers/session-worker.ts');
    expect(entry.files.length).toBeLessThanOrEqual(2); // itself and the loader it shares with the session code
    expect([...entry.packages]).toEqual([]);
    expect(entry.sources.has('workers/reapply-runtime-flags.ts')).toBe(true);
    expect(entry.sources.has('src/ssh2/poly1305-wasm.ts')).toBe(true);
    const runner = upFront('worker', 'workers/session-runner.ts');
    expect(runner.packages.has('ssh2')).toBe(true);
    expect(reaches('worker', 'workers/session-runner.ts', ['undici', '@opentelemetry/api', ...OTEL_SDK])).toEqual([]);
    expect(upFront('worker', 'telemetry/worker-tracing-sdk.ts').packages.has('@opentelemetry/sdk-trace-base')).toBe(true);
  });
});

describe('the bundled build: CommonJS packages through require(), not cjs-module-lexer', () => {
  it('no file imports convict, piscina or @opentelemetry/api as an ES module; `run`\'s main thread still loads them', () => {
    // Each is CommonJS: an ES module import makes Node's loader lex its source for named exports,
    // which on `run`'s main thread made V8 optimise the lexer on a platform thread, leaving ≈ 4 MB
    // in that thread's malloc arena (scripts/bundle.mjs REQUIRED_PACKAGES, docs/performance.md).
    expect([...REQUIRED_PACKAGES].sort()).toEqual(['@opentelemetry/api', 'convict', 'piscina']);
    for (const pkg of REQUIRED_PACKAGES) {
      const json = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { type?: string };
      expect(json.type ?? 'commonjs', pkg).toBe('commonjs');
    }
    const esmImports: string[] = [];
    for (const program of Object.keys(PROGRAMS) as Program[]) {
      for (const [file, o] of Object.entries(outputs.get(program)!)) {
        for (const i of o.imports) if (i.external && REQUIRED_PACKAGES.some((p) => i.path === p || i.path.startsWith(`${p}/`))) esmImports.push(`${file}: ${i.kind} ${i.path}`);
      }
    }
    expect(esmImports).toEqual([]);
    for (const pkg of ['convict', 'piscina']) expect(upFront('cli', 'src/cli/run-command.ts').packages.has(pkg), pkg).toBe(true);
    expect(upFront('cli', 'telemetry/agent-telemetry.ts').packages.has('@opentelemetry/api')).toBe(true);
  });
});

describe('the bundled build: the OpenTelemetry SDK bundled, its API not', () => {
  const bytesOf = (program: Program, pkg: string) =>
    Object.values(outputs.get(program)!).reduce((n, o) => n + Object.entries(o.inputs).filter(([s]) => s.includes(`node_modules/${pkg}/`)).reduce((m, [, i]) => m + i.bytesInOutput, 0), 0);

  it('@opentelemetry/api stays external in every program: one copy per thread holds the global tracer provider', () => {
    for (const program of Object.keys(PROGRAMS) as Program[]) {
      expect(Object.keys(inputs.get(program)!).filter((s) => s.includes('node_modules/@opentelemetry/api/')), program).toEqual([]);
      // and no other package is bundled
      expect(Object.keys(inputs.get(program)!).filter((s) => s.includes('node_modules/') && !/node_modules\/@opentelemetry\//.test(s)), program).toEqual([]);
    }
    expect(upFront('worker', 'telemetry/worker-tracing-sdk.ts').packages.has('@opentelemetry/api')).toBe(true);
  });

  it('the SDK comes from its ES module builds, tree-shaken: semantic-conventions keeps a few constants, not its ≈ 150 KB', () => {
    for (const program of Object.keys(PROGRAMS) as Program[]) {
      expect(bytesOf(program, '@opentelemetry/core'), program).toBeGreaterThan(0);
      expect(bytesOf(program, '@opentelemetry/semantic-conventions'), program).toBeLessThan(5_000);
      expect(Object.keys(inputs.get(program)!).filter((s) => /node_modules\/@opentelemetry\/(core|sdk-[a-z]+|resources)\/build\/src\//.test(s)), program).toEqual([]);
    }
  });
});

describe("the bundled build: what V8 keeps of `run`'s main thread's code", () => {
  // The build as `npm run build` writes it (whitespace-minified): its own outputs and texts, so
  // the other checks keep reading the unminified build their top-level-require scan needs.
  const minified = new Map<Program, { outputs: Metafile['outputs']; texts: Map<string, string> }>();
  beforeAll(async () => {
    for (const program of Object.keys(PROGRAMS) as Program[]) {
      const r = await build({ ...bundleOptions(program, '/nonexistent-out'), write: false, sourcemap: false, logLevel: 'silent' });
      const js = new Map<string, string>();
      for (const f of r.outputFiles) if (f.path.endsWith('.js')) js.set(path.relative(ROOT, f.path), f.text);
      minified.set(program, { outputs: r.metafile.outputs, texts: js });
    }
  }, 60_000);
  /** The minified output files `source`'s output loads up front (static imports). */
  const minifiedUpFront = (program: Program, source: string): string[] => {
    const outs = minified.get(program)!.outputs;
    const files = [Object.entries(outs).find(([f, o]) => f.endsWith('.js') && o.entryPoint === source)![0]];
    for (let i = 0; i < files.length; i++) {
      for (const imp of outs[files[i]!]!.imports) if (imp.kind === 'import-statement' && !imp.external && !files.includes(imp.path)) files.push(imp.path);
    }
    return files;
  };

  it('every file is ASCII: one other character makes V8 keep the whole file\'s source as a two-byte string', () => {
    const all = [...minified.values()].flatMap((m) => [...m.texts]);
    expect(all.length).toBeGreaterThan(10);
    expect(all.filter(([, text]) => /[^\x00-\x7f]/.test(text)).map(([file]) => file)).toEqual([]);
  });

  it('whitespace and comments are minified (V8 keeps every loaded source in the heap), names are kept', () => {
    const files = minifiedUpFront('cli', 'src/cli/run-command.ts');
    const bytes = files.reduce((n, f) => n + minified.get('cli')!.outputs[f]!.bytes, 0);
    // 524 KB unminified, 407 KB minified (2026-12-03): a bound a little above today's figure
    expect(bytes).toBeLessThan(450_000);
    const text = minified.get('cli')!.texts.get(files[0]!)!;
    expect(text).not.toMatch(/^\s*\/\/ src\//m); // esbuild's per-module comments
    expect(text).toMatch(/function runRunCommand\(/); // identifiers as written
  });

  it("no code of run's main thread imports node:tls as an ES module (its facade reads tls.rootCertificates: 144 PEM strings, 214 KiB kept)", () => {
    const staticBuiltins = (program: Program, entry: string) => upFront(program, entry).files
      .flatMap((f) => outputs.get(program)![f]!.imports.filter((i) => i.kind === 'import-statement' && i.external).map((i) => i.path));
    const entries = ['src/cli/run-command.ts', 'src/assignments/assignment-controller.ts', 'src/report/status-reporter.ts', 'telemetry/agent-telemetry.ts', 'telemetry/span-export.ts'];
    for (const entry of entries) expect(staticBuiltins('cli', entry).filter((p) => /^(node:)?tls$/.test(p)), entry).toEqual([]);
    expect(staticBuiltins('cli', 'src/assignments/assignment-controller.ts')).toContain('node:http'); // the check does see builtins
    // the fleet client does use TLS: through process.getBuiltinModule()
    const fleetCode = upFront('cli', 'src/assignments/assignment-controller.ts').files.map((f) => texts.get(f)).join('\n');
    expect(fleetCode).toMatch(/getBuiltinModule\("node:tls"\)/);
  });

  it("run's main thread imports no CommonJS package as an ES module (Node would load its CommonJS export lexer: ≈ 100–140 KiB of code kept)", () => {
    const entries = ['src/cli/run-command.ts', 'src/assignments/assignment-controller.ts', 'src/report/status-reporter.ts', 'telemetry/agent-telemetry.ts', 'telemetry/span-export.ts', 'src/admin/admin-server.ts'];
    for (const entry of entries) {
      const imported = upFront('cli', entry).files.flatMap((f) => outputs.get('cli')![f]!.imports.filter((i) => i.kind === 'import-statement' && i.external && !isBuiltin(i.path)).map((i) => i.path));
      expect(imported, entry).toEqual([]);
    }
    const lib = upFront('lib', 'src/agent.ts').files.flatMap((f) => outputs.get('lib')![f]!.imports.filter((i) => i.kind === 'import-statement' && i.external && !isBuiltin(i.path)).map((i) => i.path));
    expect(lib).toEqual([]);
    // …while it does load them, through require()
    // (ajv: the generated validators require() its ucs2length helper, a CommonJS file loaded without the lexer)
    expect([...upFront('cli', 'src/cli/run-command.ts').packages].sort()).toEqual(['ajv', 'convict', 'piscina']);
    expect(upFront('cli', 'telemetry/agent-telemetry.ts').packages.has('@opentelemetry/api')).toBe(true);
    const runCode = upFront('cli', 'src/cli/run-command.ts').files.map((f) => texts.get(f)).join('\n');
    expect(runCode).toMatch(/\(import\.meta\.url\)\("piscina"\)/);
  });

  it('the admin server loads only when admin.listen is set, the status page at its first GET /', () => {
    for (const [program, entry] of [['cli', 'src/cli/run-command.ts'], ['lib', 'src/agent.ts']] as const) {
      const sources = upFront(program, entry).sources;
      expect(sources.has('src/admin/admin-server.ts'), entry).toBe(false);
      expect(sources.has('src/admin/status-page.ts'), entry).toBe(false);
    }
    expect(upFront('cli', 'src/admin/admin-server.ts').sources.has('src/admin/status-page.ts')).toBe(false);
    outputFor('cli', 'src/admin/status-page.ts'); // a chunk of its own
  });
});

describe('the bundled build: sources V8 can hold in one byte per character', () => {
  it('a non-ASCII character in the bundled JavaScript fails the build, naming the file and line (esbuild keeps them in regular expressions and String.raw, where a rewrite would change behaviour)', () => {
    expect(() => assertAscii('dist/src/x.js', 'const a = 1;\nconst re = /^[\u2013]$/;')).toThrow(/dist\/src\/x\.js:2: non-ASCII character "\u2013".*\\u2013/);
    expect(() => assertAscii('dist/src/x.js', 'const re = /^[\\u2013]$/;')).not.toThrow();
  });
});

describe('the bundled build: locating the session worker', () => {
  it('finds dist/workers/session-worker.js from an entry (dist/src/) and from a chunk (dist/chunks/<program>/)', () => {
    const dist = path.join(mkdtempSync(path.join(os.tmpdir(), 'edge-agent-dist-')), 'dist');
    try {
      mkdirSync(path.join(dist, 'workers'), { recursive: true });
      const worker = path.join(dist, 'workers/session-worker.js');
      writeFileSync(worker, '');
      for (const from of ['src/agent.js', 'src/cli.js', 'chunks/lib/chunk-X.js', 'chunks/cli/chunk-Y.js']) {
        expect(workerEntry(pathToFileURL(path.join(dist, from)).href), from).toEqual({ filename: pathToFileURL(worker).href, execArgv: [] });
      }
      // from the sources: the .ts worker through tsx
      expect(workerEntry(pathToFileURL(path.join(dist, '../src/supervisor/worker-pool.ts')).href).execArgv).toEqual(['--import', 'tsx']);
    } finally {
      rmSync(path.dirname(dist), { recursive: true, force: true });
    }
  });
});
