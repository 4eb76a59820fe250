// The shared default algorithm offer (agent and gateway) and the operator's widening syntax.
import { describe, expect, it } from 'vitest';
import { ALGORITHM_CATEGORIES, DEFAULT_ALGORITHMS, defaultAlgorithms, parseAlgorithmsSpec, resolveAlgorithms, supportedAlgorithms, weakAlgorithmsIn } from '../../src/ssh-algorithms.js';

describe('default SSH algorithms', () => {
  it('offer nothing weak: no SHA-1, no NIST-curve kex, no pre-auth zlib, no CBC', () => {
    const d = defaultAlgorithms();
    expect(weakAlgorithmsIn(d)).toEqual([]);
    const all = ALGORITHM_CATEGORIES.flatMap((c) => d[c]);
    expect(all.filter((n) => /sha1|md5|nistp\d+$|cbc|^zlib$|^ssh-rsa$|ssh-dss/.test(n) && !n.startsWith('ecdsa-'))).toEqual([]);
    expect(d.kex[0]).toMatch(/^curve25519-sha256/);
    expect(d.kex).toEqual(expect.arrayContaining(['diffie-hellman-group16-sha512', 'diffie-hellman-group18-sha512']));
    expect(d.compress).not.toContain('zlib');
  });

  it('names only algorithms ssh2 implements', () => {
    const supported = supportedAlgorithms();
    for (const c of ALGORITHM_CATEGORIES) for (const n of DEFAULT_ALGORITHMS[c]) expect(supported[c]).toContain(n);
  });
});

describe('algorithm changes (OpenSSH list syntax)', () => {
  it('appends, removes, prepends and replaces per category', () => {
    const r = resolveAlgorithms(parseAlgorithmsSpec('kex=+diffie-hellman-group14-sha1; MACs=-hmac-sha2-256 ;cipher=^aes256-ctr;compression=none'));
    expect(r.kex.at(-1)).toBe('diffie-hellman-group14-sha1');
    expect(r.hmac).not.toContain('hmac-sha2-256');
    expect(r.cipher[0]).toBe('aes256-ctr');
    expect(r.cipher.filter((c) => c === 'aes256-ctr')).toHaveLength(1);
    expect(r.compress).toEqual(['none']);
    expect(r.serverHostKey).toEqual([...DEFAULT_ALGORITHMS.serverHostKey]);
    expect(weakAlgorithmsIn(r)).toEqual(['diffie-hellman-group14-sha1']);
  });

  it('refuses unknown categories and algorithms, and empty results, with a coded error', () => {
    expect(() => parseAlgorithmsSpec('kexes=+x')).toThrow(/unknown category "kexes"/);
    expect(() => parseAlgorithmsSpec('kex')).toThrow(/CATEGORY=LIST/);
    expect(() => parseAlgorithmsSpec('')).toThrow(/no category/);
    expect(() => resolveAlgorithms({ kex: '+diffie-hellman-group99-sha1' })).toThrow(/"diffie-hellman-group99-sha1" is not supported/);
    expect(() => resolveAlgorithms({ compress: '-none,zlib@openssh.com' })).toThrow(/leaves no algorithm/);
    expect(() => resolveAlgorithms({ cipher: 'rot13' }, '--algorithms')).toThrow(expect.objectContaining({ code: 'EDGE_ERR_INVALID_CONFIG', message: expect.stringMatching(/^--algorithms\.cipher:/) }));
  });
});
