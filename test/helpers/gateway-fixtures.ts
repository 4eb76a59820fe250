// A built-in gateway (src/gateway) on 127.0.0.1 for tests: its own temp dir with a generated
// host key, user keys made by ssh-keygen (usable by OpenSSH's ssh and by ssh2), an
// authorized_keys the test writes, a known_hosts line for the gateway and captured logs.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { Gateway, type GatewayOptions, type GatewayStartInfo } from '../../src/gateway/gateway.js';
import { generateEd25519 } from '../../src/gateway/host-key.js';

export interface UserKey {
  /** Private key file (OpenSSH format, mode 0600). */
  path: string;
  /** 'ssh-ed25519 AAAA… comment' */
  publicLine: string;
  privateKey: Buffer;
}

export interface TestGateway extends GatewayStartInfo {
  gateway: Gateway;
  dir: string;
  authorizedKeysPath: string;
  /** known_hosts with `[127.0.0.1]:PORT <host key>`. */
  knownHostsPath: string;
  logs: Array<{ level: string; msg: string; fields?: Record<string, unknown> }>;
  /** Log lines matching `re` so far. */
  logged(re: RegExp): string[];
  /** A new user key (ed25519 unless asked) in the gateway's temp dir (not authorized until written). */
  newKey(name: string, type?: 'ed25519' | 'rsa' | 'ecdsa'): UserKey;
  writeAuthorizedKeys(lines: string[]): void;
  close(): Promise<void>;
}

export async function startTestGateway(options: Partial<GatewayOptions> = {}, authorizedLines: string[] = []): Promise<TestGateway> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-agent-gateway-'));
  const authorizedKeysPath = path.join(dir, 'authorized_keys');
  writeFileSync(authorizedKeysPath, authorizedLines.join('\n') + '\n', { mode: 0o600 });
  const logs: TestGateway['logs'] = [];
  const gateway = new Gateway({
    listen: { host: '127.0.0.1', port: 0 },
    hostKeyFile: path.join(dir, 'ssh_host_ed25519_key'),
    authorizedKeysFile: authorizedKeysPath,
    log: (level, msg, fields) => {
      logs.push({ level, msg, fields });
      if (process.env.GATEWAY_TEST_LOG) process.stderr.write(`[gateway] ${level} ${msg}\n`);
    },
    ...options,
  });
  const info = await gateway.start();
  const knownHostsPath = path.join(dir, 'known_hosts');
  writeFileSync(knownHostsPath, `[127.0.0.1]:${info.port} ${info.hostPublicKey}\n`, { mode: 0o600 });
  return {
    ...info,
    gateway,
    dir,
    authorizedKeysPath,
    knownHostsPath,
    logs,
    logged: (re) => logs.map((l) => l.msg).filter((m) => re.test(m)),
    newKey(name, type = 'ed25519') {
      const file = path.join(dir, name);
      execFileSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', `${name}@test`, '-f', file], { stdio: 'ignore' });
      chmodSync(file, 0o600);
      return { path: file, publicLine: readFileSync(`${file}.pub`, 'utf8').trim(), privateKey: readFileSync(file) };
    },
    writeAuthorizedKeys(lines) {
      writeFileSync(authorizedKeysPath, lines.join('\n') + '\n', { mode: 0o600 });
    },
    async close() {
      await gateway.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A throwaway ed25519 key that no authorized_keys lists. */
export function randomKey(): Buffer {
  return Buffer.from(generateEd25519('random').private);
}

/** Logs in with ssh2's Client; resolves once ready (rejects on error / close first). */
export function sshLogin(port: number, fingerprint: string, opts: { username?: string; privateKey?: Buffer; sock?: Socket; authHandler?: ssh2.ConnectConfig['authHandler'] } = {}): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.once('ready', () => resolve(client));
    client.on('error', reject); // later errors (a reset after a refusal) must not go unhandled
    client.once('close', () => reject(new Error('closed before ready')));
    client.connect({
      host: '127.0.0.1',
      port,
      username: opts.username ?? 'tester',
      ...(opts.privateKey ? { privateKey: opts.privateKey } : {}),
      ...(opts.sock ? { sock: opts.sock } : {}),
      ...(opts.authHandler ? { authHandler: opts.authHandler } : {}),
      readyTimeout: 10_000,
      hostVerifier: (key: Buffer) => fingerprintOf(key) === fingerprint,
    });
  });
}

export function fingerprintOf(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}
