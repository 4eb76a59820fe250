// `npx tsx bench/run-peak-probe.ts [--dist DIST] [--wait MS] [--flags "..."]`: RSS timeline of
// `edge-agent run` (1 session, OTLP, fleet) from spawn through idle, a 1 GiB upload and download,
// sampled every 50 ms from /proc: per phase the RSS at its start and its maximum, and at the
// overall maximum the anonymous mappings that grew most since the forwards came up.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startSshd } from '../test/helpers/sshd.js';
import { startFleetAndCollector, startRunAgent } from './lib/footprint.js';
import { bulkDownload, bulkUpload } from './lib/measure.js';
import { startBackends } from './lib/setup.js';
import { sleep } from './lib/stats.js';
import type { ToolEnv } from './lib/tunnels.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { dist: { type: 'string' }, wait: { type: 'string' }, flags: { type: 'string' }, bytes: { type: 'string' }, bare: { type: 'boolean' }, strace: { type: 'string' } } });
const dist = path.resolve(values.dist ?? path.join(ROOT, 'dist'));
const bytes = Number(values.bytes ?? 1024) * 2 ** 20;
const MB = 1e6;

function mappings(pid: number): Map<string, number> {
  const m = new Map<string, number>();
  let key = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) key = line.split(/\s+/).slice(0, 1).concat(line.split(/\s+/).slice(5)).join(' ');
    else if (line.startsWith('Rss:')) m.set(key, Number(line.split(/\s+/)[1]) * 1024);
  }
  return m;
}
const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;

const sshd = await startSshd({ extraConfig: ['MaxStartups 200'] });
const backends = await startBackends(ROOT);
const extras = await startFleetAndCollector();
const env: ToolEnv = { sshd, backends, agentCli: path.join(dist, 'src/cli.js') };
const flags = (values.flags ?? '').split(' ').filter(Boolean);
const run = await startRunAgent(env, 1, values.bare ? null : extras, flags);
const pid = run.pid;
if (values.strace) {
  const { spawn } = await import('node:child_process');
  spawn('strace', ['-f', '-tt', '-e', 'trace=mmap,mprotect,munmap,madvise,brk', '-p', String(pid), '-o', values.strace], { stdio: 'ignore' });
  await sleep(300);
}
const base = mappings(pid);
let phase = 'up';
const phases: { name: string; start: number; max: number; maxAt: number }[] = [];
let peak = { rss: 0, phase: '', maps: new Map<string, number>() };
const t0 = performance.now();
const mark = (name: string) => { phase = name; phases.push({ name, start: rss(pid), max: 0, maxAt: 0 }); };
mark('idle 0–1.5 s');
let stop = false;
const sampler = (async () => {
  while (!stop) {
    try {
      const r = rss(pid);
      const p = phases.at(-1)!;
      if (r > p.max) { p.max = r; p.maxAt = performance.now() - t0; }
      if (r > peak.rss) peak = { rss: r, phase, maps: mappings(pid) };
    } catch { /* gone */ }
    await sleep(50);
  }
})();
await sleep(1500);
mark(`idle 1.5 s – ${(1.5 + Number(values.wait ?? 10000) / 1000).toFixed(1)} s`);
await sleep(Number(values.wait ?? 10000));
const { readdirSync } = await import('node:fs');
for (const t of readdirSync(`/proc/${pid}/task`)) console.log(`thread ${t} ${readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim()}`);
// what grew since the forwards came up, once start-up work is over (before any data)
const settled = mappings(pid);
console.log('before upload, mappings grown most since up:');
for (const [k, d] of [...settled].map(([k, v]) => [k, v - (base.get(k) ?? 0)] as const).sort((a, b) => b[1] - a[1]).slice(0, 5)) console.log(`  +${(d / MB).toFixed(1)} MB  ${k}`);
mark('upload');
await bulkUpload(run.ports.get('s1/sink')!, bytes, 120_000);
mark('after upload 2 s');
await sleep(2000);
mark('download');
await bulkDownload(run.ports.get('s1/source')!, bytes, 120_000);
mark('after download 2 s');
await sleep(2000);
stop = true;
await sampler;
for (const p of phases) console.log(`${p.name.padEnd(24)} start ${(p.start / MB).toFixed(1)}  max ${(p.max / MB).toFixed(1)} at ${(p.maxAt / 1000).toFixed(2)} s`);
console.log(`peak ${(peak.rss / MB).toFixed(1)} MB during ${peak.phase}; mappings grown most since up:`);
const grown = [...peak.maps].map(([k, v]) => [k, v - (base.get(k) ?? 0)] as const).sort((a, b) => b[1] - a[1]).slice(0, 6);
for (const [k, d] of grown) console.log(`  +${(d / MB).toFixed(1)} MB  ${k}`);
const idleMax = Math.max(phases[0]!.max, phases[1]!.max);
console.log(`summary EDGE_DIAG_DISABLE=${process.env.EDGE_DIAG_DISABLE ?? ''}: idle max ${(idleMax / MB).toFixed(1)}, before upload ${(phases[2]!.start / MB).toFixed(1)}, upload peak ${(phases[2]!.max / MB).toFixed(1)}, download peak ${(phases[4]!.max / MB).toFixed(1)}, whole-run peak ${(peak.rss / MB).toFixed(1)} MB`);
await run.stop();
await extras.close();
backends.stop();
await sshd.dispose();
process.exit(0);
