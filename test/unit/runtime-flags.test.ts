// The agent applies its GC settings itself (src/runtime-flags.ts), however it is started. V8 11
// aborts the process when some GC flags (concurrent/parallel marking, which `--single-threaded-gc`
// implies) change at run time, so the test drives full (major) collections with retained objects
// in a child process that applied the flags — from the CLI entry's and startAgent()'s way in.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleOptions } from '../../scripts/bundle.mjs';
import { applyRuntimeFlags, applySessionlessMainThreadFlags, RUNTIME_V8_FLAGS, WASM_V8_FLAGS, YOUNG_GENERATION_V8_FLAGS } from '../../src/runtime-flags.js';

const MODULE = fileURLToPath(new URL('../../src/runtime-flags.ts', import.meta.url));

// Allocates like a busy tunnel (32 KiB buffers, closures, small objects), keeping enough alive
// for several major GCs in the main thread and in a worker thread.
const CHILD = `
import { Worker, isMainThread } from 'node:worker_threads';
if (isMainThread) {
  const { applyRuntimeFlags } = await import(process.env.FLAGS_MODULE);
  process.stdout.write(JSON.stringify(applyRuntimeFlags()) + '\\n');
}
const churn = () => {
  let keep = [];
  for (let i = 0; i < 60000; i++) {
    const b = Buffer.allocUnsafeSlow(32768); b[0] = i;
    keep.push({ i, pair: [i, i + 1], f: () => i, b: i % 64 === 0 ? b : null });
    if (keep.length > 20000) keep = [];
  }
};
if (isMainThread) {
  const w = new Worker(new URL(import.meta.url));
  churn();
  await new Promise((resolve, reject) => { w.once('exit', resolve); w.once('error', reject); });
  process.stdout.write('done\\n');
} else {
  churn();
}
`;

// The main thread's young generation after a worker thread started (whose heap setup resets the
// growth factor) and module-loading-like churn (objects that survive a scavenge or two). With
// REAPPLY the worker sets the main thread's flags again, as workers/session-worker.ts does.
const YOUNG_CHILD = `
import v8 from 'node:v8';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
if (isMainThread) {
  const { applyRuntimeFlags, applySessionlessMainThreadFlags } = await import(process.env.FLAGS_MODULE);
  applyRuntimeFlags();
  const flags = applySessionlessMainThreadFlags();
  const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 2 ** 20;
  const beforeMb = newSpace();
  const w = new Worker(new URL(import.meta.url), { workerData: { flags, reapply: process.env.REAPPLY === '1' } });
  await new Promise((resolve) => w.once('message', resolve));
  let keep = [];
  for (let i = 0; i < 400000; i++) { keep.push({ i, s: 'x' + i, a: [i] }); if (keep.length > 60000) keep = []; }
  process.stdout.write(JSON.stringify({ flags, beforeMb, newSpaceMb: newSpace() }) + '\\n');
  await w.terminate();
} else {
  // reapplyRuntimeFlags(flags), spelled out: this plain-JavaScript worker cannot load the .ts module
  if (workerData.reapply) for (const flag of workerData.flags) v8.setFlagsFromString(flag);
  parentPort.postMessage('ready');
  setInterval(() => {}, 1000);
}
`;

function runChild(env: NodeJS.ProcessEnv, source = CHILD) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-flags-'));
  try {
    const script = path.join(dir, 'churn.mjs');
    writeFileSync(script, source);
    return spawnSync(process.execPath, ['--import', 'tsx', script], {
      encoding: 'utf8', env: { ...process.env, FLAGS_MODULE: MODULE, NODE_OPTIONS: '', ...env }, timeout: 60_000,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// A hot WebAssembly function (as undici's llhttp parser gets) after the agent's flags: whether V8
// optimised it with TurboFan, whose compile zone on a platform thread is the transient that
// raised `run`'s RSS by 35–40 MB (docs/performance.md).
const WASM_CHILD = `
import v8 from 'node:v8';
const { applyRuntimeFlags } = await import(process.env.FLAGS_MODULE);
applyRuntimeFlags();
v8.setFlagsFromString('--allow-natives-syntax');
// (func (export "f") (param i32) (result i32) local.get 0 i32.const 1 i32.add)
const bytes = new Uint8Array([0,97,115,109,1,0,0,0,1,6,1,96,1,127,1,127,3,2,1,0,7,5,1,1,102,0,0,10,9,1,7,0,32,0,65,1,106,11]);
const { f } = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports;
let x = 0;
for (let round = 0; round < 3; round++) {
  for (let i = 0; i < 1e6; i++) x = f(x);
  await new Promise((r) => setTimeout(r, 200)); // the tier-up compiles on a platform thread
}
process.stdout.write(JSON.stringify({ turbofan: new Function('f', 'return %IsTurboFanFunction(f)')(f) }) + '\\n');
`;

const ALL_FLAGS = [...RUNTIME_V8_FLAGS, ...WASM_V8_FLAGS];

describe('runtime flags', () => {
  it('applies the single-threaded GC flags once and reports them', () => {
    const first = applyRuntimeFlags({});
    expect(first).toEqual(ALL_FLAGS);
    expect(applyRuntimeFlags({ EDGE_DIAG_DISABLE: 'single-threaded-gc' })).toBe(first); // idempotent per process
    // startAgent() / `run` (no session in the main thread) add the young-generation cap
    expect(applySessionlessMainThreadFlags({ EDGE_DIAG_DISABLE: 'small-young-gen' })).toEqual(ALL_FLAGS);
    expect(applySessionlessMainThreadFlags({})).toEqual([...ALL_FLAGS, ...YOUNG_GENERATION_V8_FLAGS]);
    expect(applySessionlessMainThreadFlags({})).toEqual([...ALL_FLAGS, ...YOUNG_GENERATION_V8_FLAGS]);
  });

  it('a process that applied them survives heavy major GCs in the main thread and a worker', () => {
    const r = runChild({});
    expect(r.stderr).not.toMatch(/Fatal error|Check failed/);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([JSON.stringify(ALL_FLAGS), 'done']);
  }, 60_000);

  it('EDGE_DIAG_DISABLE=single-threaded-gc leaves V8 defaults', () => {
    const r = runChild({ EDGE_DIAG_DISABLE: 'single-threaded-gc' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')[0]).toBe(JSON.stringify(WASM_V8_FLAGS));
  }, 60_000);

  it('WebAssembly stays in the baseline tier (no TurboFan compile), unless EDGE_DIAG_DISABLE=wasm-baseline', () => {
    const turbofan = (env: NodeJS.ProcessEnv) => {
      const r = runChild(env, WASM_CHILD);
      expect(r.status, r.stderr).toBe(0);
      return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { turbofan: boolean }).turbofan;
    };
    expect(turbofan({})).toBe(false);
    // V8's default: the hot function is optimised (what the flag avoids)
    expect(turbofan({ EDGE_DIAG_DISABLE: 'wasm-baseline' })).toBe(true);
  }, 60_000);

  it("the main thread's young generation does not grow after a worker started, when the worker sets the flags again", () => {
    const young = (env: NodeJS.ProcessEnv) => {
      const r = runChild(env, YOUNG_CHILD);
      expect(r.stderr).not.toMatch(/Fatal error|Check failed/);
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { flags: string[]; beforeMb: number; newSpaceMb: number };
      return { ...out, grewMb: out.newSpaceMb - out.beforeMb };
    };
    const capped = young({ REAPPLY: '1' });
    expect(capped.flags).toContain('--semi-space-growth-factor=1');
    expect(capped.grewMb).toBe(0);
    // What the worker's re-application is for: its heap setup put V8's default growth back.
    expect(young({ REAPPLY: '0' }).grewMb).toBeGreaterThan(2);
    // And the lever off: V8's default growth.
    expect(young({ REAPPLY: '1', EDGE_DIAG_DISABLE: 'small-young-gen' }).grewMb).toBeGreaterThan(2);
  }, 60_000);

  it('a session worker sets them again before it loads anything else (the pool passes them as workerData)', () => {
    const worker = readFileSync(fileURLToPath(new URL('../../workers/session-worker.ts', import.meta.url)), 'utf8');
    expect(/^import\s+'([^']+)'/m.exec(worker)?.[1]).toBe('./reapply-runtime-flags.js');
    const pool = readFileSync(fileURLToPath(new URL('../../src/supervisor/worker-pool.ts', import.meta.url)), 'utf8');
    expect(pool).toMatch(/workerData: \{ v8Flags: runtimeSettings\(\)\.v8Flags \}/);
  });

  it("`edge-agent run` (the built CLI) keeps its young generation small while its own modules load, unless EDGE_DIAG_DISABLE=small-young-gen", async () => {
    // run's static imports (config loader, agent, convict, piscina) are evaluated before
    // runRunCommand() runs: the CLI sets the flag before it imports them. The built CLI, as the
    // bench runs it (tsx's loader allocates in the main thread itself); in a directory under
    // node_modules/ so that the bundle's packages resolve. A config that does not exist: run
    // exits 2 after its modules loaded and before any worker thread starts.
    const probe = path.join(built, 'new-space-at-exit.mjs');
    writeFileSync(probe, "import v8 from 'node:v8';\nprocess.on('exit', () => process.stderr.write('NEW_SPACE ' + v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size + '\\n'));\n");
    await build({ ...bundleOptions('cli', built), sourcemap: false, logLevel: 'silent' });
    const newSpaceMb = (env: NodeJS.ProcessEnv) => {
      const r = spawnSync(process.execPath, ['--import', probe, path.join(built, 'src/cli.js'), 'run', '--config', path.join(built, 'missing.json')], {
        encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', ...env }, timeout: 60_000,
      });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/missing\.json/);
      return Number(/NEW_SPACE (\d+)/.exec(r.stderr)![1]) / 2 ** 20;
    };
    expect(newSpaceMb({})).toBe(2); // V8's initial 2 × 1 MB
    // V8's default growth while the same modules load (what the flag avoids)
    expect(newSpaceMb({ EDGE_DIAG_DISABLE: 'small-young-gen' })).toBeGreaterThan(2);
  }, 60_000);
});

const built = mkdtempSync(path.join(fileURLToPath(new URL('../../node_modules/', import.meta.url)), '.edge-flags-cli-'));
writeFileSync(path.join(built, 'package.json'), '{"type":"module"}\n');
afterAll(() => rmSync(built, { recursive: true, force: true }));
