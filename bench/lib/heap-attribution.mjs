// `node bench/lib/heap-attribution.mjs FILE.heapsnapshot [--scripts N]`: a heap snapshot's self
// sizes attributed to the scripts (modules / bundle chunks) they belong to, and the rest by kind.
// A script owns its source string, and each of its functions (SharedFunctionInfo → script edge)
// the compiled data only that function reaches: bytecode, constant pool, scope info, source
// positions, feedback metadata; a closure its feedback cell/vector. What no function claims is
// listed by node type and name. Self sizes, not retained sizes (no dominator tree): the figure
// for a script is what unloading it would give back, as long as nothing else held its objects.
import { readFileSync } from 'node:fs';

const file = process.argv[2];
const top = Number(process.argv[process.argv.indexOf('--scripts') + 1]) || 30;
const snap = JSON.parse(readFileSync(file, 'utf8'));
const m = snap.snapshot.meta;
const nf = m.node_fields.length, ef = m.edge_fields.length;
const types = m.node_types[0], etypes = m.edge_types[0];
const N = snap.nodes, E = snap.edges, S = snap.strings;
const n = N.length / nf;
const first = new Uint32Array(n + 1);
for (let i = 0; i < n; i++) first[i + 1] = first[i] + N[i * nf + 4] * ef;
const type = (i) => types[N[i * nf]];
const name = (i) => S[N[i * nf + 1]];
const size = (i) => N[i * nf + 3];
const edgeName = (e) => (etypes[E[e]] === 'element' || etypes[E[e]] === 'hidden' ? String(E[e + 1]) : S[E[e + 1]]);
function* edges(i) { for (let e = first[i]; e < first[i + 1]; e += ef) yield [etypes[E[e]], edgeName(e), E[e + 2] / nf]; }

const owner = new Int32Array(n).fill(-1); // node → script node
const scriptOf = new Map(); // SFI → script
const isScript = new Uint8Array(n), isSfi = new Uint8Array(n);
for (let i = 0; i < n; i++) {
  if (type(i) !== 'code') continue;
  for (const [et, en, to] of edges(i)) {
    if (et === 'internal' && en === 'source') isScript[i] = 1;
    if (et === 'internal' && en === 'script_or_debug_info' && type(to) === 'code') { isSfi[i] = 1; scriptOf.set(i, to); }
  }
}
// Scripts: themselves and their source and line-ends.
for (let i = 0; i < n; i++) if (isScript[i]) {
  owner[i] = i;
  for (const [et, , to] of edges(i)) if (et !== 'weak' && owner[to] < 0 && (type(to) === 'string' || type(to) === 'code') && !isScript[to] && !isSfi[to]) owner[to] = i;
}
/** Claims for `script` what `from` reaches through compiled-code nodes no one has claimed yet. */
function claim(from, script) {
  const stack = [from];
  while (stack.length) {
    const i = stack.pop();
    for (const [et, , to] of edges(i)) {
      if (et === 'weak' || owner[to] >= 0 || isScript[to] || isSfi[to]) continue;
      const t = type(to);
      if (t !== 'code' && !(t === 'hidden' && /FeedbackCell|ClosureFeedbackCellArray/.test(name(to))) && !(t === 'array' && name(to) === '')) continue;
      owner[to] = script;
      stack.push(to);
    }
  }
}
for (const [sfi, script] of scriptOf) { owner[sfi] = script; claim(sfi, script); }
for (let i = 0; i < n; i++) if (type(i) === 'closure') {
  for (const [et, en, to] of edges(i)) if (en === 'shared' && scriptOf.has(to)) { const s = scriptOf.get(to); if (owner[i] < 0) owner[i] = s; claim(i, s); }
}

const perScript = new Map(); // script name → {source, code, closures}
const rest = new Map();
let total = 0, scripted = 0;
for (let i = 0; i < n; i++) {
  total += size(i);
  if (owner[i] >= 0) {
    scripted += size(i);
    const key = name(owner[i]) || '(anonymous script)';
    const r = perScript.get(key) ?? { source: 0, code: 0, closures: 0 };
    if (owner[i] === i || (type(i) === 'string' && [...edges(owner[i])].some(([, en, to]) => en === 'source' && to === i))) r.source += size(i);
    else if (type(i) === 'closure') r.closures += size(i);
    else r.code += size(i);
    perScript.set(key, r);
  } else {
    const t = type(i);
    const key = /string/.test(t) ? t : `${t}: ${name(i).slice(0, 50)}`;
    rest.set(key, (rest.get(key) ?? 0) + size(i));
  }
}
const kb = (v) => (v / 1024).toFixed(0);
const short = (s) => s.replace(/^file:\/\/\/.*?\/dist[^/]*\//, 'dist/').replace(/^.*node_modules\//, '').replace(/^node:/, 'node:');
console.log(`snapshot ${file}: ${(total / 1048576).toFixed(2)} MiB self size; ${(scripted / 1048576).toFixed(2)} MiB attributed to ${perScript.size} scripts`);
const groups = new Map();
for (const [k, v] of perScript) {
  const g = /^node:|^internal\//.test(k) ? 'Node builtins (node:*, internal/*)' : /node_modules\//.test(k) ? `npm: ${/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(k)[1]}` : /\/dist[^/]*\/(chunks|src|workers|telemetry)\//.test(k) ? 'agent (dist/)' : k.startsWith('file://') ? `other: ${k}` : `other: ${k.slice(0, 40)}`;
  const r = groups.get(g) ?? { source: 0, code: 0, closures: 0, n: 0 };
  r.source += v.source; r.code += v.code; r.closures += v.closures; r.n++;
  groups.set(g, r);
}
console.log('\n| group | scripts | source KiB | compiled (bytecode, scope info, …) KiB | closures KiB | total KiB |\n|---|---|---|---|---|---|');
for (const [g, r] of [...groups].sort((a, b) => (b[1].source + b[1].code + b[1].closures) - (a[1].source + a[1].code + a[1].closures))) {
  console.log(`| ${g} | ${r.n} | ${kb(r.source)} | ${kb(r.code)} | ${kb(r.closures)} | ${kb(r.source + r.code + r.closures)} |`);
}
console.log(`\n| script (top ${top}) | source KiB | compiled KiB | closures KiB |\n|---|---|---|---|`);
for (const [k, r] of [...perScript].sort((a, b) => (b[1].source + b[1].code + b[1].closures) - (a[1].source + a[1].code + a[1].closures)).slice(0, top)) {
  console.log(`| ${short(k)} | ${kb(r.source)} | ${kb(r.code)} | ${kb(r.closures)} |`);
}
console.log(`\n| not attributed to a script, by kind (top ${top}) | KiB |\n|---|---|`);
for (const [k, v] of [...rest].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| ${k} | ${kb(v)} |`);
