// Impossible SSH host names are configuration errors (issue 12, item 8), and an operator's
// algorithm widening is checked and local-only (item 12): the session core, the config layer
// and assignment documents, with real validators.
import { describe, expect, it } from 'vitest';
import { parseAssignmentDocument, validateSessions } from '../../config/validate-sessions.js';
import { DEFAULT_ALLOWED_BIND_ADDRESSES, DEFAULT_ALLOWED_TARGETS } from '../../config/policy.js';
import { TunnelSession } from '../../src/session/tunnel-session.js';
import { widenAlgorithms, DEFAULT_ALGORITHMS } from '../../src/ssh-algorithms.js';

const credentials = { k: { privateKeyFile: '/nonexistent' } };
const DEFAULT_POLICY_FOR_TESTS = { allowedTargets: DEFAULT_ALLOWED_TARGETS, allowedBindAddresses: DEFAULT_ALLOWED_BIND_ADDRESSES } as never;
const session = (extra: Record<string, unknown>) => ({ id: 's', host: 'gw.example.com', username: 'd', credential: 'k', hostKeys: { fingerprints: ['SHA256:' + 'A'.repeat(43)] }, forwards: [], ...extra });

describe('SSH host names', () => {
  // the grammar itself: test/unit/grammar-host-name.test.ts
  it('the session core refuses them before touching the network', () => {
    expect(() => new TunnelSession({ host: '127.0.0.1:2401', auth: { username: 'x', password: 'y' }, hostKeys: { insecureAcceptAny: true } })).toThrow(/host: .*port glued/);
  });

  it('config validation names the key', () => {
    const errors = validateSessions([session({ host: '127.0.0.1:2401' })], { credentials, policy: DEFAULT_POLICY_FOR_TESTS });
    expect(errors.join('\n')).toMatch(/sessions\[0\]\.host: host "127\.0\.0\.1:2401" has a port glued to it/);
  });
});

describe('algorithm widening', () => {
  it('adds names after the defaults, once', () => {
    const lists = widenAlgorithms({ kex: ['diffie-hellman-group14-sha1', 'curve25519-sha256'], serverHostKey: ['ssh-rsa'] });
    expect(lists.kex).toEqual([...DEFAULT_ALGORITHMS.kex, 'diffie-hellman-group14-sha1']);
    expect(lists.serverHostKey.at(-1)).toBe('ssh-rsa');
    expect(lists.hmac).toEqual(DEFAULT_ALGORITHMS.hmac);
  });

  it('`ciphers` orders the offer but cannot weaken it (an assignment document can set it)', () => {
    const make = (extra: object) => new TunnelSession({ host: 'gw', auth: { username: 'x', password: 'y' }, hostKeys: { insecureAcceptAny: true }, ...extra });
    expect(() => make({ ciphers: ['aes128-cbc'] })).toThrow(/ciphers: cipher aes128-cbc is not offered.*algorithms\.cipher/);
    expect(() => make({ ciphers: ['aes128-cbc'], algorithms: { cipher: ['aes128-cbc'] } })).not.toThrow();
  });

  it('local config accepts it; an assignment document may not widen it', () => {
    expect(validateSessions([session({ algorithms: { kex: ['diffie-hellman-group14-sha1'] } })], { credentials, policy: DEFAULT_POLICY_FOR_TESTS })).toEqual([]);
    expect(validateSessions([session({ algorithms: { kex: ['nope'] } })], { credentials, policy: DEFAULT_POLICY_FOR_TESTS }).join()).toMatch(/sessions\[0\]\.algorithms\.kex: "nope" is not supported/);
    const parsed = parseAssignmentDocument({ revision: 1, sessions: [session({ algorithms: { hmac: ['hmac-sha1'] } })] }, { credentials, policy: DEFAULT_POLICY_FOR_TESTS });
    expect(parsed.errors.join()).toMatch(/sessions\[0\]\.algorithms: weaker SSH algorithms can only be allowed in the local config/);
  });
});
