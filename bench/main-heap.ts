// `npx tsx bench/main-heap.ts DIST... [--rounds N] [--snapshot] [--out DIR]`: the main thread of
// `edge-agent run` in the footprint configuration (1 session, 3 forwards, OTLP telemetry, fleet
// endpoint; bench/lib/footprint.ts), probed 4 s after start with bench/main-heap-probe.mjs:
// V8's heap spaces after gc() and, with --snapshot, a heap snapshot for
// bench/lib/heap-attribution.ts. Builds interleaved per round, as bench/idle-ab.ts.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startSshd } from '../test/helpers/sshd.js';
import { startFleetAndCollector, startRunAgent } from './lib/footprint.js';
import { startBackends } from './lib/setup.js';
import { sleep } from './lib/stats.js';
import type { ToolEnv } from './lib/tunnels.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values, positionals } = parseArgs({ allowPositionals: true, options: { rounds: { type: 'string' }, snapshot: { type: 'boolean' }, out: { type: 'string' }, bare: { type: 'boolean' } } });
const builds = positionals.map((d) => path.resolve(d));
const rounds = Number(values.rounds ?? 1);
const outDir = path.resolve(values.out ?? 'main-heap-out');
mkdirSync(outDir, { recursive: true });
const probe = process.env.MAIN_HEAP_PROBE ?? path.join(ROOT, 'bench/main-heap-probe.mjs');

const sshd = await startSshd({ extraConfig: ['MaxStartups 200'] });
const backends = await startBackends(ROOT);
const extras = await startFleetAndCollector();
const MB = 1 << 20;
try {
  for (let r = 0; r < rounds; r++) {
    for (const b of r % 2 === 0 ? builds.map((_, i) => i) : builds.map((_, i) => i).reverse()) {
      const env: ToolEnv = { sshd, backends, agentCli: path.join(builds[b]!, 'src/cli.js') };
      const out = path.join(outDir, `b${b}-r${r}`);
      process.env.MAIN_HEAP_PROBE_OUT = out;
      process.env.MAIN_HEAP_PROBE_SNAPSHOT = values.snapshot ? '1' : '0';
      const agent = await startRunAgent(env, 1, values.bare ? null : extras, ['--expose-gc', '--import', probe]);
      for (let i = 0; i < 600 && !existsSync(`${out}.done`); i++) await sleep(100);
      const s = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as { spaces: { space_name: string; space_size: number; space_used_size: number; physical_space_size: number }[]; memory: NodeJS.MemoryUsage; status: string };
      const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s.status)?.[1] ?? 0) / 1024;
      const spaces = s.spaces.map((x) => `${x.space_name.replace('_space', '')} ${(x.space_used_size / MB).toFixed(2)}/${(x.physical_space_size / MB).toFixed(2)}`).join(', ');
      process.stdout.write(`${builds[b]} round ${r + 1}: RSS ${kb('VmRSS').toFixed(1)} (anon ${kb('RssAnon').toFixed(1)}) MiB; heapUsed ${(s.memory.heapUsed / MB).toFixed(2)} MiB, external ${(s.memory.external / MB).toFixed(2)}; spaces used/physical MiB: ${spaces}\n`);
      await agent.stop();
    }
  }
} finally {
  await extras.close();
  backends.stop();
  await sshd.dispose();
}
process.exit(0);
