// The agent's algorithm offer (issue 12, item 12), read from OpenSSH sshd's own debug log of the
// peer's KEXINIT proposal: nothing weaker than OpenSSH 9's defaults, strict-kex kept; a legacy-only
// sshd is refused by default and accepted once the session's `algorithms` widen the offer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TunnelSession } from '../../src/session/tunnel-session.js';
import type { EdgeError } from '../../src/errors.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { sessionConfigFor } from '../helpers/tunnel-fixtures.js';

/** The lists of the first "peer client KEXINIT proposal" in sshd's debug log. */
function clientProposal(log: string): Record<string, string[]> {
  const at = log.indexOf('peer client KEXINIT proposal');
  expect(at, 'sshd logged the client proposal').toBeGreaterThanOrEqual(0);
  const lines = log.slice(at).split('\n').slice(1, 12);
  const field = (name: string) => {
    const line = lines.find((l) => l.includes(`${name}: `));
    return line ? line.slice(line.indexOf(`${name}: `) + name.length + 2).replace(/\s*\[preauth\]\s*$/, '').trim().split(',') : [];
  };
  return {
    kex: field('KEX algorithms'),
    hostKey: field('host key algorithms'),
    cipher: field('ciphers ctos'),
    mac: field('MACs ctos'),
    compress: field('compression ctos'),
  };
}

async function firstOutcome(session: TunnelSession): Promise<EdgeError | null> {
  const failed = new Promise<EdgeError>((resolve) => session.once('connectFailed', ({ error }) => resolve(error)));
  session.start();
  try {
    return await Promise.race([session.waitUntilConnected().then(() => null), failed]);
  } finally {
    session.destroy();
  }
}

describe('SSH algorithms the agent offers', () => {
  let modern: SshdHandle;
  let legacy: SshdHandle;
  beforeAll(async () => {
    [modern, legacy] = await Promise.all([
      startSshd({ extraConfig: ['LogLevel DEBUG3'] }),
      startSshd({ extraConfig: ['KexAlgorithms diffie-hellman-group14-sha1', 'Ciphers aes128-ctr', 'MACs hmac-sha1'] }),
    ]);
  });
  afterAll(async () => { await Promise.all([modern?.dispose(), legacy?.dispose()]); });

  it('offers curve25519 (+ DH group16/18), strict-kex, and nothing with SHA-1, NIST curves or pre-auth compression', async () => {
    expect(await firstOutcome(new TunnelSession(sessionConfigFor(modern)))).toBeNull();
    const offer = clientProposal(modern.logs());
    expect(offer.kex.slice(0, 2)).toEqual(['curve25519-sha256', 'curve25519-sha256@libssh.org']);
    expect(offer.kex).toContain('diffie-hellman-group16-sha512');
    expect(offer.kex).toContain('diffie-hellman-group18-sha512');
    expect(offer.kex).toContain('kex-strict-c-v00@openssh.com');
    const all = [...offer.kex, ...offer.hostKey, ...offer.cipher, ...offer.mac];
    expect(all.filter((n) => /sha1|nistp|md5|cbc|arcfour|3des|blowfish|^ssh-rsa$|^ssh-dss$|group1-|group14-sha256|group-exchange/.test(n))).toEqual([]);
    expect(offer.hostKey).toEqual(['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256']);
    expect(offer.compress).toEqual(['none', 'zlib@openssh.com']);
    expect(offer.cipher.length).toBeGreaterThan(0);
  });

  it('a legacy-only sshd (group14-sha1, hmac-sha1) is refused by default with a coded error naming `algorithms`', async () => {
    const error = await firstOutcome(new TunnelSession(sessionConfigFor(legacy)));
    expect(error?.code).toBe('EDGE_ERR_NO_COMMON_ALGORITHM');
    expect(error?.message).toContain('algorithms');
  });

  it('…and accepted once the session widens `algorithms` for it', async () => {
    const session = new TunnelSession(sessionConfigFor(legacy, { algorithms: { kex: ['diffie-hellman-group14-sha1'], hmac: ['hmac-sha1'] } }));
    expect(await firstOutcome(session)).toBeNull();
  });

  it('an unknown algorithm name is a configuration error naming the key', () => {
    expect(() => new TunnelSession(sessionConfigFor(legacy, { algorithms: { kex: ['no-such-kex'] } }))).toThrow(/algorithms\.kex: "no-such-kex" is not supported/);
    expect(() => new TunnelSession(sessionConfigFor(legacy, { algorithms: { mac: ['hmac-sha1'] } as never }))).toThrow(/algorithms\.mac is not an algorithm category/);
  });
});
