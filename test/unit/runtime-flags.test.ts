// The agent applies its GC settings itself (src/runtime-flags.ts), however it is started. V8 11
// aborts the process when some GC flags (concurrent/parallel marking, which `--single-threaded-gc`
// implies) change at run time, so the test drives full (major) collections with retained objects
// in a child process that applied the flags — from the CLI entry's and startAgent()'s way in.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { applyRuntimeFlags, RUNTIME_V8_FLAGS } from '../../src/runtime-flags.js';

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

function runChild(env: NodeJS.ProcessEnv) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-flags-'));
  try {
    const script = path.join(dir, 'churn.mjs');
    writeFileSync(script, CHILD);
    return spawnSync(process.execPath, ['--import', 'tsx', script], {
      encoding: 'utf8', env: { ...process.env, FLAGS_MODULE: MODULE, NODE_OPTIONS: '', ...env }, timeout: 60_000,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('runtime flags', () => {
  it('applies the single-threaded GC flags once and reports them', () => {
    const first = applyRuntimeFlags({});
    expect(first).toEqual(RUNTIME_V8_FLAGS);
    expect(applyRuntimeFlags({ EDGE_DIAG_DISABLE: 'single-threaded-gc' })).toBe(first); // idempotent per process
  });

  it('a process that applied them survives heavy major GCs in the main thread and a worker', () => {
    const r = runChild({});
    expect(r.stderr).not.toMatch(/Fatal error|Check failed/);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([JSON.stringify(RUNTIME_V8_FLAGS), 'done']);
  }, 60_000);

  it('EDGE_DIAG_DISABLE=single-threaded-gc leaves V8 defaults', () => {
    const r = runChild({ EDGE_DIAG_DISABLE: 'single-threaded-gc' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')[0]).toBe('[]');
  }, 60_000);
});
