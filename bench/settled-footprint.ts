// `npx tsx bench/settled-footprint.ts [--dist DIR] [--settle-ms N] [--only REGEX]`: what the
// settled idle RSS of an idle `node`, `edge-agent tunnel` (1 forward) and `edge-agent run`
// (1 session, 3 forwards, OTLP, fleet; bench/lib/footprint.ts) is made of.
//
// After --settle-ms (default 12000, after V8's memory reducer) each process's /proc/PID/smaps is
// read: anonymous memory split into V8 heap pages (256 KiB mappings), glibc arena heaps
// (64 MiB-aligned), [heap] (the main arena), thread stacks (mappings holding a thread's
// stack pointer, from /proc/PID/task/TID/syscall) and the rest; file-backed memory per file, and
// the node binary's resident pages (/proc/PID/pagemap, present bit; the binary is not PIE, so a
// page's address is its ELF address) attributed to the enclosing symbol of `nm` and bucketed by
// what the symbol belongs to (V8's TurboFan, WebAssembly, ICU, OpenSSL, Node's builtins' sources…).
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startSshd } from '../test/helpers/sshd.js';
import { startFleetAndCollector, startRunAgent } from './lib/footprint.js';
import { startBackends } from './lib/setup.js';
import { sleep } from './lib/stats.js';
import { specById } from './lib/tunnel-specs.js';
import { startTunnel, type ToolEnv } from './lib/tunnels.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: {
  dist: { type: 'string', default: path.join(ROOT, 'dist') }, 'settle-ms': { type: 'string', default: '12000' },
  only: { type: 'string' }, symbols: { type: 'string', default: '0' },
} });
const settleMs = Number(values['settle-ms']);
const only = values.only ? new RegExp(values.only) : undefined;
const NODE = execFileSync('readlink', ['-f', process.execPath], { encoding: 'utf8' }).trim();
const MB = (n: number) => (n / 1e6).toFixed(2);

// --- the node binary's symbols (sorted by address) and what each belongs to ---
const syms: { addr: number; size: number; name: string }[] = [];
for (const line of execFileSync('nm', ['-S', '--defined-only', NODE], { encoding: 'utf8', maxBuffer: 1 << 28 }).split('\n')) {
  const m = /^([0-9a-f]+) ([0-9a-f]+) \S (.+)$/.exec(line);
  if (m) syms.push({ addr: parseInt(m[1]!, 16), size: parseInt(m[2]!, 16), name: m[3]! });
}
syms.sort((a, b) => a.addr - b.addr);
const sections = execFileSync('readelf', ['-SW', NODE], { encoding: 'utf8' }).split('\n')
  .map((l) => /\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(l))
  .filter((m): m is RegExpExecArray => !!m && parseInt(m[2]!, 16) > 0)
  .map((m) => ({ name: m[1]!, addr: parseInt(m[2]!, 16), size: parseInt(m[4]!, 16) }));
function symbolAt(a: number): string | undefined {
  let lo = 0, hi = syms.length - 1, best = -1;
  while (lo <= hi) { const mid = (lo + hi) >> 1; if (syms[mid]!.addr <= a) { best = mid; lo = mid + 1; } else hi = mid - 1; }
  // a page is charged to the symbol covering its start, else the last symbol before it in the same 64 KiB
  for (let i = best; i >= 0 && i > best - 4; i--) { const s = syms[i]!; if (a < s.addr + Math.max(s.size, 1)) return s.name; }
  return best >= 0 && a - syms[best]!.addr < 65536 ? syms[best]!.name : undefined;
}
const BUCKETS: [string, RegExp][] = [
  ['V8 TurboFan/Maglev (v8::internal::compiler, maglev)', /^_ZN\w*2v88internal(8compiler|6maglev)|^_ZNK\w*2v88internal(8compiler|6maglev)/],
  ['V8 WebAssembly (v8::internal::wasm)', /2v88internal4wasm/],
  ['V8 embedded builtins (Builtins_*, embedded blob)', /^Builtins_|v8_Default_embedded_blob|embedded_blob_code/],
  ['V8 interpreter/parser/other V8', /^_ZN\w*2v8|^_ZNK\w*2v8|^v8_/],
  ['ICU (code and icudt data)', /icu_\d+|_\d\d$|^icudt|^u_|^ucol|^ubrk|^uloc|^ures|^unorm/],
  ['OpenSSL', /^(EVP|SSL|ossl|OSSL|BN|EC|RSA|X509|ASN1|CRYPTO|OPENSSL|ERR|BIO|PEM|PKCS|DH|DSA|OBJ|CONF|ENGINE|RAND|HMAC|SHA|MD5|aes|AES|sha|gcm|bn_|ec_|x25519|ChaCha|Poly1305|asn1|x509|ssl|tls|dtls|evp|rsa|dh_|dsa|obj_|ERR_|ecp_|ecx|kdf|prov|der_|lh_|OPENSSL_sk|sk_)/],
  ['Node builtins JS sources / code cache (node::builtins)', /_ZN4node8builtins|builtins.*Source|_ZN4node\w*code_cache/],
  ['Node C++ (node::)', /^_ZN\w*4node|^_ZNK\w*4node|^node_|^napi_/],
  ['libuv', /^uv_|^uv__/],
  ['llhttp / http parser', /llhttp/],
  ['nghttp2/nghttp3/ngtcp2', /^ngh?t?t?p|^ngtcp/],
  ['c-ares', /^ares_|^ares__/],
  ['zlib / brotli', /^(deflate|inflate|crc32|adler32|Brotli|z_|zlib|_tr_|longest_match)/i],
  ['simdutf / ada / simdjson', /simdutf|3ada|simdjson/],
  ['C++ std / libstdc++ inline', /^_ZN?K?St|^_ZNSt|^_ZSt|__cxx/],
];
function bucketOf(name: string | undefined, addr: number): string {
  if (name) for (const [b, re] of BUCKETS) if (re.test(name)) return b;
  const sec = sections.find((s) => addr >= s.addr && addr < s.addr + s.size)?.name ?? '?';
  return name ? `other symbols (${sec})` : `no symbol (${sec})`;
}

interface Mapping { start: number; end: number; perms: string; off: number; inode: string; name: string; rss: number; anon: number }
function smaps(pid: number): Mapping[] {
  const maps: Mapping[] = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const h = /^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) \S+ (\d+)\s*(.*)$/.exec(line);
    if (h) { maps.push({ start: parseInt(h[1]!, 16), end: parseInt(h[2]!, 16), perms: h[3]!, off: parseInt(h[4]!, 16), inode: h[5]!, name: h[6]!, rss: 0, anon: 0 }); continue; }
    const f = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line);
    if (f && maps.length) maps[maps.length - 1]![f[1] === 'Rss' ? 'rss' : 'anon'] += Number(f[2]) * 1024;
  }
  return maps;
}
function residentPages(pid: number, m: Mapping): number[] {
  const n = (m.end - m.start) / 4096;
  const buf = Buffer.alloc(n * 8);
  const fd = openSync(`/proc/${pid}/pagemap`, 'r');
  try { readSync(fd, buf, 0, buf.length, (m.start / 4096) * 8); } finally { closeSync(fd); }
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (buf.readBigUInt64LE(i * 8) >> 63n) out.push(m.start + i * 4096);
  return out;
}
function stackPointers(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((t) => {
    try { const f = readFileSync(`/proc/${pid}/task/${t}/syscall`, 'utf8').trim().split(' '); return parseInt(f[f.length - 2]!, 16); } catch { return 0; }
  });
}

interface Attribution { status: Record<string, number>; anon: Map<string, number>; files: Map<string, number>; node: Map<string, number>; nodeSyms: Map<string, number>; pages: Set<number> }
function attribute(pid: number): Attribution {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) * 1024;
  const status = { VmRSS: kb('VmRSS'), RssAnon: kb('RssAnon'), RssFile: kb('RssFile') + kb('RssShmem'), Threads: kb('Threads') / 1024 };
  const maps = smaps(pid);
  const sps = stackPointers(pid);
  const pages = new Set<number>();
  const anon = new Map<string, number>(), files = new Map<string, number>(), node = new Map<string, number>(), nodeSyms = new Map<string, number>();
  const add = (map: Map<string, number>, k: string, v: number) => map.set(k, (map.get(k) ?? 0) + v);
  const ARENA = 64 * 1024 * 1024;
  for (const m of maps) {
    if (m.inode !== '0') {
      add(files, path.basename(m.name), m.rss - m.anon);
      if (m.anon) add(anon, 'file mappings, private dirty (.data/.bss/relocations)', m.anon);
      if (m.name === NODE) for (const p of residentPages(pid, m)) { pages.add(p); const name = symbolAt(p); add(node, bucketOf(name, p), 4096); add(nodeSyms, name ?? '?', 4096); }
      continue;
    }
    const size = m.end - m.start;
    let kind: string;
    if (m.name === '[heap]') kind = 'malloc: main arena ([heap])';
    else if (m.name === '[stack]' || sps.some((sp) => sp >= m.start && sp < m.end)) kind = 'thread stacks';
    else if (m.name) kind = `other ${m.name}`;
    else if (m.start % ARENA === 0 || (maps.some((x) => x.end === m.start && x.start % ARENA === 0 && x.inode === '0') && size < ARENA && m.perms === '---p')) kind = 'malloc: thread arenas (64 MiB-aligned heaps)';
    else if (size === 256 * 1024) kind = 'V8 heap pages (256 KiB)';
    else kind = 'other anonymous (V8 large objects/code, big mallocs)';
    add(anon, kind, m.anon);
  }
  return { status, anon, files, node, nodeSyms, pages };
}

const results = new Map<string, Attribution>();
const sshd = await startSshd({ extraConfig: ['MaxStartups 200'] });
const backends = await startBackends(ROOT);
const extras = await startFleetAndCollector();
const env: ToolEnv = { sshd, backends, agentCli: path.join(path.resolve(values.dist!), 'src/cli.js') };
try {
  if (!only || only.test('node')) {
    const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)'], { stdio: 'ignore' });
    await sleep(settleMs);
    results.set('idle node', attribute(c.pid!));
    c.kill();
  }
  if (!only || only.test('tunnel')) {
    const t = await startTunnel(specById('agent-aes-fo'), env, ['echo']);
    await sleep(settleMs);
    results.set('tunnel', attribute(t.pid!));
    await t.stop();
  }
  if (!only || only.test('run')) {
    const a = await startRunAgent(env, 1, extras);
    await sleep(settleMs);
    results.set('run', attribute(a.pid));
    await a.stop();
  }
} finally {
  await extras.close();
  backends.stop();
  await sshd.dispose();
}

const names = [...results.keys()];
const table = (title: string, pick: (a: Attribution) => Map<string, number>, min = 50_000) => {
  const keys = new Set<string>(); for (const a of results.values()) for (const k of pick(a).keys()) keys.add(k);
  const rows = [...keys].map((k) => [k, ...names.map((n) => pick(results.get(n)!).get(k) ?? 0)] as [string, ...number[]])
    .filter((r) => r.slice(1).some((v) => (v as number) >= min)).sort((x, y) => (y[y.length - 1] as number) - (x[x.length - 1] as number));
  return [`### ${title}`, '', `| item | ${names.join(' | ')} |`, `|---|${names.map(() => '---|').join('')}`,
    ...rows.map((r) => `| ${r[0]} | ${r.slice(1).map((v) => MB(v as number)).join(' | ')} |`), ''].join('\n');
};
const lines = [
  `settle ${settleMs} ms, dist ${values.dist}, node ${NODE}`, '',
  `| process | ${names.join(' | ')} |`, `|---|${names.map(() => '---|').join('')}`,
  ...(['VmRSS', 'RssAnon', 'RssFile'] as const).map((k) => `| ${k} | ${names.map((n) => MB(results.get(n)!.status[k]!)).join(' | ')} |`),
  `| threads | ${names.map((n) => results.get(n)!.status.Threads).join(' | ')} |`, '',
  table('anonymous memory (smaps)', (a) => a.anon, 1),
  table('file-backed, per file', (a) => a.files, 1),
  table('node binary resident pages, by what the symbol belongs to (pagemap + nm)', (a) => a.node, 1),
  table(`node binary: symbols with ≥ ${values.symbols === '0' ? 0.2 : Number(values.symbols) / 1e6} MB resident`, (a) => a.nodeSyms, values.symbols === '0' ? 200_000 : Number(values.symbols)),
];
// Pages `run` has and `tunnel` has not, outside any symbol or in ICU's data: what they hold
// (ICU: the data package's item, from its table of contents; else the page's longest text).
const nodeFile = readFileSync(NODE);
// the binary's LOAD segments: a page's file offset from its address
const segments = execFileSync('readelf', ['-lW', NODE], { encoding: 'utf8' }).split('\n')
  .map((l) => /LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)/.exec(l)).filter((m): m is RegExpExecArray => !!m)
  .map((m) => ({ off: parseInt(m[1]!, 16), addr: parseInt(m[2]!, 16), size: parseInt(m[3]!, 16) }));
const fileOff = (a: number) => { const s = segments.filter((x) => x.addr <= a + 4095).pop()!; return Math.max(0, a - s.addr) + s.off; };
const icu = syms.find((x) => /^icudt\d+_dat$/.test(x.name));
const icuItems: { off: number; name: string }[] = [];
if (icu) {
  const base = fileOff(icu.addr);
  const hdr = nodeFile.readUInt16LE(base);
  const toc = base + hdr;
  const count = nodeFile.readUInt32LE(toc);
  for (let i = 0; i < count; i++) {
    const nameOff = nodeFile.readUInt32LE(toc + 4 + i * 8), dataOff = nodeFile.readUInt32LE(toc + 8 + i * 8);
    const end = nodeFile.indexOf(0, toc + nameOff);
    icuItems.push({ off: icu.addr + hdr + dataOff, name: nodeFile.toString('latin1', toc + nameOff, end) });
  }
}
if (results.has('run') && results.has('tunnel')) {
  const extra = [...results.get('run')!.pages].filter((p) => !results.get('tunnel')!.pages.has(p)).sort((a, b) => a - b);
  const what = new Map<string, number>();
  for (const p of extra) {
    let k: string;
    if (icu && p >= icu.addr && p < icu.addr + icu.size) {
      const it = icuItems.filter((x) => x.off < p + 4096).pop();
      k = `ICU data: ${it?.name ?? '?'}`;
    } else {
      const name = symbolAt(p);
      if (name) k = `symbol: ${name.slice(0, 80)}`;
      else {
        const txt = nodeFile.toString('latin1', fileOff(p), fileOff(p) + 4096).match(/[\x20-\x7e]{24,}/g) ?? [];
        k = `text: ${(txt.sort((a, b) => b.length - a.length)[0] ?? '(binary)').slice(0, 70).replace(/\|/g, '/')}`;
      }
    }
    what.set(k, (what.get(k) ?? 0) + 4096);
  }
  lines.push('', `### node binary pages in run, not in tunnel (${MB(extra.length * 4096)} MB)`, '', '| what | MB |', '|---|---|',
    ...[...what].sort((a, b) => b[1] - a[1]).map(([k, v]) => `| ${k} | ${MB(v)} |`));
}
process.stdout.write(lines.join('\n') + '\n');
process.exit(0);
