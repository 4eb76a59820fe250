// `edge-agent check` as a user runs it: a real child process, real files, exit codes and output.
// Until `check` is wired into src/cli.ts the command module is run through a tiny entry that
// mirrors cli.ts's error handling (UsageError → 2); once wired, the real CLI is tested too.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliToExit } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// The shipped example names /etc/edge-agent files; `check` reads every file a config names, so
// the tests check a copy whose key and known_hosts paths point at real (throwaway) files.
const SHIPPED_EXAMPLE = join(ROOT, 'config/example.json');
let EXAMPLE: string;
const CHECK_MODULE = new URL('../../src/cli/check-command.ts', import.meta.url).href;
const WIRED = /runCheckCommand/.test(readFileSync(join(ROOT, 'src/cli.ts'), 'utf8'));

// Same contract as src/cli.ts: UsageError → "edge-agent: msg" + exit 2, other errors → exit 1.
const ENTRY = `
const { runCheckCommand } = await import(${JSON.stringify(CHECK_MODULE)});
const { UsageError } = await import(${JSON.stringify(new URL('../../src/cli/usage-error.ts', import.meta.url).href)});
try {
  process.exitCode = await runCheckCommand(process.argv.slice(1));
} catch (err) {
  process.stderr.write('edge-agent: ' + (err instanceof Error ? err.message : String(err)) + '\\n');
  process.exitCode = err instanceof UsageError ? 2 : 1;
}
`;

/** Runs `edge-agent check ARGS` in a child process with only the given EDGE_AGENT_* env. */
function runCheck(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EDGE_AGENT_')));
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', ENTRY, '--', ...args], {
    cwd: ROOT,
    env: { ...baseEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let dir: string;
let n = 0;
function write(doc: unknown): string {
  const file = join(dir, `f${++n}.json`);
  writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return file;
}

const FP = 'SHA256:' + 'A'.repeat(43);
const session = (over: Record<string, unknown> = {}) => ({
  id: 'gw', host: '127.0.0.1', username: 'edge', credential: 'default', hostKeys: { fingerprints: [FP] },
  forwards: [{ id: 'web', port: 8080, target: 'http://127.0.0.1:3000' }, { id: 'ssh', port: 2222, target: 'tcp://127.0.0.1:22' }],
  ...over,
});

beforeAll(() => {
  dir = mkdtempSync(join(os.tmpdir(), 'edge-check-'));
  writeFileSync(join(dir, 'id_ed25519'), 'not checked here\n');
  writeFileSync(join(dir, 'known_hosts'), '');
  EXAMPLE = join(dir, 'example.json');
  writeFileSync(EXAMPLE, readFileSync(SHIPPED_EXAMPLE, 'utf8').replaceAll('/etc/edge-agent/', `${dir}/`));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('edge-agent check', () => {
  it('the shipped example names its files under /etc/edge-agent: each missing one is named, exit 2', async () => {
    const r = await runCheck(['--config', SHIPPED_EXAMPLE]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('credentials.default.privateKeyFile: /etc/edge-agent/id_ed25519: cannot read it (no such file)');
    expect(r.stderr).toContain('sessions[0].hostKeys.knownHostsFile: /etc/edge-agent/known_hosts: cannot read it (no such file)');
  });

  it('accepts the shipped example config', async () => {
    const r = await runCheck(['--config', EXAMPLE]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('config OK: 1 sessions, 2 forwards\n');
    expect(r.code).toBe(0);
  });

  it('uses EDGE_AGENT_CONFIG and env overrides like `run`', async () => {
    const ok = await runCheck([], { EDGE_AGENT_CONFIG: EXAMPLE, EDGE_AGENT_ADMIN_LISTEN: '' });
    expect(ok.stdout).toBe('config OK: 1 sessions, 2 forwards\n');
    expect(ok.code).toBe(0);
    const bad = await runCheck([], { EDGE_AGENT_CONFIG: EXAMPLE, EDGE_AGENT_ADMIN_LISTEN: 'nope' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^admin\.listen: .*\(from EDGE_AGENT_ADMIN_LISTEN\)$/m);
  });

  it('with no config at all checks defaults + env only', async () => {
    const r = await runCheck([]);
    expect(r.stdout).toBe('config OK: 0 sessions, 0 forwards\n');
    expect(r.code).toBe(0);
  });

  it('lists every error, one per line, and exits 2', async () => {
    const file = write({
      agent: { logLevel: 'loud' },
      extra: 1,
      credentials: { default: { privateKeyFile: '/k' } },
      sessions: [session({ credential: 'nope', forwards: [{ id: 'a', port: 70000, target: 'tcp://10.1.2.3:22' }] })],
    });
    const r = await runCheck(['--config', file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual(expect.arrayContaining([
      expect.stringMatching(/^extra: unknown key/),
      expect.stringMatching(/^agent\.logLevel: must be one of/),
      'sessions[0].forwards[0].port: must be <= 65535 (got 70000)',
      'sessions[0].credential: unknown credential "nope" (known: default)',
      expect.stringMatching(/^sessions\[0\]\.forwards\[0\]\.target: target tcp:\/\/10\.1\.2\.3:22 .*not allowed/),
    ]));
    expect(lines).toHaveLength(5);
  });

  it('names a missing config file', async () => {
    const missing = join(dir, 'missing.json');
    const r = await runCheck(['--config', missing]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`config file ${missing}: cannot read it (no such file)\n`);
  });

  it('validates an assignment document against the config\'s credentials and local policy', async () => {
    const config = write({ credentials: { default: { agent: true } }, policy: { allowedTargets: ['127.0.0.1:*'] } });
    const good = write({ revision: 3, sessions: [session()] });
    const ok = await runCheck(['--config', config, '--assignments', good]);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toBe('config OK: 0 sessions, 0 forwards\nassignments OK: revision 3, 1 sessions, 2 forwards\n');
    expect(ok.code).toBe(0);

    const bad = write({ revision: -1, policy: { allowedTargets: ['*:*'] }, sessions: [session({ credential: 'other', forwards: [{ id: 'x', port: 1, target: 'tcp://192.168.1.1:80' }] })] });
    const r = await runCheck(['--config', config, '--assignments', bad]);
    expect(r.code).toBe(2);
    const prefix = `assignments ${bad}: `;
    expect(r.stderr.trim().split('\n')).toEqual(expect.arrayContaining([
      `${prefix}revision: must be >= 0 (got -1)`,
      expect.stringMatching(new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}policy: unknown key`)),
      `${prefix}sessions[0].credential: unknown credential "other" (known: default)`,
      expect.stringContaining(`${prefix}sessions[0].forwards[0].target: target tcp://192.168.1.1:80`),
    ]));

    const notJson = write('{ nope');
    const r2 = await runCheck(['-c', config, '-a', notJson]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(new RegExp(`^assignments ${notJson.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid JSON`));
  });

  it('rejects bad flags with a usage error (exit 2) and prints help', async () => {
    const r = await runCheck(['--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^edge-agent: .*--bogus/);
    const p = await runCheck(['extra-arg']);
    expect(p.code).toBe(2);
    const h = await runCheck(['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('Usage: edge-agent check [--config FILE] [--assignments FILE]');
  });

  it.runIf(WIRED)('works through the real edge-agent binary', async () => {
    const ok = await runCliToExit(['check', '--config', EXAMPLE]);
    expect(ok.stdout).toBe('config OK: 1 sessions, 2 forwards\n');
    expect(ok.code).toBe(0);
    const bad = await runCliToExit(['check', '--config', write({ agent: { drainTimeoutMs: -5 } })]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^agent\.drainTimeoutMs: /m);
  });
});
