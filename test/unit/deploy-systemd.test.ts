// deploy/systemd/edge-agent.service passes `systemd-analyze verify` (with ExecStart pointed at
// this checkout's bin, the only templated part) without a single warning, and keeps the
// settings a device deployment relies on.
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const unitText = readFileSync(path.join(root, 'deploy/systemd/edge-agent.service'), 'utf8');

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

describe('deploy/systemd/edge-agent.service', () => {
  beforeAll(() => {
    // Like the sshd the suite needs: installed on Debian CI machines when missing (root + apt).
    if (!onPath('systemd-analyze') && process.getuid?.() === 0 && onPath('apt-get')) {
      spawnSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd'], { stdio: 'inherit', timeout: 300_000 });
    }
    if (!onPath('systemd-analyze')) throw new Error("this test needs systemd's systemd-analyze: install it with 'sudo apt-get install systemd'");
  }, 320_000);

  it('passes systemd-analyze verify without warnings', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-unit-'));
    try {
      const exec = path.join(dir, 'edge-agent');
      writeFileSync(exec, '#!/bin/sh\n');
      chmodSync(exec, 0o755);
      const unit = path.join(dir, 'edge-agent.service');
      expect(unitText).toContain('ExecStart=/usr/local/bin/edge-agent run --config /etc/edge-agent/config.json');
      writeFileSync(unit, unitText.replaceAll('/usr/local/bin/edge-agent', exec));
      const r = await run('systemd-analyze', ['verify', unit], { env: { ...process.env, SYSTEMD_LOG_COLOR: '0' } }).catch((err: { code: number; stderr: string }) => ({ stdout: '', stderr: `exit ${err.code}: ${err.stderr}` }));
      // Unknown keys and bad values are only warnings (exit 0): none may appear.
      expect(r.stderr).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs sandboxed as a throwaway user with a state directory, restarts, reloads with SIGHUP', () => {
    const settings = new Map<string, string[]>();
    for (const line of unitText.split('\n')) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
      if (m) settings.set(m[1]!, [...(settings.get(m[1]!) ?? []), m[2]!]);
    }
    const one = (key: string) => settings.get(key)?.at(-1);
    expect(one('DynamicUser')).toBe('yes');
    expect(one('StateDirectory')).toBe('edge-agent');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('RestrictAddressFamilies')).toBe('AF_INET AF_INET6 AF_UNIX');
    expect(one('MemoryMax')).toMatch(/^\d+[KMG]$/);
    expect(one('Restart')).toBe('always');
    expect(one('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(one('CapabilityBoundingSet')).toBe('');
    expect(one('LoadCredential')).toBe('id_ed25519:/etc/edge-agent/id_ed25519');
  });
});
