// The agent's admin HTTP endpoint (default 127.0.0.1:9480): /healthz, /readyz, /status and
// /metrics. Read-only, so nothing here can change what the agent does — except
// POST /assignments/refresh, which only makes the agent fetch its fleet endpoint now, and
// POST /sessions/<id>/reconnect, which only makes a waiting session retry now.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EdgeError, isEdgeError } from '../errors.js';

export interface AgentStatusDocument {
  agentId: string;
  version: string;
  /** True from the first stop signal (close()) until the agent has stopped. */
  draining?: boolean;
  /** `endpoint` is set when assignments.url is (the agent waits for a document then). */
  assignments: { source: 'static' | 'remote' | 'cache'; revision: number | null; lastError: { code: string; message: string } | null; endpoint?: string };
  sessions: Array<{ id: string; state: string; forwards: Array<{ id: string; state: string }>; localForwards?: Array<{ id: string; state: string }>; dynamicForwards?: Array<{ id: string; state: string }> }>;
}

export interface AdminSource {
  status(): Promise<AgentStatusDocument>;
  metrics(): Promise<string>;
  /** POST /assignments/refresh: fetch the fleet endpoint now; resolves with the assignments status. Absent = no endpoint configured. */
  refreshAssignments?(): Promise<unknown>;
  /** POST /sessions/<id>/reconnect: retry that session now; resolves with its status; throws EDGE_ERR_UNKNOWN_SESSION. */
  reconnectSession?(id: string): Promise<unknown>;
}

export interface AdminServer {
  host: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * Ready means the agent is not draining, holds an assignment when it has a fleet endpoint (one
 * was applied from the endpoint or the cache), and every assigned forward is up: remote forwards
 * listening on the SSH host, and local/dynamic ones listening on the device with their session
 * connected (their connections only go anywhere then). Sessions draining away after a new
 * revision are no longer assigned and do not count.
 */
export function readiness(status: AgentStatusDocument): { ready: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (status.draining) reasons.push('draining: the agent is stopping');
  if (status.assignments.endpoint !== undefined && status.assignments.revision === null) {
    const last = status.assignments.lastError;
    reasons.push(`no assignment document applied yet from ${status.assignments.endpoint}${last ? ` (last error ${last.code}: ${last.message})` : ''}`);
  }
  for (const s of status.sessions) {
    if (s.state === 'draining' && !status.draining) continue;
    const listeners = [...(s.localForwards ?? []), ...(s.dynamicForwards ?? [])];
    const down = [...s.forwards, ...listeners].filter((f) => f.state !== 'up').map((f) => `${f.id} ${f.state}`);
    if (down.length > 0) reasons.push(`session ${s.id}: forward(s) not up: ${down.join(', ')}`);
    else if (listeners.length > 0 && s.state !== 'connected') reasons.push(`session ${s.id} is ${s.state}`);
  }
  return { ready: reasons.length === 0, reasons };
}

export function isReady(status: AgentStatusDocument): boolean {
  return readiness(status).ready;
}

export async function startAdminServer(listen: { host: string; port: number }, source: AdminSource): Promise<AdminServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/assignments/refresh') return refresh(req, res, source);
    const reconnectPath = /^\/sessions\/([^/]+)\/reconnect$/.exec(path ?? '');
    if (reconnectPath) return reconnect(req, res, source, reconnectPath[1]!);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'only GET\n');
    const answer = async () => {
      switch (path) {
        case '/': // the status page (status-page.ts: 36 KB of page, loaded when first asked for)
          return (await import('./status-page.js')).serveStatusPage(req, res);
        case '/healthz':
          return send(res, 200, 'text/plain', 'ok\n');
        case '/readyz': {
          const status = await source.status();
          const { ready, reasons } = readiness(status);
          const body = { ready, reason: reasons[0] ?? null, reasons, draining: status.draining ?? false, sessions: status.sessions.map((s) => ({ id: s.id, state: s.state, forwards: s.forwards.map((f) => ({ id: f.id, state: f.state })) })) };
          return send(res, ready ? 200 : 503, 'application/json', JSON.stringify(body) + '\n');
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

function reconnect(req: http.IncomingMessage, res: http.ServerResponse, source: AdminSource, encodedId: string): void {
  req.resume();
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    return send(res, 405, 'text/plain', 'POST /sessions/<id>/reconnect makes that session retry now\n');
  }
  let id: string;
  try {
    id = decodeURIComponent(encodedId);
  } catch {
    id = encodedId;
  }
  const unknown = () => send(res, 404, 'application/json', JSON.stringify({ code: 'EDGE_ERR_UNKNOWN_SESSION', error: `no session "${id}"` }) + '\n');
  if (!source.reconnectSession) return unknown();
  source.reconnectSession(id).then(
    (status) => send(res, 200, 'application/json', JSON.stringify(status, null, 2) + '\n'),
    (err: unknown) => {
      if (isEdgeError(err, 'EDGE_ERR_UNKNOWN_SESSION')) return unknown();
      send(res, isEdgeError(err, 'EDGE_ERR_CLOSED') ? 409 : 500, 'application/json', JSON.stringify({ code: isEdgeError(err) ? err.code : undefined, error: err instanceof Error ? err.message : String(err) }) + '\n');
    },
  );
}

function send(res: http.ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}
