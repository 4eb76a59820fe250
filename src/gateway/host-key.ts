// The gateway's SSH host key: loaded from a file, or generated (ed25519, OpenSSH format, mode
// 0600, plus a FILE.pub next to it) the first time the gateway starts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import ssh2 from 'ssh2';
import { EdgeError } from '../errors.js';
import { sha256Fingerprint } from './authorized-keys.js';

const { utils } = ssh2; // CommonJS: named exports are not visible to Node's ESM loader

export interface HostKey {
  /** The private key as read from (or written to) the file. */
  privateKey: Buffer;
  /** 'ssh-ed25519 AAAA…' (no comment). */
  publicKey: string;
  /** 'SHA256:…' as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  keyType: string;
  /** True when this call created the file. */
  generated: boolean;
  /** Set when the file is readable by group or others (sshd would refuse it). */
  warning?: string;
}

export async function loadOrCreateHostKey(file: string): Promise<HostKey> {
  let data: Buffer | undefined;
  let generated = false;
  try {
    data = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new EdgeError('EDGE_ERR_KEY_INVALID', `hostKeyFile: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)}).`, { cause: err });
    }
  }
  if (data === undefined) {
    data = generate(file);
    generated = data !== undefined;
    data ??= await readFile(file); // another process created it first
  }
  const parsed = utils.parseKey(data);
  if (parsed instanceof Error) {
    const encrypted = /encrypted|passphrase/i.test(parsed.message);
    throw new EdgeError(encrypted ? 'EDGE_ERR_KEY_PASSPHRASE' : 'EDGE_ERR_KEY_INVALID',
      `hostKeyFile: ${file} is not a usable SSH private key (${parsed.message})${encrypted ? '; the gateway needs an unencrypted host key' : ''}.`);
  }
  const key = Array.isArray(parsed) ? parsed[0]! : parsed;
  if (key.getPrivatePEM() === null) {
    throw new EdgeError('EDGE_ERR_KEY_INVALID', `hostKeyFile: ${file} holds a public key; give the private key file.`);
  }
  const blob = key.getPublicSSH();
  const publicKey = `${key.type} ${blob.toString('base64')}`;
  let warning: string | undefined;
  if (!generated && process.platform !== 'win32') {
    const { mode } = await stat(file);
    if ((mode & 0o077) !== 0) warning = `host key ${file} is readable by group or others (mode ${(mode & 0o777).toString(8)}); run chmod 600 on it`;
  }
  return { privateKey: data, publicKey, fingerprint: sha256Fingerprint(blob), keyType: key.type, generated, ...(warning ? { warning } : {}) };
}

/** Writes a new ed25519 key; undefined if the file appeared meanwhile (exclusive create). */
function generate(file: string): Buffer | undefined {
  const pair = generateEd25519();
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, pair.private, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw new EdgeError('EDGE_ERR_KEY_INVALID', `hostKeyFile: cannot create ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)}).`, { cause: err });
  }
  // The .pub is a convenience for known_hosts; failing to write it is not fatal.
  try {
    writeFileSync(`${file}.pub`, pair.public.trim() + '\n', { mode: 0o644, flag: 'wx' });
  } catch { /* an old .pub of another key stays: ssh-keygen -y -f FILE rebuilds it */ }
  return Buffer.from(pair.private);
}

/**
 * ssh2 1.17's generateKeyPairSync('ed25519') drops a leading zero byte of the public key
 * (1 key in 256), writing a file nothing can parse; keep only keys that read back whole.
 */
export function generateEd25519(comment = 'edge-agent-gateway'): { private: string; public: string } {
  for (let attempt = 0; ; attempt++) {
    const pair = utils.generateKeyPairSync('ed25519', { comment });
    const parsed = utils.parseKey(pair.private);
    if (!(parsed instanceof Error) && (Array.isArray(parsed) ? parsed[0]! : parsed).getPublicSSH().length === 51) return pair;
    if (attempt >= 20) throw new EdgeError('EDGE_ERR_KEY_INVALID', 'hostKeyFile: could not generate a valid ed25519 host key.');
  }
}
