// The reverse-proxy recipe shipped in deploy/nginx/edge-gateway.conf, run by real nginx: a
// request for device-42.example.com reaches the service behind device-42's remote socket
// forward (held by the agent through a real sshd); other names never reach a socket.
import { mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpService } from '../helpers/http-services.js';
import { startNginx } from '../helpers/nginx.js';
import { startSshd } from '../helpers/sshd.js';
import { freePort } from '../helpers/tcp-services.js';
import { startSession } from '../helpers/tunnel-fixtures.js';

const RECIPE = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../deploy/nginx/edge-gateway.conf');

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function get(port: number, host: string, urlPath = '/hello'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers: { Host: host }, agent: false, timeout: 10_000 }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

describe('deploy/nginx/edge-gateway.conf with stock nginx', () => {
  it('routes device-42.example.com to device-42\'s socket by host name', async () => {
    const sshd = await startSshd({ extraConfig: ['StreamLocalBindUnlink yes'] });
    const web = await startHttpService();
    cleanups.push(() => sshd.dispose(), () => web.close());
    const socketDir = path.join(sshd.dir, 'edge');
    mkdirSync(socketDir);
    const { session } = await startSession(sshd, [{
      id: 'web', remoteSocket: path.join(socketDir, 'device-42.sock'), target: `http://127.0.0.1:${web.port}`,
      http: { trustForwardedHeaders: true },
    }]);
    cleanups.push(() => session.close(200));

    const recipe = readFileSync(RECIPE, 'utf8');
    expect(recipe).toContain('listen 80;');
    expect(recipe).toContain('/run/edge/$edge_device.sock');
    const port = await freePort();
    const nginx = await startNginx(recipe.replace('listen 80;', 'listen 127.0.0.1:{{PORT}};').replaceAll('/run/edge/', `${socketDir}/`), port);
    cleanups.push(() => nginx.stop());

    const page = await get(port, 'device-42.example.com', '/hello?from=nginx');
    expect(page, nginx.errorLog()).toEqual({ status: 200, body: 'hello world ?from=nginx\n' });
    const seen = web.seen.at(-1)!;
    expect(seen.headers.host).toBe('device-42.example.com');
    expect(seen.headers['x-forwarded-for']).toMatch(/^127\.0\.0\.1\b/); // the client nginx saw, kept by trustForwardedHeaders

    expect(await get(port, 'device-43.example.com')).toEqual({ status: 503, body: 'device device-43 is offline\n' });
    expect(await get(port, 'device-42.example.org')).toMatchObject({ status: 404 });
    expect((await get(port, '..%2fdevice-42.example.com')).status).toBeGreaterThanOrEqual(400);
    expect(web.seen.length).toBe(1);
  });
});
