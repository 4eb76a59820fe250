// Test helper: talk to a unix socket the way an outside client on the SSH host would (a remote
// socket forward's listener): send bytes, half-close, read until EOF; or one HTTP GET.
import http from 'node:http';
import { connect } from 'node:net';

/** Sends `data`, half-closes and resolves with everything read until EOF. */
export function exchangeOverUnixSocket(socketPath: string, data: Buffer, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = connect({ path: socketPath, allowHalfOpen: true });
    const parts: Buffer[] = [];
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no EOF from ${socketPath} within ${timeoutMs} ms`)); }, timeoutMs);
    sock.on('connect', () => sock.end(data));
    sock.on('data', (c: Buffer) => parts.push(c));
    sock.on('end', () => { clearTimeout(timer); sock.destroy(); resolve(Buffer.concat(parts)); });
    sock.on('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

/** GET `path` over the unix socket; resolves with status and body. */
export function httpGetOverUnixSocket(socketPath: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path, headers, agent: false, timeout: 10_000 }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString(), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} over ${socketPath} timed out`)));
    req.on('error', reject);
  });
}
