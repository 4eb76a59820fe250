// `edge-agent status [--admin URL] [--json]`: asks a running agent's admin endpoint for
// /status and prints it as a table (or raw JSON).
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { UsageError } from './usage-error.js';

export const STATUS_USAGE = `Usage: edge-agent status [--admin URL|HOST:PORT] [--json]

Prints the running agent's /status. Default admin address: $EDGE_AGENT_ADMIN_LISTEN or 127.0.0.1:9480.
`;

interface StatusDoc {
  agentId: string;
  version: string;
  assignments: { source: string; revision: number | null; lastError: { code: string; message: string } | null };
  sessions: Array<{
    id: string; state: string; host: string; port: number; threadId: number | null; lastError: { code: string; message: string } | null;
    forwards: Array<{ id: string; state: string; bind: string; port: number; remotePort: number | null; remoteSocket?: string; target: string | null; channels: { open: number; total: number; rejected: number }; bytesIn: number; bytesOut: number }>;
    localForwards?: Array<ListenerRow & { target: string }>;
    dynamicForwards?: Array<ListenerRow & { allowDestinations: string[] }>;
  }>;
}

interface ListenerRow {
  id: string; state: string; bind: string; port: number; localPort: number | null;
  channels: { open: number; total: number; rejected: number }; bytesIn: number; bytesOut: number;
}

export async function runStatusCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { admin: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(STATUS_USAGE);
    return 0;
  }
  const admin = values.admin ?? process.env.EDGE_AGENT_ADMIN_LISTEN ?? '127.0.0.1:9480';
  const base = /^https?:\/\//.test(admin) ? admin.replace(/\/+$/, '') : `http://${admin}`;
  let body: string;
  try {
    const res = await request(`${base}/status`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
    body = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
  } catch (err) {
    process.stderr.write(`edge-agent: cannot read ${base}/status: ${(err as Error).message}; is the agent running with its admin server there?\n`);
    return 1;
  }
  if (values.json) {
    process.stdout.write(body.endsWith('\n') ? body : `${body}\n`);
    return 0;
  }
  process.stdout.write(renderStatus(JSON.parse(body) as StatusDoc));
  return 0;
}

export function renderStatus(doc: StatusDoc): string {
  const lines = [
    `agent ${doc.agentId} ${doc.version}  assignments: ${doc.assignments.source}${doc.assignments.revision !== null ? ` rev ${doc.assignments.revision}` : ''}${doc.assignments.lastError ? `  last error: ${doc.assignments.lastError.code}` : ''}`,
    '',
  ];
  // LISTEN: where the forward listens — host:port on the SSH host (remote forwards), or
  // "-L host:port" / "-D host:port" on the device (local and dynamic forwards).
  const rows: string[][] = [['SESSION', 'STATE', 'HOST', 'FORWARD', 'FWD STATE', 'LISTEN', 'TARGET', 'OPEN', 'TOTAL', 'REJ', 'IN', 'OUT']];
  for (const s of doc.sessions) {
    const host = `${s.host}:${s.port}`;
    const local = s.localForwards ?? [];
    const dynamic = s.dynamicForwards ?? [];
    if (s.forwards.length + local.length + dynamic.length === 0) rows.push([s.id, s.state, host, '-', '-', '-', '-', '', '', '', '', '']);
    for (const f of s.forwards) {
      rows.push([s.id, s.state, host, f.id, f.state, f.remoteSocket ?? `${f.bind || '*'}:${f.remotePort ?? f.port}`, f.target ?? '(app)', String(f.channels.open), String(f.channels.total), String(f.channels.rejected), bytes(f.bytesIn), bytes(f.bytesOut)]);
    }
    for (const f of [...local, ...dynamic]) {
      const target = 'target' in f ? f.target : `SOCKS ${f.allowDestinations.length ? f.allowDestinations.join(',') : '(nothing allowed)'}`;
      rows.push([s.id, s.state, host, f.id, f.state, `${'target' in f ? '-L' : '-D'} ${f.bind || '*'}:${f.localPort ?? f.port}`, target, String(f.channels.open), String(f.channels.total), String(f.channels.rejected), bytes(f.bytesIn), bytes(f.bytesOut)]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  lines.push(...rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()));
  for (const s of doc.sessions) if (s.lastError) lines.push(`${s.id}: ${s.lastError.code}: ${s.lastError.message}`);
  return lines.join('\n') + '\n';
}

function bytes(n: number): string {
  if (n < 1024) return `${n}B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)}K`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)}M`;
  return `${(n / 1024 ** 3).toFixed(2)}G`;
}
