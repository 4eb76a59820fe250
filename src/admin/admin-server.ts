// The agent's admin HTTP endpoint (default 127.0.0.1:9480): /healthz, /readyz, /status and
// /metrics. Read-only, so nothing here can change what the agent does — except
// POST /assignments/refresh, which only makes the agent fetch its fleet endpoint now.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EdgeError } from '../errors.js';
import { serveStatusPage } from './status-page.js';

export interface AgentStatusDocument {
  agentId: string;
  version: string;
  assignments: { source: 'static' | 'remote' | 'cache'; revision: number | null; lastError: { code: string; message: string } | null };
  sessions: Array<{ id: string; state: string; forwards: Array<{ id: string; state: string }>; localForwards?: Array<{ id: string; state: string }>; dynamicForwards?: Array<{ id: string; state: string }> }>;
}

export interface AdminSource {
  status(): Promise<AgentStatusDocument>;
  metrics(): Promise<string>;
  /** POST /assignments/refresh: fetch the fleet endpoint now; resolves with the assignments status. Absent = no endpoint configured. */
  refreshAssignments?(): Promise<unknown>;
}

export interface AdminServer {
  host: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * Ready means every assigned forward is up: remote forwards listening on the SSH host, and
 * local/dynamic ones listening on the device with their session connected (their connections
 * only go anywhere then).
 */
export function isReady(status: AgentStatusDocument): boolean {
  return status.sessions.every((s) => {
    const listeners = [...(s.localForwards ?? []), ...(s.dynamicForwards ?? [])];
    return s.forwards.every((f) => f.state === 'up') && listeners.every((f) => f.state === 'up') && (listeners.length === 0 || s.state === 'connected');
  });
}

export async function startAdminServer(listen: { host: string; port: number }, source: AdminSource): Promise<AdminServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/assignments/refresh') return refresh(req, res, source);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'only GET\n');
    const answer = async () => {
      switch (path) {
        case '/': // the status page (status-page.ts)
          return serveStatusPage(req, res);
        case '/healthz':
          return send(res, 200, 'text/plain', 'ok\n');
        case '/readyz': {
          const status = await source.status();
          const ready = isReady(status);
          return send(res, ready ? 200 : 503, 'application/json', JSON.stringify({ ready, sessions: status.sessions.map((s) => ({ id: s.id, state: s.state, forwards: s.forwards.map((f) => ({ id: f.id, state: f.state })) })) }) + '\n');
        }
        case '/status':
          return send(res, 200, 'application/json', JSON.stringify(await source.status(), null, 2) + '\n');
        case '/metrics':
          return send(res, 200, 'text/plain; version=0.0.4', await source.metrics());
        default:
          return send(res, 404, 'text/plain', 'not found: try /status, /readyz, /healthz, /metrics\n');
      }
    };
    answer().catch((err: unknown) => send(res, 500, 'text/plain', `${err instanceof Error ? err.message : String(err)}\n`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new EdgeError('EDGE_ERR_INVALID_CONFIG', `admin.listen: cannot listen on ${listen.host}:${listen.port} (${err.code ?? err.message}).`)));
    server.listen(listen.port, listen.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = listen.host;
  return {
    host,
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function refresh(req: http.IncomingMessage, res: http.ServerResponse, source: AdminSource): void {
  req.resume();
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    return send(res, 405, 'text/plain', 'POST /assignments/refresh fetches the fleet endpoint now\n');
  }
  if (!source.refreshAssignments) return send(res, 409, 'application/json', JSON.stringify({ error: 'assignments.url is not set: there is no fleet endpoint to fetch from' }) + '\n');
  source.refreshAssignments().then(
    (assignments) => send(res, 200, 'application/json', JSON.stringify(assignments, null, 2) + '\n'),
    (err: unknown) => send(res, 500, 'application/json', JSON.stringify({ error: err instanceof Error ? err.message : String(err) }) + '\n'),
  );
}

function send(res: http.ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}
