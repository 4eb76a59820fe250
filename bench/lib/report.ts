// The report of a run: ratio tables against `ssh -R` with the targets of issue 14 and their
// verdicts, the absolute figures, and the levers before/after.
import { SETTLED_MS } from './footprint.js';
import type { BenchSizes } from './options.js';
import type { Recorder } from './recorder.js';
import type { Summary } from './stats.js';
import { AES, baselineOf, isLeverVariant } from './tunnel-specs.js';
import type { TunnelSpec } from './tunnels.js';

export interface ReportRun {
  rec: Recorder;
  sizes: BenchSizes;
  quick: boolean;
}

function fmt(s: Summary | null, digits = 0): string {
  if (!s) return '–';
  const f = (x: number) => (Math.abs(x) >= 100 || digits === 0 ? x.toFixed(digits === 0 && Math.abs(x) < 10 ? 1 : digits) : x.toFixed(digits));
  return s.n > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median);
}

function ratioText(rec: Recorder, figure: string, tunnel: string, base: string): { text: string; ratio: number | null } {
  const a = rec.stat(figure, tunnel);
  const b = rec.stat(figure, base);
  if (!a || !b || b.median === 0) return { text: '–', ratio: null };
  const ratio = a.median / b.median;
  const paired = rec.pairedRatio(figure, tunnel, base);
  return { text: `${ratio.toFixed(2)}×${paired && paired.n > 1 ? ` (${paired.min.toFixed(2)}–${paired.max.toFixed(2)})` : ''}`, ratio };
}

interface Target { min?: number; max?: number; text: string }
interface Row { figure: string; label: string; digits: number; target?: Target; nodelayTarget?: Target }

const verdict = (value: number, target: Target) => ((target.min !== undefined ? value >= target.min : value <= target.max!) ? 'PASS' : '**MISS**');

// Targets of issue 14: bulk and CPU per GB for every cipher and condition; request/response and
// channel opens against `ssh -R … 'sleep infinity'` (sshd with NODELAY, agent with
// sshdNoDelayExec); forward-only (`ssh -N`) figures are reported and must not regress.
const RATIO_ROWS: Row[] = [
  { figure: 'bulk-upload', label: 'bulk upload MB/s (client → service)', digits: 0, target: { min: 0.95, text: '≥ 0.95×' } },
  { figure: 'bulk-download', label: 'bulk download MB/s (service → client)', digits: 0, target: { min: 0.95, text: '≥ 0.95×' } },
  { figure: 'cpu-per-gb-upload', label: 'tool CPU-s per GB, upload', digits: 2, target: { max: 1.5, text: '≤ 1.5×' } },
  { figure: 'cpu-per-gb-download', label: 'tool CPU-s per GB, download', digits: 2, target: { max: 1.5, text: '≤ 1.5×' } },
  { figure: 'ka1-rps', label: 'HTTP keep-alive req/s, 1 conn', digits: 0 },
  { figure: 'ka1-p50', label: 'HTTP keep-alive p50 ms, 1 conn', digits: 2 },
  { figure: 'ka1-p99', label: 'HTTP keep-alive p99 ms, 1 conn', digits: 2 },
  { figure: 'ka32-rps', label: 'HTTP keep-alive req/s, 32 conns', digits: 0, nodelayTarget: { min: 1.0, text: '≥ 1.0× (nodelay)' } },
  { figure: 'ka32-p50', label: 'HTTP keep-alive p50 ms, 32 conns', digits: 2 },
  { figure: 'ka32-p99', label: 'HTTP keep-alive p99 ms, 32 conns', digits: 2, nodelayTarget: { max: 1.0, text: '≤ 1.0× (nodelay)' } },
  { figure: 'newconn-rps', label: 'new connection per request, req/s', digits: 0 },
  { figure: 'opens', label: 'channel opens per second', digits: 0, nodelayTarget: { min: 1.0, text: '≥ 1.0× (nodelay)' } },
  { figure: 'cpu-per-open', label: 'tool CPU µs per channel open', digits: 0 },
];

/** The Markdown report (printed, and written to bench/results/latest.md by a full run). */
export function buildReport(run: ReportRun, tunnels: TunnelSpec[], meta: Record<string, string>): string {
  const { rec, sizes, quick } = run;
  const lines: string[] = [];
  const agentTunnels = tunnels.filter((t) => t.tool === 'agent' && !isLeverVariant(t));
  lines.push(`# edge-agent vs OpenSSH \`ssh -R\` — ${quick ? 'quick smoke run' : 'full run'} ${rec.runId}`);
  lines.push('');
  for (const [k, v] of Object.entries(meta)) lines.push(`- ${k}: ${v}`);
  lines.push('');
  lines.push('Medians with min–max over the repetitions; ratios are median/median with the range of per-round ratios (agent ÷ `ssh -R` with the same cipher and sshd condition, measured in the same round). The machine is shared and has 2 cores: compare ratios, not absolute numbers, across runs.');
  lines.push('');
  lines.push('| figure | edge-agent variant | `ssh -R` | edge-agent | ratio | target | met |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const row of RATIO_ROWS) {
    for (const t of agentTunnels) {
      if (t.httpTarget === 'http' && !row.figure.startsWith('ka') && !row.figure.startsWith('newconn')) continue;
      const base = baselineOf(t)!;
      const a = rec.stat(row.figure, t.id);
      const b = rec.stat(row.figure, base);
      if (!a || !b) continue;
      const r = ratioText(rec, row.figure, t.id, base);
      const target = t.httpTarget === 'http' ? undefined : row.target ?? (t.condition === 'nodelay' ? row.nodelayTarget : undefined);
      const met = !target || r.ratio === null ? '' : verdict(r.ratio, target);
      lines.push(`| ${row.label} | ${t.label} | ${fmt(b, row.digits)} | ${fmt(a, row.digits)} | ${r.text} | ${target?.text ?? ''} | ${met} |`);
    }
  }
  lines.push('');

  // the HTTP-aware target against a tcp:// target through the same kind of tunnel
  const httpRows = [
    { figure: 'ka32-rps', label: 'HTTP keep-alive req/s, 32 conns', target: { min: 0.6, text: '≥ 0.6×' } as Target },
    { figure: 'ka32-p99', label: 'HTTP keep-alive p99 ms, 32 conns', target: { max: 2.0, text: '≤ 2×' } as Target },
    { figure: 'ka1-rps', label: 'HTTP keep-alive req/s, 1 conn', target: undefined },
  ];
  const httpTunnels = agentTunnels.filter((t) => t.httpTarget === 'http');
  if (httpTunnels.some((t) => rec.stat('ka32-rps', t.id))) {
    lines.push('| figure (http:// target ÷ tcp:// target, same run) | edge-agent variant | tcp:// target | http:// target | ratio | target | met |');
    lines.push('|---|---|---|---|---|---|---|');
    for (const row of httpRows) {
      for (const t of httpTunnels) {
        const base = agentTunnels.find((x) => x.httpTarget === 'tcp' && x.cipher === t.cipher && x.condition === t.condition);
        const a = rec.stat(row.figure, t.id);
        const b = base && rec.stat(row.figure, base.id);
        if (!a || !b || !base) continue;
        const r = ratioText(rec, row.figure, t.id, base.id);
        lines.push(`| ${row.label} | ${t.label} | ${fmt(b, 2)} | ${fmt(a, 2)} | ${r.text} | ${row.target?.text ?? ''} | ${row.target && r.ratio !== null ? verdict(r.ratio, row.target) : ''} |`);
      }
    }
    lines.push('');
  }

  // absolute figures and the non-ratio targets
  lines.push('| figure | value | target | met |');
  lines.push('|---|---|---|---|');
  const abs = (label: string, figure: string, tunnel: string, digits: number, target?: { max?: number; min?: number; text: string }) => {
    const s = rec.stat(figure, tunnel);
    if (!s) return;
    const met = !target ? '' : verdict(s.median, target);
    lines.push(`| ${label} | ${fmt(s, digits)} | ${target?.text ?? ''} | ${met} |`);
  };
  for (const id of ['ssh-aes-fo', 'agent-aes-fo', 'ssh-chacha-fo', 'agent-chacha-fo']) {
    const open = rec.stat('held-open', id);
    if (!open) continue;
    const answering = rec.stat('held-answering', id)!;
    const errors = rec.stat('held-errors', id)!;
    const ok = open.median === sizes.held && answering.median === sizes.held && errors.median === 0;
    lines.push(`| ${sizes.held} held channels, ${id}: open / answering / errors | ${open.median} / ${answering.median} / ${errors.median} (all opened in ${fmt(rec.stat('held-open-seconds', id), 1)} s) | all, 0 errors | ${id.startsWith('agent') ? (ok ? 'PASS' : '**MISS**') : ''} |`);
  }
  const settled = `${SETTLED_MS / 1000} s after up`;
  abs(`RSS MB idle (${settled}), \`edge-agent tunnel\` with one forward`, 'rss-idle-tunnel-1', 'agent-cli', 1, { max: 55, text: '≤ 55 MB' });
  abs(`RSS MB idle (${settled}), \`edge-agent run\`: 1 session, 3 forwards, OTLP telemetry, fleet endpoint`, 'rss-idle-run-1', 'agent-run', 1, { max: 65, text: '≤ 65 MB' });
  abs(`RSS MB idle (${settled}), \`edge-agent run\`: the same session, telemetry off, no fleet endpoint`, 'rss-idle-run-1-bare', 'agent-run', 1);
  abs(`RSS MB idle (${settled}), \`edge-agent run\`: 3 such sessions (telemetry, fleet endpoint)`, 'rss-idle-run-3', 'agent-run', 1);
  abs(`RSS MB per additional session (${settled}), \`edge-agent run\` (3 vs 1 sessions)`, 'rss-per-extra-session-run', 'agent-run', 1, { max: 15, text: '≤ 15 MB' });
  abs('RSS MB 1.5 s after up (start-up leftovers), `edge-agent tunnel` with one forward', 'rss-start-tunnel-1', 'agent-cli', 1);
  abs('RSS MB 1.5 s after up, `edge-agent run`: 1 session, 3 forwards, OTLP telemetry, fleet endpoint', 'rss-start-run-1', 'agent-run', 1);
  abs('RSS MB 1.5 s after up, `edge-agent run`: telemetry off, no fleet endpoint', 'rss-start-run-1-bare', 'agent-run', 1);
  abs('RSS MB 1.5 s after up, `edge-agent run`: 3 sessions', 'rss-start-run-3', 'agent-run', 1);
  abs('RSS MB per additional session 1.5 s after up, `edge-agent run`', 'rss-start-per-extra-session-run', 'agent-run', 1);
  for (const [id, what] of [['agent-cli', '`edge-agent tunnel` (session in the main thread)'], ['agent-run', '`edge-agent run` (session in a worker)']] as const) {
    for (const dir of ['upload', 'download']) abs(`RSS MB peak during ${sizes.bulkBytes / 2 ** 20} MiB ${dir} through one forward, ${what}`, `rss-peak-bulk-${dir}`, id, 1, { max: 90, text: '≤ 90 MB' });
    for (const dir of ['upload', 'download']) abs(`RSS MB rise during that ${dir} over the RSS just before it, ${what}`, `rss-rise-bulk-${dir}`, id, 1);
  }
  for (const id of ['ssh-aes-fo', 'agent-aes-fo', 'ssh-chacha-fo', 'agent-chacha-fo']) {
    abs(`RSS MB idle (connected, 4 forwards), ${id}`, 'rss-idle', id, 1);
    abs(`RSS MB after bulk, ${id}`, 'rss-after-bulk', id, 1);
    abs(`RSS MB fresh process, before the ${sizes.held} channels, ${id}`, 'rss-held-before', id, 1);
    abs(`RSS MB with ${sizes.held} channels open, ${id}`, 'rss-held', id, 1);
    abs(`RSS KiB per open channel, ${id}`, 'rss-per-channel', id, 1, id.startsWith('agent') ? { max: 30, text: '≤ 30 KB' } : undefined);
  }
  abs('RSS MB, startAgent() with 1 session (worker thread, telemetry off), 1.5 s after up', 'rss-lib-1-session', 'agent-lib', 1);
  abs("RSS MB, the same imported from 'ssh-edge-agent/agent'", 'rss-lib-1-session-subpath', 'agent-lib', 1);
  abs('RSS MB per extra session (startAgent(), 3 vs 1 sessions, 1.5 s after up)', 'rss-lib-per-extra-session', 'agent-lib', 1, { max: 15, text: '≤ 15 MB' });
  abs('start → first forward up, startAgent() (library), ms', 'start-to-forward-lib', 'agent-lib', 0, { max: 300, text: '≤ 300 ms' });
  abs("start → first forward up, startAgent() from 'ssh-edge-agent/agent', ms", 'start-to-forward-lib-subpath', 'agent-lib', 0);
  abs('start → first forward up, `node dist/src/cli.js tunnel` process, ms', 'start-to-first-forward-cli', 'agent-aes-fo', 0, { max: 400, text: '≤ 400 ms' });
  abs('start → first forward up, `node dist/src/cli.js run` (telemetry, fleet endpoint), ms', 'start-to-first-forward-run', 'agent-run', 0);
  abs('start → first forward up, `node dist/src/cli.js run` (telemetry off, no fleet endpoint), ms', 'start-to-first-forward-run-bare', 'agent-run', 0);
  abs('start → first forward up, `ssh -N -R` process, ms', 'start-to-first-forward-cli', 'ssh-aes-fo', 0);
  abs('start → 4 forwards up, `edge-agent tunnel` built CLI process, ms', 'start-to-forward-cli', 'agent-aes-fo', 0);
  abs('start → 4 forwards up, `edge-agent tunnel` from a checkout (tsx), ms', 'start-to-forward-cli-tsx', 'agent-aes-fo', 0);
  abs('start → 4 forwards up, `ssh -N -R` process, ms', 'start-to-forward-cli', 'ssh-aes-fo', 0);
  for (const t of tunnels.filter((x) => x.tool === 'direct')) {
    abs('direct (no tunnel) bulk upload MB/s', 'bulk-upload', t.id, 0);
    abs('direct (no tunnel) bulk download MB/s', 'bulk-download', t.id, 0);
    abs('direct (no tunnel) keep-alive req/s, 32 conns', 'ka32-rps', t.id, 0);
    abs('direct (no tunnel) keep-alive p99 ms, 32 conns', 'ka32-p99', t.id, 2);
    abs('direct (no tunnel) new connection per request, req/s', 'newconn-rps', t.id, 0);
    abs('direct (no tunnel) channel (connection) opens/s', 'opens', t.id, 0);
  }
  for (const id of ['ssh-aes-fo', 'agent-aes-fo']) abs(`sshd CPU-s per GB, download, ${id}`, 'sshd-cpu-per-gb-download', id, 2);
  lines.push('');

  // lever before/after
  const levers = tunnels.filter(isLeverVariant);
  if (levers.length) {
    lines.push('Levers, before/after (same build; EDGE_DIAG_DISABLE switches a lever off):');
    lines.push('');
    lines.push('| figure | variant | value | ratio to `ssh -R` | vs all levers on |');
    lines.push('|---|---|---|---|---|');
    for (const figure of ['bulk-upload', 'bulk-download', 'cpu-per-gb-upload', 'cpu-per-gb-download', 'ka32-rps', 'ka32-p99']) {
      for (const t of [...levers, ...agentTunnels.filter((x) => x.httpTarget === 'tcp' && x.cipher === AES)]) {
        const s = rec.stat(figure, t.id);
        if (!s) continue;
        const full = t.condition === 'nodelay' ? 'agent-aes-nd' : 'agent-aes-fo';
        lines.push(`| ${figure} | ${t.label} | ${fmt(s, figure.includes('cpu') || figure.includes('p99') ? 2 : 0)} | ${ratioText(rec, figure, t.id, baselineOf(t)!).text} | ${t.id === full ? '' : ratioText(rec, figure, t.id, full).text} |`);
      }
    }
    lines.push('');
    lines.push('sshd condition lever (`--sshd-nodelay-exec`): compare the forward-only and nodelay rows above.');
  }
  return lines.join('\n') + '\n';
}
