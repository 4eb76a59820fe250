// The gateway's SSH algorithm offer, as a stock OpenSSH client sees it (`ssh -vv` prints the
// server's KEXINIT): nothing weak by default, a client that offers only weak algorithms is
// refused, and `algorithms` widening (the --algorithms flag) admits it.
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_ALGORITHMS, WEAK_ALGORITHMS } from '../../src/ssh-algorithms.js';
import { startTestGateway, type TestGateway, type UserKey } from '../helpers/gateway-fixtures.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function gatewayWithKey(algorithms?: Parameters<typeof startTestGateway>[0]['algorithms']): Promise<{ gw: TestGateway; key: UserKey }> {
  const gw = await startTestGateway(algorithms ? { algorithms } : {});
  cleanups.push(() => gw.close());
  const key = gw.newKey('device');
  gw.writeAuthorizedKeys([key.publicLine]);
  return { gw, key };
}

/** Runs `ssh -vv -N -R 127.0.0.1:0:127.0.0.1:9` until it allocates the forward or exits. */
function runSsh(gw: TestGateway, key: UserKey, extra: string[]): Promise<{ code: number | null; stderr: string; forwarded: boolean }> {
  const child = spawn('/usr/bin/ssh', [
    '-vv', '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${gw.knownHostsPath}`,
    '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-o', 'ConnectTimeout=10', '-i', key.path, '-p', String(gw.port),
    ...extra, '-N', '-R', '127.0.0.1:0:127.0.0.1:9', 'device@127.0.0.1',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (/Allocated port \d+ for remote forward/.test(stderr)) child.kill('SIGTERM');
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, forwarded: /Allocated port \d+ for remote forward/.test(stderr) });
    });
  });
}

/** The server's KEXINIT as ssh -vv prints it: { 'KEX algorithms': [...], 'MACs ctos': [...], … }. */
function serverProposal(stderr: string): Record<string, string[]> {
  const section = stderr.split('peer server KEXINIT proposal')[1]?.split(/debug2: (first_kex_follows|reserved)/)[0] ?? '';
  const out: Record<string, string[]> = {};
  for (const m of section.matchAll(/^debug2: ([^:]+): (.*)$/gm)) out[m[1]!] = m[2]!.split(',').filter(Boolean);
  return out;
}

describe('gateway algorithm offer', () => {
  it('offers no weak algorithm by default, keeps strict kex, and negotiates curve25519 with OpenSSH', async () => {
    const { gw, key } = await gatewayWithKey();
    const run = await runSsh(gw, key, []);
    expect(run.forwarded, run.stderr).toBe(true);
    const offer = serverProposal(run.stderr);
    expect(offer['KEX algorithms']).toEqual([...DEFAULT_ALGORITHMS.kex, 'kex-strict-s-v00@openssh.com']);
    expect(offer['host key algorithms']).toEqual(['ssh-ed25519']);
    expect(offer['ciphers stoc']).toEqual([...DEFAULT_ALGORITHMS.cipher]);
    expect(offer['MACs stoc']).toEqual([...DEFAULT_ALGORITHMS.hmac]);
    expect(offer['compression stoc']).toEqual(['none', 'zlib@openssh.com']);
    const everything = Object.values(offer).flat();
    expect(everything.filter((n) => WEAK_ALGORITHMS.has(n) || /sha1|md5|cbc|ecdh-sha2-nistp/.test(n))).toEqual([]);
    expect(run.stderr).toMatch(/kex: algorithm: curve25519-sha256/);
  });

  it('refuses a client that offers only weak key exchange or MACs; --algorithms widening admits it', async () => {
    const weakClient = ['-o', 'KexAlgorithms=diffie-hellman-group14-sha1', '-o', 'MACs=hmac-sha1', '-o', 'Ciphers=aes128-ctr'];
    const strict = await gatewayWithKey();
    const refused = await runSsh(strict.gw, strict.key, weakClient);
    expect(refused.forwarded).toBe(false);
    expect(refused.code).toBe(255);
    expect(refused.stderr).toMatch(/no matching key exchange method found/);
    const macOnly = await runSsh(strict.gw, strict.key, ['-o', 'MACs=hmac-sha1', '-o', 'Ciphers=aes128-ctr']);
    expect(macOnly.stderr).toMatch(/no matching MAC found/);

    const widened = await gatewayWithKey({ kex: '+diffie-hellman-group14-sha1', hmac: '+hmac-sha1' });
    expect(widened.gw.logged(/algorithms widened for legacy clients; offering weak diffie-hellman-group14-sha1, hmac-sha1/)).toHaveLength(1);
    const admitted = await runSsh(widened.gw, widened.key, weakClient);
    expect(admitted.forwarded, admitted.stderr).toBe(true);
    expect(admitted.stderr).toMatch(/kex: algorithm: diffie-hellman-group14-sha1/);
    expect(admitted.stderr).toMatch(/MAC: hmac-sha1 compression/);
  });
});
