/**
 * vitest globalSetup: make sure OpenSSH's sshd (and ssh-keygen) are available.
 *
 * - missing, running as root with apt-get: `apt-get update` + install openssh-server/-client
 *   (output shown, since it takes a while);
 * - otherwise: fail with a one-line message telling the user what to install.
 *
 * It also creates one temp dir for this test run (exported to the workers as
 * SSHD_HELPER_TMPDIR; test/helpers/sshd.ts puts its per-server dirs inside it) and,
 * on teardown, SIGKILLs any sshd still running from that dir and removes it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const SSHD_PATH = '/usr/sbin/sshd';
const MISSING_SSHD =
  "npm test needs OpenSSH's sshd at /usr/sbin/sshd: install it with 'sudo apt-get install openssh-server' (or your system's openssh-server package)";
const MISSING_KEYGEN =
  "npm test needs OpenSSH's ssh-keygen on PATH: install it with 'sudo apt-get install openssh-client' (or your system's openssh-client package)";

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function aptInstall(): void {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  console.log('[ensure-sshd] OpenSSH not found: installing openssh-server and openssh-client with apt-get ...');
  const steps: string[][] = [
    ['update'],
    ['install', '-y', '--no-install-recommends', 'openssh-server', 'openssh-client'],
  ];
  for (const args of steps) {
    const r = spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env });
    if (r.status !== 0) {
      throw new Error(`apt-get ${args.join(' ')} failed (exit ${r.status ?? r.signal}). ${MISSING_SSHD}`);
    }
  }
}

function killLeftovers(dir: string): void {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      // only processes started from this run's own temp dir (sshd -f <dir>/.../sshd_config)
      if (cmdline.includes(`${dir}${path.sep}`)) process.kill(Number(e), 'SIGKILL');
    } catch {
      /* gone or not ours */
    }
  }
}

export default function setup(): () => void {
  const haveSshd = existsSync(SSHD_PATH);
  const haveKeygen = onPath('ssh-keygen');
  if (!haveSshd || !haveKeygen) {
    if (isRoot() && onPath('apt-get')) {
      aptInstall();
    }
    if (!existsSync(SSHD_PATH)) throw new Error(MISSING_SSHD);
    if (!onPath('ssh-keygen')) throw new Error(MISSING_KEYGEN);
  }

  // Every test tier (vitest project) runs this setup; the first one makes the run's dir and
  // cleans it up at the end, the others share it.
  if (process.env.SSHD_HELPER_TMPDIR && process.env.SSHD_HELPER_TMPDIR_OWNER === String(process.pid)) return () => {};
  const runDir = mkdtempSync(path.join(os.tmpdir(), 'edge-agent-test-run-'));
  process.env.SSHD_HELPER_TMPDIR = runDir;
  process.env.SSHD_HELPER_TMPDIR_OWNER = String(process.pid);

  return () => {
    killLeftovers(runDir);
    if (!process.env.KEEP_SSHD_DIR) rmSync(runDir, { recursive: true, force: true });
  };
}
