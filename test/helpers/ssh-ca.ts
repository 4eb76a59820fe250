// Test helper: OpenSSH certificate authorities and certificates made by the real `ssh-keygen`
// (`ssh-keygen -s`), in a throwaway directory, so every certificate test uses exactly what an
// operator's tooling produces.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type KeyKind = 'ed25519' | 'ecdsa' | 'rsa';

export interface KeyPair {
  /** Private key path; the public key is `${path}.pub`. */
  path: string;
  /** 'ssh-ed25519 AAAA…' (no comment). */
  publicLine: string;
}

export interface SignOptions {
  identity: string;
  principals?: string[];
  /** ssh-keygen -V, e.g. '-5m:+1h', '+1h:+2h', '20200101:20200102'. Default: '-5m:+1h'. */
  validity?: string;
  serial?: number;
  host?: boolean;
  /** ssh-keygen -O options, e.g. 'clear', 'permit-port-forwarding', 'source-address=127.0.0.1/32'. */
  options?: string[];
  /** Where to write the certificate; default `${key}-cert.pub`. */
  certPath?: string;
}

export class SshCaWorkspace {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'edge-agent-ca-'));

  key(name: string, kind: KeyKind = 'ed25519'): KeyPair {
    const file = path.join(this.dir, name);
    if (!existsSync(file)) {
      const bits = kind === 'rsa' ? ['-b', '2048'] : kind === 'ecdsa' ? ['-b', '256'] : [];
      execFileSync('ssh-keygen', ['-q', '-t', kind, ...bits, '-N', '', '-C', name, '-f', file], { stdio: 'pipe' });
      chmodSync(file, 0o600);
    }
    const [type, b64] = readFileSync(`${file}.pub`, 'utf8').trim().split(/\s+/);
    return { path: file, publicLine: `${type} ${b64}` };
  }

  /** Signs `key`'s public half with CA `ca` and returns the certificate path. */
  sign(ca: KeyPair, key: KeyPair, o: SignOptions): string {
    const certPath = o.certPath ?? `${key.path}-cert.pub`;
    // ssh-keygen writes <pub minus .pub>-cert.pub; sign a copy when another name is wanted.
    let pub = `${key.path}.pub`;
    if (o.certPath) {
      const base = o.certPath.replace(/-cert\.pub$/, '');
      execFileSync('cp', [`${key.path}.pub`, `${base}.pub`]);
      pub = `${base}.pub`;
    }
    const args = ['-q', '-s', ca.path, '-I', o.identity, '-V', o.validity ?? '-5m:+1h', '-z', String(o.serial ?? 1)];
    if (o.principals) args.push('-n', o.principals.join(','));
    if (o.host) args.push('-h');
    for (const opt of o.options ?? []) args.push('-O', opt);
    execFileSync('ssh-keygen', [...args, pub], { stdio: 'pipe' });
    return certPath;
  }

  text(file: string): string {
    return readFileSync(file, 'utf8');
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
