// GET / on the admin server: one self-contained page (inline CSS and JS, no external assets)
// for an operator on site. It only reads /status, once a second, so it shows exactly what
// /status shows and nothing more: sessions and their gateways, forwards with where they really
// listen, open channels, bytes/s per forward as a small live chart, recent errors with their
// codes, the assignment revision and its source. A strict Content-Security-Policy (hashes of the
// inline script and style, same-origin fetches only) keeps anything else from running on it.
import { createHash } from 'node:crypto';
import type http from 'node:http';

// ASCII only (entities in the HTML, \u escapes in the script): one non-ASCII character makes V8
// keep the whole source of the file this is bundled into as a two-byte string (twice its size).
// Loaded at the first GET / (admin-server.ts), not with the agent.
const PAGE = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-agent</title>
<link rel="icon" href="data:,">
<style>
:root { --bg: #f6f7f9; --fg: #1d2330; --muted: #667085; --card: #fff; --line: #e4e7ec; --up: #12805c; --warn: #b54708; --bad: #c0282d; --accent: #2f6fdb; }
@media (prefers-color-scheme: dark) { :root { --bg: #111418; --fg: #e6e8eb; --muted: #98a2b3; --card: #1a1e24; --line: #2b313a; --up: #3ccb7f; --warn: #f5a524; --bad: #f97066; --accent: #6aa1ff; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; flex-wrap: wrap; gap: 6px 24px; align-items: baseline; padding: 14px 20px; background: var(--card); border-bottom: 1px solid var(--line); }
header h1 { margin: 0; font-size: 18px; }
header .meta { color: var(--muted); }
header .meta b { color: var(--fg); font-weight: 600; }
#live { margin-left: auto; color: var(--muted); }
#live.down { color: var(--bad); font-weight: 600; }
main { padding: 16px 20px; display: grid; gap: 16px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; overflow-x: auto; }
section h2 { margin: 0; padding: 10px 14px; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); border-bottom: 1px solid var(--line); }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 7px 14px; border-bottom: 1px solid var(--line); white-space: nowrap; vertical-align: middle; }
th { font-weight: 600; color: var(--muted); font-size: 12px; }
tr:last-child td { border-bottom: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; border: 1px solid currentColor; }
.s-up, .s-connected { color: var(--up); }
.s-pending, .s-connecting, .s-retrying, .s-backoff, .s-draining, .s-idle { color: var(--warn); }
.s-failed, .s-refused, .s-stopped { color: var(--bad); }
.err { color: var(--bad); }
.muted { color: var(--muted); }
.empty { padding: 10px 14px; color: var(--muted); }
svg.spark { display: block; }
svg.spark polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; }
svg.spark polygon { fill: var(--accent); opacity: .12; }
ul.errors { list-style: none; margin: 0; padding: 0; }
ul.errors li { padding: 7px 14px; border-bottom: 1px solid var(--line); }
ul.errors li:last-child { border-bottom: 0; }
</style>
</head>
<body>
<header>
  <h1 id="agent">edge-agent</h1>
  <span class="meta">version <b id="version">&ndash;</b></span>
  <span class="meta">assignment <b id="revision">&ndash;</b> from <b id="source">&ndash;</b></span>
  <span class="meta" id="report"></span>
  <span id="live">connecting&hellip;</span>
</header>
<main>
  <section><h2>Sessions and gateways</h2><table><thead><tr><th>Session</th><th>State</th><th>Gateway</th><th>Server</th><th class="num">Attempts</th><th>Last error</th></tr></thead><tbody id="sessions"></tbody></table></section>
  <section><h2>Remote forwards (listening on the gateway)</h2><table><thead><tr><th>Forward</th><th>State</th><th>Asked</th><th>Really listens</th><th>Target</th><th class="num">Open</th><th class="num">Total</th><th>Bytes/s (last minute)</th><th class="num">Now</th><th>Last error</th></tr></thead><tbody id="forwards"></tbody></table></section>
  <section id="listeners-section"><h2>Local and SOCKS forwards (listening on this device)</h2><table><thead><tr><th>Forward</th><th>Kind</th><th>State</th><th>Listens</th><th>Destination</th><th class="num">Open</th><th class="num">Total</th><th>Bytes/s (last minute)</th><th class="num">Now</th><th>Last error</th></tr></thead><tbody id="listeners"></tbody></table></section>
  <section><h2>Recent errors</h2><ul class="errors" id="errors"></ul></section>
</main>
<script>
'use strict';
// Polls /status (relative, so the page also works behind a path prefix) once a second. Every
// value is inserted as text, never as markup. Rates come from the byte counters' deltas.
const POLL_MS = 1000, SAMPLES = 60, MAX_ERRORS = 30;
const rates = new Map();   // "session/forward" -> { t, bytes, samples: [bytes/s] }
const errors = new Map();  // "where|code|message" -> { where, code, message, first, last }
const $ = (id) => document.getElementById(id);
function h(tag, props, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) { if (v !== undefined && v !== null) n.setAttribute(k, String(v)); }
  for (const c of children) n.append(c instanceof Node ? c : document.createTextNode(c === null || c === undefined ? '' : String(c)));
  return n;
}
const badge = (state) => h('span', { class: 'badge s-' + state, 'data-state': state }, state);
const hostPort = (host, port) => (String(host).includes(':') ? '[' + host + ']' : host) + ':' + port;
function human(n) {
  if (!isFinite(n)) return '\u2013';
  const units = ['B/s', 'KB/s', 'MB/s', 'GB/s']; let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)) + ' ' + units[i];
}
function errCell(e) { return e ? h('span', { class: 'err', title: e.message }, e.code) : h('span', { class: 'muted' }, '\u2013'); }
function noteError(where, e, now) {
  if (!e || !e.code) return;
  const key = where + '|' + e.code + '|' + e.message;
  const seen = errors.get(key);
  if (seen) { seen.last = now; return; }
  errors.set(key, { where, code: e.code, message: e.message || '', first: e.at ? new Date(e.at) : now, last: now });
  while (errors.size > MAX_ERRORS) errors.delete(errors.keys().next().value);
}
function rate(key, bytes, now) {
  let r = rates.get(key);
  if (!r) { r = { t: now, bytes, samples: [] }; rates.set(key, r); return r; }
  const dt = (now - r.t) / 1000;
  if (dt > 0) { r.samples.push(Math.max(0, (bytes - r.bytes) / dt)); if (r.samples.length > SAMPLES) r.samples.shift(); }
  r.t = now; r.bytes = bytes;
  return r;
}
function spark(samples) {
  const W = 160, H = 28, ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'spark'); svg.setAttribute('width', W); svg.setAttribute('height', H); svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  const max = Math.max(1, ...samples);
  // right-aligned; a young chart is stretched (10 samples at least) so it reads from the start
  const step = W / (Math.min(SAMPLES, Math.max(samples.length, 10)) - 1), x0 = W - (samples.length - 1) * step;
  const pts = samples.map((v, i) => (x0 + i * step).toFixed(1) + ',' + (H - 1 - (v / max) * (H - 3)).toFixed(1));
  if (pts.length > 1) {
    const area = document.createElementNS(ns, 'polygon');
    area.setAttribute('points', x0.toFixed(1) + ',' + H + ' ' + pts.join(' ') + ' ' + W + ',' + H);
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('points', pts.join(' '));
    svg.append(area, line);
  }
  const title = document.createElementNS(ns, 'title'); title.textContent = 'peak ' + human(max); svg.append(title);
  return svg;
}
function render(s) {
  const now = new Date();
  document.title = s.agentId + ' \u00b7 edge-agent';
  $('agent').textContent = s.agentId;
  $('version').textContent = s.version;
  const a = s.assignments || {};
  $('revision').textContent = a.revision === null || a.revision === undefined ? 'none' : 'revision ' + a.revision;
  $('source').textContent = a.source || '\u2013';
  $('report').textContent = s.report ? 'reports to ' + s.report.endpoint + ': ' + s.report.sent + ' sent, ' + s.report.failed + ' failed' : '';
  noteError('assignments', a.lastError, now);
  if (s.report) noteError('report', s.report.lastError, now);

  const sessions = [], forwards = [], listeners = [];
  for (const se of s.sessions || []) {
    noteError(se.id, se.lastError, now);
    const gws = se.gateways || [{ host: se.host, port: se.port, state: se.state }];
    gws.forEach((g, i) => sessions.push(h('tr', { 'data-session': se.id },
      i === 0 ? h('td', {}, h('b', {}, se.id)) : h('td'), h('td', {}, badge(g.state || se.state)),
      h('td', { class: 'mono' }, hostPort(g.host, g.port)), h('td', { class: 'muted' }, g.serverBanner || se.serverBanner || '\u2013'),
      h('td', { class: 'num' }, i === 0 ? se.attempt : ''), h('td', {}, errCell(g.lastError || (i === 0 ? se.lastError : null))))));
    for (const f of se.forwards || []) {
      const key = se.id + '/' + f.id;
      noteError(key, f.lastError, now);
      const r = rate(key, f.bytesIn + f.bytesOut, now);
      const listens = f.remoteSocket ? f.remoteSocket : f.remotePort ? hostPort(f.bind, f.remotePort) : '\u2013';
      forwards.push(h('tr', { 'data-forward': key },
        h('td', {}, h('b', {}, f.id), h('span', { class: 'muted' }, ' \u00b7 ' + se.id)), h('td', { class: 'state' }, badge(f.state)),
        h('td', { class: 'mono muted' }, f.remoteSocket ? f.remoteSocket : hostPort(f.bind, f.port)),
        h('td', { class: 'mono listen', 'data-remote-port': f.remotePort === null ? '' : f.remotePort }, listens),
        h('td', { class: 'mono' }, f.target || 'events'), h('td', { class: 'num' }, f.channels.open), h('td', { class: 'num' }, f.channels.total),
        h('td', {}, spark(r.samples)), h('td', { class: 'num rate' }, human(r.samples.at(-1) ?? 0)), h('td', {}, errCell(f.lastError))));
    }
    for (const f of [...(se.localForwards || []), ...(se.dynamicForwards || [])]) {
      const key = se.id + '/' + f.id;
      noteError(key, f.lastError, now);
      const r = rate(key, f.bytesIn + f.bytesOut, now);
      listeners.push(h('tr', { 'data-forward': key },
        h('td', {}, h('b', {}, f.id), h('span', { class: 'muted' }, ' \u00b7 ' + se.id)), h('td', {}, f.kind === 'dynamic' ? 'SOCKS' : 'local'),
        h('td', { class: 'state' }, badge(f.state)), h('td', { class: 'mono listen' }, f.localPort ? hostPort(f.bind, f.localPort) : '\u2013'),
        h('td', { class: 'mono' }, f.kind === 'dynamic' ? (f.allowDestinations && f.allowDestinations.length ? f.allowDestinations.join(', ') : 'any allowed') : f.target),
        h('td', { class: 'num' }, f.channels.open), h('td', { class: 'num' }, f.channels.total),
        h('td', {}, spark(r.samples)), h('td', { class: 'num rate' }, human(r.samples.at(-1) ?? 0)), h('td', {}, errCell(f.lastError))));
    }
  }
  const fill = (id, rows, cols, text) => $(id).replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: cols, class: 'empty' }, text))]));
  fill('sessions', sessions, 6, 'No sessions.');
  fill('forwards', forwards, 10, 'No remote forwards.');
  fill('listeners', listeners, 10, 'No local or SOCKS forwards.');
  $('listeners-section').hidden = listeners.length === 0;
  const recent = [...errors.values()].sort((x, y) => y.last - x.last);
  $('errors').replaceChildren(...(recent.length ? recent.map((e) => h('li', { 'data-code': e.code },
    h('code', { class: 'err' }, e.code), ' ', h('b', {}, e.where), ' ', e.message, ' ',
    h('span', { class: 'muted' }, '(since ' + e.first.toLocaleTimeString() + (e.last - now === 0 ? ', now' : '') + ')'))) : [h('li', { class: 'muted' }, 'No errors seen.')]));
  $('live').textContent = 'live \u00b7 updated ' + now.toLocaleTimeString();
  $('live').className = '';
}
async function tick() {
  try {
    const res = await fetch('status', { cache: 'no-store' });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    render(await res.json());
  } catch (e) {
    $('live').textContent = 'agent unreachable (' + (e && e.message ? e.message : e) + ')';
    $('live').className = 'down';
  }
  setTimeout(tick, POLL_MS);
}
tick();
</script>
</body>
</html>
`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
const inline = (tag: 'script' | 'style') => {
  const match = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(PAGE);
  if (!match) throw new Error(`status page: no inline ${tag}`);
  return sha256(match[1]!);
};
const CSP = [
  "default-src 'none'",
  `script-src ${inline('script')}`,
  `style-src ${inline('style')}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function serveStatusPage(req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  res.end(req.method === 'HEAD' ? undefined : PAGE);
}
