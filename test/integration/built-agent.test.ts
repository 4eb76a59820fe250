// The compiled agent (what `npm run build` produces and the container runs): its session
// workers load the built JavaScript, with no TypeScript loader anywhere in the process.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const outDir = path.join(root, '.build-test');

describe('built agent (dist)', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  beforeAll(async () => {
    rmSync(outDir, { recursive: true, force: true });
    execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json'), '--outDir', outDir], { stdio: 'pipe' });
    sshd = await startSshd();
    echo = await startEchoServer();
  }, 120_000);
  afterAll(async () => {
    await Promise.all([echo?.close(), sshd?.dispose()]);
    rmSync(outDir, { recursive: true, force: true });
  });

  it('runs sessions in worker threads from the compiled output', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-agent-built-'));
    const config = path.join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({
      admin: { listen: '127.0.0.1:0' },
      agent: { logFormat: 'text' },
      credentials: { k: { privateKeyFile: sshd.userKeyPath } },
      sessions: [{ id: 's', host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'k', hostKeys: { knownHostsFile: sshd.knownHostsPath }, forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }] }],
    }));
    // Plain node, no --import tsx: a worker that tried to load .ts would fail.
    const child = spawn(process.execPath, [path.join(outDir, 'src/cli.js'), 'run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    try {
      const admin = await waitUntil(() => /status at (http:\/\/\S+)\/status/.exec(out)?.[1], 20_000, `admin URL (stderr: ${err})`);
      const status = await waitUntil(async () => {
        const doc = JSON.parse(await (await request(`${admin}/status`)).body.text()) as { sessions: Array<{ threadId: number | null; forwards: Array<{ state: string; remotePort: number }> }> };
        return doc.sessions[0]?.forwards[0]?.state === 'up' ? doc : undefined;
      }, 20_000, 'forward up');
      expect(status.sessions[0]!.threadId).toBeGreaterThan(0);
      const r = await connectAndCollect(status.sessions[0]!.forwards[0]!.remotePort, Buffer.from('built'));
      expect(r.data.toString()).toBe('built');
      child.kill('SIGTERM');
      const code = await new Promise((resolve) => child.on('exit', resolve));
      expect(code).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
