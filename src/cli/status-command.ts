// `edge-agent status [--admin URL | --config FILE] [--json | --health]`: asks a running agent's
// admin endpoint for /status and prints it as a table (or raw JSON); --health only asks /healthz
// (the container's HEALTHCHECK).
import { request } from 'undici';
import { resolveAdminAddress } from './admin-address.js';
import { parseCommandArgs, UsageError } from './usage-error.js';

export const STATUS_USAGE = `Usage: edge-agent status [--admin URL|HOST:PORT] [--config FILE] [--json | --health]

Prints the running agent's /status. The admin address is --admin, else the agent's own admin.listen:
$EDGE_AGENT_ADMIN_LISTEN, $EDGE_AGENT_CONFIG_JSON, the config file (--config or $EDGE_AGENT_CONFIG),
or 127.0.0.1:9480 (a wildcard address such as 0.0.0.0 is asked on loopback).

Options:
  --admin URL|HOST:PORT   the admin server to ask
  -c, --config FILE       read admin.listen from this config file
  --json                  print /status as JSON
  --health                only ask /healthz: exit 0 when the agent answers, 1 when not (health checks)
  -h, --help              this help
`;

interface StatusDoc {
  agentId: string;
  version: string;
  assignments: { source: string; revision: number | null; lastError: { code: string; message: string } | null };
  sessions: Array<{
    id: string; state: string; host: string; port: number; threadId: number | null; lastError: { code: string; message: string } | null;
    forwards: Array<{ id: string; state: string; bind: string; port: number; remotePort: number | null; remoteSocket?: string; target: string | null; channels: { open: number; total: number; rejected: number }; bytesIn: number; bytesOut: number; bindWarning?: string }>
    localForwards?: Array<ListenerRow & { target: string }>;
    dynamicForwards?: Array<ListenerRow & { allowDestinations: string[] }>;
  }>;
}

interface ListenerRow {
  id: string; state: string; bind: string; port: number; localPort: number | null;
  channels: { open: number; total: number; rejected: number }; bytesIn: number; bytesOut: number;
}

export async function runStatusCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({ args: argv, options: { admin: { type: 'string' }, config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, health: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(STATUS_USAGE);
    return 0;
  }
  if (values.config === '') throw new UsageError('--config needs a file name');
  const { base, from } = resolveAdminAddress(values.admin, values.config, process.env);
  if (values.health) return health(base);
  let body: string;
  try {
    const res = await request(`${base}/status`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
    body = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
  } catch (err) {
    process.stderr.write(`edge-agent: cannot read ${base}/status: ${(err as Error).message}; is the agent running with its admin server there? (address from ${from})\n`);
    return 1;
  }
  if (values.json) {
    process.stdout.write(body.endsWith('\n') ? body : `${body}\n`);
    return 0;
  }
  process.stdout.write(renderStatus(JSON.parse(body) as StatusDoc));
  return 0;
}

/** GET /healthz: one line, exit 0 (answers 200) or 1. */
async function health(base: string): Promise<number> {
  try {
    const res = await request(`${base}/healthz`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
    await res.body.dump();
    if (res.statusCode === 200) {
      process.stdout.write(`healthy: ${base}/healthz answered 200\n`);
      return 0;
    }
    process.stderr.write(`edge-agent: unhealthy: ${base}/healthz answered ${res.statusCode}\n`);
  } catch (err) {
    process.stderr.write(`edge-agent: unhealthy: cannot reach ${base}/healthz: ${(err as Error).message}\n`);
  }
  return 1;
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
  for (const s of doc.sessions) for (const f of s.forwards) if (f.bindWarning) lines.push(`${s.id}/${f.id}: warning: ${f.bindWarning}`);
  return lines.join('\n') + '\n';
}

function bytes(n: number): string {
  if (n < 1024) return `${n}B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)}K`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)}M`;
  return `${(n / 1024 ** 3).toFixed(2)}G`;
}
