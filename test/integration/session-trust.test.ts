// Trusting the SSH host and proving who we are, against a real OpenSSH sshd.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateEd25519 } from '../../src/gateway/host-key.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TunnelSession } from '../../src/session/tunnel-session.js';
import { EdgeError } from '../../src/errors.js';
import { isCredentialFailure } from '../../src/session/backoff.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { sessionConfigFor } from '../helpers/tunnel-fixtures.js';

/** Runs a session until it fails or connects; returns the outcome and how many attempts it made. */
async function outcome(session: TunnelSession): Promise<{ error?: EdgeError; attempts: number }> {
  let attempts = 0;
  session.on('state', (s) => { if (s === 'connecting') attempts += 1; });
  // Host key and authentication failures are retried only after reconnect.authRetryIntervalMs
  // (default 60 s): the first one is the outcome.
  const credentialFailure = new Promise<never>((_, reject) => session.on('connectFailed', ({ error }) => {
    if (isCredentialFailure(error)) reject(error);
  }));
  session.start();
  try {
    await Promise.race([session.waitUntilConnected(), credentialFailure]);
    return { attempts };
  } catch (err) {
    return { error: err as EdgeError, attempts };
  } finally {
    await session.close(100);
  }
}

describe('host key verification and authentication', () => {
  let sshd: SshdHandle;
  let otherKeyLine: string;

  beforeAll(async () => {
    sshd = await startSshd();
    const other = generateEd25519();
    otherKeyLine = other.public.split(' ').slice(0, 2).join(' ');
  });
  afterAll(async () => { await sshd?.dispose(); });

  it('connects when known_hosts has the server key', async () => {
    const result = await outcome(new TunnelSession(sessionConfigFor(sshd)));
    expect(result.error).toBeUndefined();
  });

  it('wrong host key: refused with the offered fingerprint in the message, not retried before authRetryIntervalMs', async () => {
    const file = path.join(sshd.dir, 'wrong_known_hosts');
    writeFileSync(file, `[127.0.0.1]:${sshd.port} ${otherKeyLine}\n`);
    const session = new TunnelSession(sessionConfigFor(sshd, { hostKeys: { knownHostsFile: file } }));
    const result = await outcome(session);
    expect(result.error?.code).toBe('EDGE_ERR_HOST_KEY_MISMATCH');
    expect(result.error?.retryable).toBe(false);
    expect(result.error?.message).toContain(sshd.hostKeyFingerprint);
    expect(result.attempts).toBe(1);
    expect(session.status().lastError?.code).toBe('EDGE_ERR_HOST_KEY_MISMATCH');
  });

  it('unknown host: refused with the offered fingerprint, no retry', async () => {
    const file = path.join(sshd.dir, 'empty_known_hosts');
    writeFileSync(file, `[127.0.0.1]:1 ${otherKeyLine}\n`);
    const result = await outcome(new TunnelSession(sessionConfigFor(sshd, { hostKeys: { knownHostsFile: file } })));
    expect(result.error?.code).toBe('EDGE_ERR_HOST_KEY_UNKNOWN');
    expect(result.error?.message).toContain(sshd.hostKeyFingerprint);
    expect(result.attempts).toBe(1);
  });

  it('a pinned SHA256 fingerprint is enough, and a wrong pin is a mismatch', async () => {
    const good = await outcome(new TunnelSession(sessionConfigFor(sshd, { hostKeys: { fingerprints: [sshd.hostKeyFingerprint] } })));
    expect(good.error).toBeUndefined();
    const bad = await outcome(new TunnelSession(sessionConfigFor(sshd, { hostKeys: { fingerprints: ['SHA256:' + 'A'.repeat(43)] } })));
    expect(bad.error?.code).toBe('EDGE_ERR_HOST_KEY_MISMATCH');
    expect(bad.error?.message).toContain(sshd.hostKeyFingerprint);
  });

  it('insecureAcceptAny connects and warns on every connect', async () => {
    const session = new TunnelSession(sessionConfigFor(sshd, { hostKeys: { insecureAcceptAny: true } }));
    const warnings: string[] = [];
    session.on('log', (level, msg) => { if (level === 'warn') warnings.push(msg); });
    const result = await outcome(session);
    expect(result.error).toBeUndefined();
    expect(warnings.join('\n')).toContain(sshd.hostKeyFingerprint);
  });

  it('a session without any host key configuration is refused before connecting', () => {
    expect(() => new TunnelSession(sessionConfigFor(sshd, { hostKeys: {} }))).toThrow(/hostKeys/);
  });

  it('wrong credentials: a coded, non-retryable auth error naming the user and what was tried', async () => {
    const stranger = generateEd25519();
    const session = new TunnelSession(sessionConfigFor(sshd, {
      auth: { username: sshd.username, privateKeys: [{ key: stranger.private, source: 'stranger-key' }] },
    }));
    const result = await outcome(session);
    expect(result.error?.code).toBe('EDGE_ERR_AUTH_FAILED');
    expect(result.error?.retryable).toBe(false);
    expect(result.error?.message).toContain(sshd.username);
    expect(result.error?.message).toContain('stranger-key');
    expect(result.attempts).toBe(1);
  });

  it('an encrypted key with the right passphrase logs in', async () => {
    const result = await outcome(new TunnelSession(sessionConfigFor(sshd, {
      auth: { username: sshd.username, privateKeys: [{ key: readFileSync(sshd.encryptedUserKeyPath), passphrase: sshd.passphrase, source: sshd.encryptedUserKeyPath }] },
    })));
    expect(result.error).toBeUndefined();
  });

  it('an encrypted key without a passphrase, or with a wrong one, is a clear error before connecting', () => {
    const key = readFileSync(sshd.encryptedUserKeyPath);
    const noPass = () => new TunnelSession(sessionConfigFor(sshd, { auth: { username: sshd.username, privateKeys: [{ key, source: sshd.encryptedUserKeyPath }] } }));
    const wrongPass = () => new TunnelSession(sessionConfigFor(sshd, { auth: { username: sshd.username, privateKeys: [{ key, passphrase: 'not-it', source: sshd.encryptedUserKeyPath }] } }));
    for (const make of [noPass, wrongPass]) {
      let error: EdgeError | undefined;
      try { make(); } catch (err) { error = err as EdgeError; }
      expect(error?.code).toBe('EDGE_ERR_KEY_PASSPHRASE');
      expect(error?.message).toContain(sshd.encryptedUserKeyPath);
      expect(error?.message).not.toContain('not-it');
    }
  });

  it('an RSA key in PEM format logs in (rsa-sha2 signatures: OpenSSH refuses ssh-rsa SHA-1)', async () => {
    const result = await outcome(new TunnelSession(sessionConfigFor(sshd, {
      auth: { username: sshd.username, privateKeys: [{ key: readFileSync(sshd.rsaUserKeyPath), source: sshd.rsaUserKeyPath }] },
    })));
    expect(result.error).toBeUndefined();
  });

  it('tries each configured key in turn until one is accepted', async () => {
    const stranger = generateEd25519();
    const result = await outcome(new TunnelSession(sessionConfigFor(sshd, {
      auth: { username: sshd.username, privateKeys: [
        { key: stranger.private, source: 'stranger' },
        { key: readFileSync(sshd.userKeyPath), source: sshd.userKeyPath },
      ] },
    })));
    expect(result.error).toBeUndefined();
  });
});
