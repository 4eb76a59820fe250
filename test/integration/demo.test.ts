// `npm start` exactly as a newcomer runs it: within seconds it prints a URL, and fetching that
// URL returns the sample page through the tunnel (gateway → agent → service), with the
// channel printed as a span; Ctrl-C stops everything with exit code 0.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('npm start (the demo)', () => {
  it('prints a URL within seconds that serves the sample page through the tunnel', async () => {
    const started = Date.now();
    const child = spawn('npm', ['start'], { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, EDGE_AGENT_CONFIG: '' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    try {
      const url = await waitUntil(() => /Open (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1], 30_000, `the demo URL (stderr: ${err})`);
      expect(Date.now() - started).toBeLessThan(30_000);
      const res = await request(url);
      const body = await res.body.text();
      expect(res.statusCode).toBe(200);
      expect(body).toContain('Hello from inside the device');
      expect(body).toContain('GET / HTTP/1.1');
      await waitUntil(() => /\[span\] tunnel\.channel demo\/web from 127\.0\.0\.1:\d+ -> http:\/\/127\.0\.0\.1:\d+ in=\d+B out=\d+B/.test(out), 10_000, `the channel span line in:\n${out}`);
      expect(out).toMatch(/Agent status: http:\/\/127\.0\.0\.1:\d+\/status/);
      // Ctrl-C reaches npm and the demo alike (one process group): the demo stops cleanly.
      process.kill(-child.pid!, 'SIGINT');
      const { code, signal } = await exited;
      expect(code === 0 || signal === 'SIGINT').toBe(true);
      expect(out).toContain('stopping');
      expect(err).not.toMatch(/Error|EDGE_ERR/);
    } finally {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
    }
  });
});
