/**
 * Test helper: a real, throwaway OpenSSH sshd bound to 127.0.0.1.
 *
 * Everything (host key, user keys, authorized_keys, known_hosts, config, pid
 * file) lives in a private temp dir. The agent logs in as the current OS user;
 * a sshd started by a non-root user can only authenticate that same user,
 * which is exactly what we need.
 *
 *   const sshd = await startSshd();
 *   // connect with ssh2: host sshd.host, port sshd.port, username sshd.username,
 *   // privateKey readFileSync(sshd.userKeyPath), hostVerifier vs sshd.hostPublicKeyLine
 *   await sshd.kill();      // host dies (SIGKILL listener and all session processes)
 *   await sshd.restart();   // same port, same keys
 *   await sshd.dispose();   // stop + remove the temp dir (call in afterAll)
 *
 * Password auth (`passwordAuth: true`): sshd runs with `UsePAM no`, so it checks
 * the password against /etc/shadow itself. That only works when the tests run as
 * root (sshd must read /etc/shadow) AND the account has a real password set. The
 * helper never sets or changes any system password, so on a typical CI container
 * (root:* in /etc/shadow) password logins will be rejected; the option only flips
 * `PasswordAuthentication yes` in the config.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './tcp-services.js';

export const SSHD_PATH = '/usr/sbin/sshd';

export interface SshdOptions {
  /** Reuse a fixed port (e.g. a port a previous server used). Default: a free port. */
  port?: number;
  /** Default 'clientspecified'. */
  gatewayPorts?: 'no' | 'yes' | 'clientspecified';
  /**
   * Extra sshd_config lines. sshd keeps the FIRST value it sees for most keywords, so these
   * are written before the helper's defaults and therefore override them; lines from the
   * first `Match` block onwards are written at the end of the file.
   */
  extraConfig?: string[];
  /** `PasswordAuthentication yes` (needs root + an account password, see file header). */
  passwordAuth?: boolean;
  /** Readiness timeout for each start, ms. Default 15000. */
  startTimeoutMs?: number;
  /** CA public key lines written to a TrustedUserCAKeys file (user certificates they sign log in). */
  trustedUserCaKeys?: string[];
  /** `AuthorizedPrincipalsFile` contents: the principals a user certificate must carry one of. */
  authorizedPrincipals?: string[];
  /** Sign the host key with this CA (ssh-keygen -s -h) and serve it with `HostCertificate`. */
  hostCertificate?: { caKeyPath: string; principals: string[]; identity?: string; validity?: string };
  /** Host key type (default ed25519). */
  hostKeyType?: 'ed25519' | 'rsa';
  /** `RevokedKeys` contents (public keys or certificates, one per line). */
  revokedKeys?: string[];
}

export interface SshdHandle {
  readonly port: number;
  readonly host: '127.0.0.1';
  /** Temp dir holding keys, config, logs. */
  readonly dir: string;
  /** The user the agent logs in as (the current OS user). */
  readonly username: string;
  /** Unencrypted ed25519 private key (OpenSSH format), authorized. */
  readonly userKeyPath: string;
  /** Encrypted ed25519 private key, authorized; its passphrase is `passphrase`. */
  readonly encryptedUserKeyPath: string;
  readonly passphrase: string;
  /** RSA private key in PEM format ("BEGIN RSA PRIVATE KEY"), authorized. */
  readonly rsaUserKeyPath: string;
  /** 'ssh-ed25519 AAAA…' (no comment) of the server host key. */
  readonly hostPublicKeyLine: string;
  /** 'SHA256:…' as `ssh-keygen -lf` prints it. */
  readonly hostKeyFingerprint: string;
  /** known_hosts with a `[127.0.0.1]:PORT ssh-ed25519 …` line. */
  readonly knownHostsPath: string;
  /** The host key's public half (`ssh_host_ed25519_key.pub`). */
  readonly hostPublicKeyPath: string;
  /** Path of the generated sshd_config. */
  readonly configPath: string;
  /** True while the sshd listener process is alive. */
  readonly running: boolean;
  /** Graceful: SIGTERM the listener and its session processes, wait for exit. */
  stop(): Promise<void>;
  /** Host dies: SIGKILL the listener and every session process, wait until gone. */
  kill(): Promise<void>;
  /** Start again on the same port with the same keys (stops first if running). */
  restart(): Promise<void>;
  /** stderr (sshd -D -e) collected so far, across restarts. */
  logs(): string;
  /** stop() and remove the temp dir. */
  dispose(): Promise<void>;
}

// ---------------------------------------------------------------------------
// process-tree utilities (Linux /proc; elsewhere we fall back to the process group)

function listProcesses(): Map<number, number> /* pid -> ppid */ {
  const out = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // "pid (comm) state ppid ..." — comm may contain spaces/parens
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(e), Number(rest[1]));
    } catch {
      /* raced with exit */
    }
  }
  return out;
}

function descendants(root: number): number[] {
  const procs = listProcesses();
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of procs) {
    let list = children.get(ppid);
    if (!list) children.set(ppid, (list = []));
    list.push(pid);
  }
  const result: number[] = [];
  const queue = [root];
  while (queue.length) {
    const p = queue.shift()!;
    for (const c of children.get(p) ?? []) {
      result.push(c);
      queue.push(c);
    }
  }
  return result;
}

function isGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state === 'Z' || state === 'X';
  } catch {
    if (!existsSync('/proc/self')) {
      // no procfs: probe with signal 0
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }
    return true;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** Stop the root (so it cannot fork), then collect its whole tree, stopping each member. */
function freezeTree(root: number): number[] {
  signal(root, 'SIGSTOP');
  const all = new Set<number>();
  for (let round = 0; round < 10; round++) {
    let added = false;
    for (const pid of descendants(root)) {
      if (!all.has(pid)) {
        all.add(pid);
        signal(pid, 'SIGSTOP');
        added = true;
      }
    }
    // also re-scan from each known member (covers re-parenting races)
    for (const pid of [...all]) {
      for (const d of descendants(pid)) {
        if (!all.has(d)) {
          all.add(d);
          signal(d, 'SIGSTOP');
          added = true;
        }
      }
    }
    if (!added) break;
  }
  return [...all];
}

function killTreeSync(root: number): void {
  const tree = freezeTree(root);
  signal(-root, 'SIGKILL');
  signal(root, 'SIGKILL');
  for (const pid of tree) signal(pid, 'SIGKILL');
}

async function waitGone(pids: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pids.every(isGone)) return true;
    await sleep(20);
  }
  return pids.every(isGone);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// cleanup of anything left running when the test process exits

const live = new Set<{ pid(): number | undefined; dir: string }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const h of live) {
      const pid = h.pid();
      if (pid) killTreeSync(pid);
      if (!process.env.KEEP_SSHD_DIR) {
        try {
          rmSync(h.dir, { recursive: true, force: true });
        } catch {
          /* ignore */
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------

/**
 * A free port for a server that a test kills and restarts on the same port (tcp-services'
 * freePort: drawn below the kernel's ephemeral range, so no port-0 listener of a test running in
 * parallel can take it while the server is down).
 */
export const freeLocalPort = (): Promise<number> => freePort('127.0.0.1');

function sshdVersion(): [number, number] {
  try {
    // `sshd -V` prints e.g. "OpenSSH_9.2p1 Debian-2, OpenSSL 3.0.x" (to stderr, exit 0 on new versions)
    const r = execFileSync(SSHD_PATH, ['-V'], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    const m = /OpenSSH_(\d+)\.(\d+)/.exec(r);
    if (m) return [Number(m[1]), Number(m[2])];
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string };
    const m = /OpenSSH_(\d+)\.(\d+)/.exec(`${err.stderr ?? ''}${err.stdout ?? ''}`);
    if (m) return [Number(m[1]), Number(m[2])];
  }
  return [0, 0];
}

function keygen(args: string[]): void {
  execFileSync('ssh-keygen', ['-q', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** As root with `UsePAM no`, sshd refuses accounts whose shadow password starts with '!'. */
function accountLocked(username: string): boolean {
  if (!isRoot()) return false;
  try {
    const line = readFileSync('/etc/shadow', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${username}:`));
    return !!line && line.split(':')[1]!.startsWith('!');
  } catch {
    return false;
  }
}

function baseTempDir(): string {
  const shared = process.env.SSHD_HELPER_TMPDIR;
  if (shared && existsSync(shared)) return shared;
  return os.tmpdir();
}

export async function startSshd(opts: SshdOptions = {}): Promise<SshdHandle> {
  if (!existsSync(SSHD_PATH)) {
    throw new Error(
      `npm test needs OpenSSH's sshd at ${SSHD_PATH}: install it with 'sudo apt-get install openssh-server' (or your system's openssh-server package)`,
    );
  }
  const root = isRoot();
  if (root) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  const dir = mkdtempSync(path.join(baseTempDir(), 'edge-agent-sshd-'));
  chmodSync(dir, 0o700);
  const username = os.userInfo().username;
  const passphrase = 'correct horse battery staple';

  const hostKeyPath = path.join(dir, 'ssh_host_ed25519_key');
  const userKeyPath = path.join(dir, 'id_ed25519');
  const encryptedUserKeyPath = path.join(dir, 'id_ed25519_encrypted');
  const rsaUserKeyPath = path.join(dir, 'id_rsa_pem');
  keygen(opts.hostKeyType === 'rsa' ? ['-t', 'rsa', '-b', '2048', '-N', '', '-C', 'edge-agent-test-host', '-f', hostKeyPath] : ['-t', 'ed25519', '-N', '', '-C', 'edge-agent-test-host', '-f', hostKeyPath]);
  keygen(['-t', 'ed25519', '-N', '', '-C', 'edge-agent-test-user', '-f', userKeyPath]);
  keygen(['-t', 'ed25519', '-N', passphrase, '-C', 'edge-agent-test-user-enc', '-f', encryptedUserKeyPath]);
  keygen(['-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', '', '-C', 'edge-agent-test-user-rsa', '-f', rsaUserKeyPath]);
  for (const k of [hostKeyPath, userKeyPath, encryptedUserKeyPath, rsaUserKeyPath]) chmodSync(k, 0o600);

  const authorizedKeysPath = path.join(dir, 'authorized_keys');
  writeFileSync(
    authorizedKeysPath,
    [userKeyPath, encryptedUserKeyPath, rsaUserKeyPath].map((k) => readFileSync(`${k}.pub`, 'utf8').trim()).join('\n') + '\n',
    { mode: 0o600 },
  );

  const hostPub = readFileSync(`${hostKeyPath}.pub`, 'utf8').trim().split(/\s+/);
  const hostPublicKeyLine = `${hostPub[0]} ${hostPub[1]}`;
  const fpOut = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${hostKeyPath}.pub`], { encoding: 'utf8' });
  const hostKeyFingerprint = fpOut.trim().split(/\s+/)[1]!;
  const knownHostsPath = path.join(dir, 'known_hosts');
  const configPath = path.join(dir, 'sshd_config');
  const pidFile = path.join(dir, 'sshd.pid');

  // Certificates (ssh-keygen -s) and the files sshd checks them with.
  const certConfig: string[] = [];
  if (opts.trustedUserCaKeys) {
    const file = path.join(dir, 'trusted_user_ca_keys');
    writeFileSync(file, opts.trustedUserCaKeys.join('\n') + '\n', { mode: 0o600 });
    certConfig.push(`TrustedUserCAKeys ${file}`);
  }
  if (opts.authorizedPrincipals) {
    const file = path.join(dir, 'authorized_principals');
    writeFileSync(file, opts.authorizedPrincipals.join('\n') + '\n', { mode: 0o600 });
    certConfig.push(`AuthorizedPrincipalsFile ${file}`);
  }
  if (opts.revokedKeys) {
    const file = path.join(dir, 'revoked_keys');
    writeFileSync(file, opts.revokedKeys.join('\n') + '\n', { mode: 0o600 });
    certConfig.push(`RevokedKeys ${file}`);
  }
  if (opts.hostCertificate) {
    const h = opts.hostCertificate;
    keygen(['-s', h.caKeyPath, '-h', '-I', h.identity ?? 'test-sshd', '-n', h.principals.join(','), '-V', h.validity ?? '-5m:+1h', `${hostKeyPath}.pub`]);
    certConfig.push(`HostCertificate ${hostKeyPath}-cert.pub`);
  }

  const [major, minor] = sshdVersion();
  const usePam = accountLocked(username) && existsSync('/etc/pam.d/sshd');

  const writeConfig = (port: number) => {
    const extra = opts.extraConfig ?? [];
    const matchAt = extra.findIndex((l) => /^\s*Match\s/i.test(l));
    const extraTop = matchAt < 0 ? extra : extra.slice(0, matchAt);
    const extraMatch = matchAt < 0 ? [] : extra.slice(matchAt);
    const lines = [
      '# generated by test/helpers/sshd.ts',
      // sshd uses the first value seen for most keywords, so caller overrides go first
      ...extraTop,
      `ListenAddress 127.0.0.1`,
      `Port ${port}`,
      `HostKey ${hostKeyPath}`,
      ...certConfig,
      `PidFile ${pidFile}`,
      `AuthorizedKeysFile ${authorizedKeysPath}`,
      `StrictModes no`,
      usePam
        ? '# account is locked in /etc/shadow: UsePAM yes skips sshd\'s own locked-account check\nUsePAM yes'
        : `UsePAM no`,
      `PubkeyAuthentication yes`,
      `PasswordAuthentication ${opts.passwordAuth ? 'yes' : 'no'}`,
      `PermitEmptyPasswords no`,
      `KbdInteractiveAuthentication no`,
      `AllowTcpForwarding yes`,
      `GatewayPorts ${opts.gatewayPorts ?? 'clientspecified'}`,
      ...(root ? ['PermitRootLogin yes'] : []),
      `LogLevel VERBOSE`,
      // MaxStartups is one of the keywords where the LAST value wins: only add ours when the caller has none
      ...(extraTop.some((l) => /^\s*MaxStartups\s/i.test(l)) ? [] : [`MaxStartups 100`]),
      `MaxSessions 100`,
      `MaxAuthTries 20`,
      `LoginGraceTime 30`,
      `ClientAliveInterval 0`,
      `UseDNS no`,
      `PrintMotd no`,
      `X11Forwarding no`,
      // OpenSSH >= 9.8 penalises sources that fail auth / crash sessions; tests do that on purpose
      ...(major > 9 || (major === 9 && minor >= 8) ? ['PerSourcePenalties no'] : []),
      ...extraMatch,
    ];
    writeFileSync(configPath, lines.join('\n') + '\n', { mode: 0o600 });
    const hostPattern = port === 22 ? '127.0.0.1' : `[127.0.0.1]:${port}`;
    writeFileSync(knownHostsPath, `${hostPattern} ${hostPublicKeyLine}\n`, { mode: 0o600 });
  };

  let allLogs = '';
  let proc: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let port = opts.port ?? 0;
  const startTimeoutMs = opts.startTimeoutMs ?? 15000;

  type LaunchResult = { ok: true } | { ok: false; bindFailed: boolean; message: string };

  const launchOnce = (p: number): Promise<LaunchResult> =>
    new Promise((resolve) => {
      writeConfig(p);
      let launchLog = '';
      let settled = false;
      const child = spawn(SSHD_PATH, ['-D', '-e', '-f', configPath], {
        detached: true, // own process group, so kill(-pid) reaches the listener's group
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const exitPromise = new Promise<void>((r) => child.once('exit', () => r()));
      const finish = (res: LaunchResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(res);
      };
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (chunk: string) => {
        allLogs += chunk;
        launchLog += chunk;
        if (!settled && /Server listening on /.test(launchLog)) {
          proc = child;
          exited = exitPromise;
          finish({ ok: true });
        }
      });
      child.once('error', (err) => {
        allLogs += `\n[sshd helper] spawn error: ${err.message}\n`;
        finish({ ok: false, bindFailed: false, message: `failed to spawn ${SSHD_PATH}: ${err.message}` });
      });
      child.once('exit', (code, sig) => {
        allLogs += `[sshd helper] sshd pid ${child.pid} exited (code ${code}, signal ${sig})\n`;
        if (proc === child) proc = undefined;
        finish({
          ok: false,
          bindFailed: /Address already in use|Cannot bind any address/.test(launchLog),
          message: `sshd exited before it was ready (code ${code}, signal ${sig})`,
        });
      });
      const timer = setTimeout(() => {
        if (child.pid) killTreeSync(child.pid);
        finish({ ok: false, bindFailed: false, message: `sshd did not print "Server listening on" within ${startTimeoutMs} ms` });
      }, startTimeoutMs);
    });

  const start = async (fixedPort: number | undefined): Promise<void> => {
    const deadline = Date.now() + 10000;
    for (let attempt = 1; ; attempt++) {
      const p = fixedPort ?? (await freeLocalPort());
      const res = await launchOnce(p);
      if (res.ok) {
        port = p;
        return;
      }
      const retry = res.bindFailed && Date.now() < deadline && (fixedPort !== undefined || attempt < 10);
      if (!retry) {
        throw new Error(`${res.message} (port ${p}, config ${configPath}).\n--- sshd logs ---\n${allLogs}`);
      }
      await sleep(fixedPort !== undefined ? 200 : 10);
    }
  };

  const stop = async (): Promise<void> => {
    const child = proc;
    if (!child?.pid) return;
    const tree = [child.pid, ...descendants(child.pid)];
    for (const pid of tree) signal(pid, 'SIGTERM');
    const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
    if (!done) killTreeSync(child.pid);
    await exited;
    if (!(await waitGone(tree, 3000))) for (const pid of tree) signal(pid, 'SIGKILL');
    await waitGone(tree, 2000);
    proc = undefined;
  };

  const kill = async (): Promise<void> => {
    const child = proc;
    if (!child?.pid) return;
    const tree = [child.pid, ...freezeTree(child.pid)];
    signal(-child.pid, 'SIGKILL');
    for (const pid of tree) signal(pid, 'SIGKILL');
    await exited;
    await waitGone(tree, 5000);
    proc = undefined;
  };

  const entry = { pid: () => proc?.pid, dir };
  installExitHook();
  live.add(entry);

  try {
    await start(opts.port);
  } catch (e) {
    live.delete(entry);
    if (!process.env.KEEP_SSHD_DIR) rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  const handle: SshdHandle = {
    get port() {
      return port;
    },
    host: '127.0.0.1',
    dir,
    username,
    userKeyPath,
    encryptedUserKeyPath,
    passphrase,
    rsaUserKeyPath,
    hostPublicKeyLine,
    hostPublicKeyPath: `${hostKeyPath}.pub`,
    hostKeyFingerprint,
    knownHostsPath,
    configPath,
    get running() {
      return !!proc;
    },
    stop,
    kill,
    async restart() {
      await stop();
      allLogs += `[sshd helper] restarting on port ${port}\n`;
      await start(port);
    },
    logs: () => allLogs,
    async dispose() {
      await stop();
      live.delete(entry);
      if (!process.env.KEEP_SSHD_DIR) rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}
