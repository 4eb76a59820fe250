// The gateway's optional admin HTTP endpoint: GET /status (the status() JSON; ?pretty indents
// it), GET /healthz.
// Bind it to loopback: it shows user names and client addresses (never keys or passwords).
import http from 'node:http';
import type net from 'node:net';

export interface AdminServer {
  port: number;
  close(): Promise<void>;
}

export function startAdminServer(listen: { host: string; port: number }, getStatus: () => unknown): Promise<AdminServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, text: string, type = 'text/plain; charset=utf-8') => {
      const body = Buffer.from(text); // encoded once (a fleet's /status is large)
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store', 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(405, 'method not allowed\n');
    }
    if (path === '/healthz') return send(200, 'ok\n');
    if (path === '/status') {
      try {
        // Compact by default: with a fleet connected the body is large (≈1 KB per agent) and
        // indentation costs time and a third more bytes; ?pretty indents it for people.
        const pretty = /(^|&)pretty(=|&|$)/.test((req.url ?? '').split('?')[1] ?? '');
        return send(200, JSON.stringify(getStatus(), null, pretty ? 2 : undefined) + '\n', 'application/json');
      } catch (err) {
        return send(500, `status failed: ${(err as Error).message}\n`);
      }
    }
    return send(404, 'not found (try /status or /healthz)\n');
  });
  server.keepAliveTimeout = 5_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () => new Promise<void>((done) => {
          server.close(() => done());
          server.closeAllConnections();
        }),
      });
    });
  });
}
