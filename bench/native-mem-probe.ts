// `npx tsx bench/native-mem-probe.ts [--dist DIR] [--sessions N] [--bare] [--env K=V ...] [--flag F ...]`:
// where `edge-agent run`'s native memory sits, per glibc malloc arena and the threads using it.
//
// Starts `node DIST/src/cli.js run` as the footprint phase does (N sessions of three forwards,
// OTLP telemetry and a fleet endpoint unless --bare), waits 1.5 s idle, reads /proc/PID/smaps,
// (--settle-ms N: N ms instead) then attaches gdb (bench/lib/arenas.gdb.py; needs gdb and libc6-dbg) to read each thread's
// arena and each arena's heaps; a thread's role comes from its stack (Node 20 names no thread). Each mapping is put under: the arena whose heap holds it (the
// main arena's is [heap]), a thread's stack, file-backed, or other anonymous memory (V8's heap
// and code pages, malloc's mmapped chunks). --env / --flag: the agent's environment and node flags
// for an experiment (e.g. --env MALLOC_ARENA_MAX=1); the agent's RSS is read before gdb attaches.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startSshd } from '../test/helpers/sshd.js';
import { startFleetAndCollector, startRunAgent } from './lib/footprint.js';
import { startBackends } from './lib/setup.js';
import { sleep } from './lib/stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: {
  dist: { type: 'string', default: path.join(ROOT, 'dist') }, sessions: { type: 'string', default: '1' },
  bare: { type: 'boolean', default: false }, env: { type: 'string', multiple: true, default: [] },
  flag: { type: 'string', multiple: true, default: [] }, json: { type: 'boolean', default: false },
  'settle-ms': { type: 'string', default: '1500' },
} });
for (const kv of values.env!) { const i = kv.indexOf('='); process.env[kv.slice(0, i)] = kv.slice(i + 1); }

interface Mapping { start: bigint; end: bigint; perms: string; inode: string; name: string; rss: number; anon: number }
function smaps(pid: number): Mapping[] {
  const maps: Mapping[] = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const h = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (h) { maps.push({ start: BigInt('0x' + h[1]), end: BigInt('0x' + h[2]), perms: h[3]!, inode: h[4]!, name: h[5]!, rss: 0, anon: 0 }); continue; }
    const f = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line);
    if (f && maps.length) maps[maps.length - 1]![f[1] === 'Rss' ? 'rss' : 'anon'] += Number(f[2]) * 1024;
  }
  return maps;
}
interface GdbOut {
  threads: { tid: number; arena: number | null; sp: number; frames: string[] }[];
  arenas: { addr: number; system_mem: number; main: boolean; attached: number; heaps: { addr: number; size: number }[]; free: { top: number; bins: number; fast: number } }[];
  mp: Record<string, number>; narenas: number;
}
function gdbArenas(pid: number): GdbOut {
  const out = execFileSync('gdb', ['-p', String(pid), '-batch', '-x', path.join(ROOT, 'bench/lib/arenas.gdb.py')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 });
  return JSON.parse(/^ARENAS_JSON (.*)$/m.exec(out)![1]!) as GdbOut;
}
/** What a thread is, from its stack (the node binary exports its symbols). */
function role(frames: string[], isMain: boolean): string {
  const has = (re: RegExp) => frames.some((f) => re.test(f));
  if (isMain) return 'main';
  if (has(/worker::Worker::StartThread|worker::Worker::Run/)) return 'worker-thread';
  if (has(/WorkerThreadsTaskRunner::DelayedTaskScheduler/)) return 'v8-delayed-scheduler';
  if (has(/PlatformWorkerThread|WorkerThreadsTaskRunner/)) return 'v8-platform';
  if (has(/^worker$/) || has(/uv__thread_start/) && has(/uv_cond_wait/)) return 'uv-threadpool';
  if (has(/SignalInspector|inspector|StartIoThread/)) return 'inspector/signal';
  return frames.slice(0, 6).join('<');
}

const sshd = await startSshd({ extraConfig: ['MaxStartups 200'] });
const backends = await startBackends(ROOT);
const extras = values.bare ? null : await startFleetAndCollector();
try {
  const agent = await startRunAgent({ sshd, backends, agentCli: path.join(path.resolve(values.dist!), 'src/cli.js') } as never, Number(values.sessions), extras, values.flag);
  await sleep(Number(values['settle-ms']));
  const status = readFileSync(`/proc/${agent.pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  const maps = smaps(agent.pid);
  const tids = readdirSync(`/proc/${agent.pid}/task`).map(Number);
  const g = gdbArenas(agent.pid);
  const names = new Map(tids.map((t) => [t, `${role(g.threads.find((x) => x.tid === t)?.frames ?? [], t === agent.pid)}#${t}`]));
  await agent.stop();

  const HEAP_MAX = 64n << 20n;
  const groups = new Map<string, { rss: number; anon: number; n: number; note: string }>();
  const add = (key: string, m: Mapping, note = '') => {
    const e = groups.get(key) ?? { rss: 0, anon: 0, n: 0, note };
    e.rss += m.rss; e.anon += m.anon; e.n++; groups.set(key, e);
  };
  const arenaLabel = new Map<number, string>();
  g.arenas.forEach((a, i) => {
    const users = g.threads.filter((t) => t.arena === a.addr).map((t) => names.get(t.tid) ?? String(t.tid));
    arenaLabel.set(a.addr, `arena ${a.main ? 'main' : i}: ${users.join(', ') || '(no live thread)'}`);
  });
  for (const m of maps) {
    const a = m.name === '[heap]' ? g.arenas.find((x) => x.main)
      : g.arenas.find((x) => x.heaps.some((h) => m.start >= BigInt(h.addr) && m.start < BigInt(h.addr) + HEAP_MAX));
    const stackOf = g.threads.find((t) => BigInt(t.sp) >= m.start && BigInt(t.sp) < m.end);
    if (a) add(arenaLabel.get(a.addr)!, m);
    else if (m.name === '[stack]' || stackOf) add('thread stacks', m);
    else if (m.inode !== '0') add('file-backed (node binary, libraries)', m);
    else if (m.name) add(`other ${m.name}`, m);
    else add('other anonymous (V8 heap/code pages, mmapped malloc chunks)', m);
  }
  const MB = (n: number) => (n / 1e6).toFixed(2);
  const rows = [...groups].sort((x, y) => y[1].rss - x[1].rss);
  const lines = [
    `run, ${values.sessions} session(s)${values.bare ? ' (no telemetry, no fleet)' : ', OTLP, fleet'}; env ${values.env!.join(' ') || '-'}; flags ${values.flag!.join(' ') || '-'}`,
    `VmRSS ${MB(kb('VmRSS'))} MB (anon ${MB(kb('RssAnon'))}, file ${MB(kb('RssFile') + kb('RssShmem'))}); threads ${tids.length}; arenas ${g.arenas.length}; mmap_threshold ${g.mp.mmap_threshold} trim_threshold ${g.mp.trim_threshold} mmapped ${MB(g.mp.mmapped_mem!)} MB in ${g.mp.n_mmaps}`,
    '| where | RSS MB | anon MB | mappings |', '|---|---|---|---|',
    ...rows.map(([k, v]) => `| ${k} | ${MB(v.rss)} | ${MB(v.anon)} | ${v.n} |`),
    ...g.arenas.map((a) => `${arenaLabel.get(a.addr)}: system_mem ${MB(a.system_mem)} MB, free ${MB(a.free.top + a.free.bins + a.free.fast)} MB (top ${MB(a.free.top)}, bins ${MB(a.free.bins)}, fastbins ${MB(a.free.fast)})`),
    `threads: ${[...names].map(([t, n]) => `${t}:${n}`).join(' ')}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (values.json) process.stdout.write(JSON.stringify({ g, names: [...names] }) + '\n');
} finally {
  await extras?.close();
  backends.stop();
  await sshd.dispose();
}
process.exit(0);
