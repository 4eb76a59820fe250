// A session that failed authentication or the host key check comes back by itself once the
// files are fixed (issue 12, item 7): `edge-agent run` against a real sshd whose
// authorized_keys lacks the agent's key, then gets it; keys and known_hosts re-read from disk
// at every attempt; POST /sessions/<id>/reconnect; `edge-agent tunnel` after it was connected.
import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519 } from '../../src/gateway/host-key.js';
import { runCli, type CliProcess } from '../helpers/cli.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

interface SessionDoc { id: string; state: string; attempt: number; lastError: { code: string; message: string } | null; forwards: Array<{ id: string; state: string; remotePort: number | null }> }

describe('failed sessions come back without a restart', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  let dir: string;
  let authorizedKeys: string;
  let agentKeyLine: string;
  let otherKeyLines: string;

  beforeAll(async () => {
    sshd = await startSshd();
    echo = await startEchoServer();
    dir = mkdtempSync(path.join(os.tmpdir(), 'edge-agent-auth-retry-'));
    authorizedKeys = path.join(sshd.dir, 'authorized_keys');
    agentKeyLine = readFileSync(`${sshd.userKeyPath}.pub`, 'utf8').trim();
    otherKeyLines = readFileSync(authorizedKeys, 'utf8').split('\n').filter((l) => l.trim() !== '' && l.trim() !== agentKeyLine).join('\n') + '\n';
  });
  afterAll(async () => {
    writeFileSync(authorizedKeys, `${otherKeyLines}${agentKeyLine}\n`);
    await Promise.all([echo?.close(), sshd?.dispose()]);
  });

  const revokeAgentKey = () => writeFileSync(authorizedKeys, otherKeyLines);
  const authorizeAgentKey = () => appendFileSync(authorizedKeys, `${agentKeyLine}\n`);

  function config(extra: { keyFile?: string; knownHosts?: string; authRetryIntervalMs: number }) {
    return {
      agent: { id: 'auth-retry', drainTimeoutMs: 1000, logFormat: 'text' },
      admin: { listen: '127.0.0.1:0' },
      credentials: { k: { privateKeyFile: extra.keyFile ?? sshd.userKeyPath } },
      sessions: [{
        id: 'a', host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'k',
        hostKeys: { knownHostsFile: extra.knownHosts ?? sshd.knownHostsPath },
        reconnect: { retryIntervalMs: 200, maxRetryIntervalMs: 1000, authRetryIntervalMs: extra.authRetryIntervalMs },
        forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }],
      }],
    };
  }

  async function startRun(cfg: object): Promise<{ cli: CliProcess; admin: string }> {
    const file = path.join(dir, `config-${Math.random().toString(16).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(cfg));
    const cli = runCli(['run', '--config', file]);
    const m = await cli.waitForLine(/status at (http:\/\/\S+)\/status/);
    return { cli, admin: m[1]! };
  }

  async function session(admin: string): Promise<SessionDoc> {
    const res = await request(`${admin}/status`);
    return ((await res.body.json()) as { sessions: SessionDoc[] }).sessions[0]!;
  }

  async function metric(admin: string, name: string): Promise<number> {
    const text = await (await request(`${admin}/metrics`)).body.text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{session="a"}`));
    return Number(line?.split(' ').pop());
  }

  async function echoThrough(admin: string): Promise<string> {
    const port = (await session(admin)).forwards[0]!.remotePort!;
    return (await connectAndCollect(port, Buffer.from('back'))).data.toString();
  }

  it('authorized_keys without the agent key: backoff with EDGE_ERR_AUTH_FAILED; key appended: back within authRetryIntervalMs + a few seconds', async () => {
    revokeAgentKey();
    const authRetryIntervalMs = 2_000;
    const { cli, admin } = await startRun(config({ authRetryIntervalMs }));
    try {
      const failed = await waitUntil(async () => { const s = await session(admin); return s.lastError?.code === 'EDGE_ERR_AUTH_FAILED' && s.state === 'backoff' ? s : undefined; }, 20_000, 'backoff with EDGE_ERR_AUTH_FAILED');
      expect(failed.lastError!.message).toContain(sshd.username);
      // Counted although no attempt ever connected (it read 0: parked sessions lost their count).
      await waitUntil(async () => (await metric(admin, 'edge_agent_connect_attempts_total')) >= 1, 5_000, 'connect_attempts_total >= 1');

      authorizeAgentKey();
      const fixedAt = Date.now();
      await waitUntil(async () => (await session(admin)).forwards[0]!.state === 'up', authRetryIntervalMs * 1.25 + 8_000, 'session back after the key was added');
      expect(Date.now() - fixedAt).toBeLessThan(authRetryIntervalMs * 1.25 + 8_000);
      expect(await echoThrough(admin)).toBe('back');
      expect((await session(admin)).state).toBe('connected');
    } finally {
      cli.child.kill('SIGKILL');
      authorizeAgentKey();
    }
  });

  it('a wrong host key is only checked again, a replaced key file is read again; retries paced by authRetryIntervalMs; POST /sessions/<id>/reconnect retries now (unknown: 404 EDGE_ERR_UNKNOWN_SESSION)', async () => {
    // known_hosts first expects another key, and the credential's file holds a key sshd does not know.
    const knownHosts = path.join(dir, 'known_hosts_wrong');
    writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${generateEd25519().public.split(' ').slice(0, 2).join(' ')}\n`);
    const keyFile = path.join(dir, 'rotating_key');
    writeFileSync(keyFile, generateEd25519().private, { mode: 0o600 });
    const { cli, admin } = await startRun(config({ keyFile, knownHosts, authRetryIntervalMs: 600_000 }));
    const reconnect = async () => {
      const res = await request(`${admin}/sessions/a/reconnect`, { method: 'POST' });
      expect(res.statusCode).toBe(200);
      await res.body.text();
    };
    try {
      const mismatch = await waitUntil(async () => { const s = await session(admin); return s.state === 'backoff' && s.lastError?.code === 'EDGE_ERR_HOST_KEY_MISMATCH' ? s : undefined; }, 20_000, 'backoff with EDGE_ERR_HOST_KEY_MISMATCH');
      expect(mismatch.lastError!.message).toContain(sshd.hostKeyFingerprint);
      // Paced by authRetryIntervalMs (10 min here), not by the 200 ms reconnect backoff.
      await new Promise((r) => setTimeout(r, 1_500));
      expect((await session(admin)).attempt).toBe(1);

      // Still the wrong key after a retry: never accepted.
      await reconnect();
      await waitUntil(async () => (await session(admin)).attempt === 2 && (await session(admin)).state === 'backoff', 10_000, 'a second refused attempt');
      expect((await session(admin)).lastError?.code).toBe('EDGE_ERR_HOST_KEY_MISMATCH');

      copyFileSync(sshd.knownHostsPath, knownHosts);
      await reconnect();
      await waitUntil(async () => (await session(admin)).lastError?.code === 'EDGE_ERR_AUTH_FAILED', 10_000, 'host key accepted, authentication refused');

      copyFileSync(sshd.userKeyPath, keyFile);
      await reconnect();
      await waitUntil(async () => (await session(admin)).forwards[0]!.state === 'up', 10_000, 'session up after POST reconnect');
      expect(await echoThrough(admin)).toBe('back');

      const unknown = await request(`${admin}/sessions/nope/reconnect`, { method: 'POST' });
      expect(unknown.statusCode).toBe(404);
      expect(((await unknown.body.json()) as { code: string }).code).toBe('EDGE_ERR_UNKNOWN_SESSION');
      const get = await request(`${admin}/sessions/a/reconnect`);
      expect(get.statusCode).toBe(405);
      await get.body.text();
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('edge-agent tunnel: once connected, an authentication failure is retried instead of ending the command', async () => {
    const cli = runCli(['tunnel', '-p', String(sshd.port), '-i', sshd.userKeyPath, '--known-hosts', sshd.knownHostsPath,
      '--retry-interval-ms', '200', '--max-retry-interval-ms', '500', '--auth-retry-interval-ms', '1000',
      '-R', `127.0.0.1:0:127.0.0.1:${echo.port}`, `${sshd.username}@127.0.0.1`]);
    try {
      await cli.waitForLine(/^forward R1 up:/);
      revokeAgentKey();
      await sshd.kill();
      await sshd.restart();
      await waitUntil(() => cli.stderr().includes('EDGE_ERR_AUTH_FAILED') || /rejected authentication/.test(cli.stderr()), 20_000, 'an authentication failure');
      await new Promise((r) => setTimeout(r, 1_500));
      expect(cli.child.exitCode).toBeNull();
      authorizeAgentKey();
      await waitUntil(() => cli.stdout().split('\n').filter((l) => l.startsWith('forward R1 up:')).length >= 2, 15_000, 'forward back up');
    } finally {
      cli.child.kill('SIGKILL');
      authorizeAgentKey();
    }
  });
});
