// "The same runtime settings however the agent is started": a plain `node <entry> run` (no node
// flags, as a hand-written systemd unit or `node dist/src/cli.js` starts it) ends up with the V8
// flags of src/runtime-flags.ts and the session workers' heap limits, and /status says so.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { RUNTIME_V8_FLAGS, WASM_V8_FLAGS, YOUNG_GENERATION_V8_FLAGS } from '../../src/runtime-flags.js';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-runtime-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runtimeOf(env: NodeJS.ProcessEnv, agent: Record<string, unknown> = {}) {
  const file = path.join(dir, `c-${Math.random().toString(16).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ agent: { logFormat: 'text', ...agent }, admin: { listen: '127.0.0.1:0' }, sessions: [] }));
  const cli = runCli(['run', '--config', file], { NODE_OPTIONS: '', ...env });
  try {
    expect(cli.child.spawnargs.slice(1, 2)).toEqual([expect.stringMatching(/edge-agent-dev\.js$/)]); // no node flags
    const [, admin] = await cli.waitForLine(/status at (http:\/\/\S+)\/status/);
    const res = await request(`${admin}/status`);
    return ((await res.body.json()) as { runtime: unknown }).runtime;
  } finally {
    cli.child.kill('SIGKILL');
  }
}

describe('runtime settings of `edge-agent run` started as plain node', () => {
  it('applies the GC flags itself and reports them with the worker heap limits in /status', async () => {
    expect(await runtimeOf({})).toEqual({
      node: process.version,
      v8Flags: [...RUNTIME_V8_FLAGS, ...WASM_V8_FLAGS, ...YOUNG_GENERATION_V8_FLAGS],
      workerResourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 2, stackSizeMb: 4 },
    });
  });

  it('reports what it really runs: the diagnostics levers off, configured heap limits', async () => {
    expect(await runtimeOf({ EDGE_DIAG_DISABLE: 'single-threaded-gc,small-young-gen,wasm-baseline' }, { workerMaxHeapMb: 32, workerMaxYoungHeapMb: 1 })).toEqual({
      node: process.version,
      v8Flags: [],
      workerResourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 1, stackSizeMb: 4 },
    });
  });
});
