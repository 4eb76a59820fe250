// Host key verification against real OpenSSH artefacts: keys come from ssh-keygen, hashed lines
// from `ssh-keygen -H`, and expected fingerprints / host matches from `ssh-keygen -l` / `-F`.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgeError } from '../../src/errors.js';
import { fingerprintsOf, keyTypeOf, matchesPinned, parsePinnedFingerprint } from '../../src/session/host-keys/fingerprint.js';
import {
  entryAppliesTo,
  knownHostsName,
  lookupKnownHosts,
  parseKnownHosts,
  type KnownHostsProblem,
} from '../../src/session/host-keys/known-hosts.js';
import { createHostKeyVerifier } from '../../src/session/host-keys/host-key-verifier.js';
import { thrown } from '../helpers/thrown.js';

interface Key {
  pubPath: string;
  type: string;
  b64: string;
  blob: Buffer;
  /** `type base64` — what goes after the host field in known_hosts. */
  text: string;
  sha256: string;
  md5: string;
}

let dir: string;
const keys: Record<'ed' | 'ec' | 'rsa' | 'ed2' | 'stranger', Key> = {} as never;

function genKey(name: string, type: string, extra: string[] = []): Key {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...extra, '-N', '', '-C', `${name}@test`, '-f', path]);
  const pubPath = `${path}.pub`;
  const [keyType, b64] = readFileSync(pubPath, 'utf8').trim().split(/\s+/) as [string, string];
  // `ssh-keygen -l` prints "<bits> <fingerprint> <comment> (<TYPE>)".
  const fp = (hash: string) => execFileSync('ssh-keygen', ['-l', '-E', hash, '-f', pubPath], { encoding: 'utf8' }).split(' ')[1]!;
  return { pubPath, type: keyType, b64, blob: Buffer.from(b64, 'base64'), text: `${keyType} ${b64}`, sha256: fp('sha256'), md5: fp('md5') };
}

function writeFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const catchEdge = (fn: () => unknown): EdgeError => thrown(fn, EdgeError);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'host-keys-'));
  keys.ed = genKey('ed', 'ed25519');
  keys.ec = genKey('ec', 'ecdsa', ['-b', '256']);
  keys.rsa = genKey('rsa', 'rsa', ['-b', '2048']);
  keys.ed2 = genKey('ed2', 'ed25519');
  keys.stranger = genKey('stranger', 'ed25519');
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('fingerprints', () => {
  it('reads the key type from the blob', () => {
    expect(keyTypeOf(keys.ed.blob)).toBe('ssh-ed25519');
    expect(keyTypeOf(keys.ec.blob)).toBe('ecdsa-sha2-nistp256');
    expect(keyTypeOf(keys.rsa.blob)).toBe('ssh-rsa');
    expect(catchEdge(() => keyTypeOf(Buffer.from([0, 0, 0, 50, 1]))).code).toBe('EDGE_ERR_PROTOCOL');
  });

  it('matches what ssh-keygen -l prints (SHA256 and MD5)', () => {
    for (const k of [keys.ed, keys.ec, keys.rsa]) {
      const fp = fingerprintsOf(k.blob);
      expect(fp.keyType).toBe(k.type);
      expect(fp.sha256).toBe(k.sha256);
      expect(fp.md5).toBe(k.md5);
      expect(fp.sha256Hex).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){31}$/);
      expect(Buffer.from(fp.sha256Hex.replace(/:/g, ''), 'hex').toString('base64').replace(/=+$/, '')).toBe(k.sha256.slice(7));
    }
  });

  it('accepts every pinned format and matches only the right key', () => {
    const k = keys.ec;
    const fp = fingerprintsOf(k.blob);
    const hex = fp.sha256Hex.replace(/:/g, '');
    const b64 = k.sha256.slice('SHA256:'.length);
    const forms = [
      k.sha256,
      `SHA256:${b64}=`,
      `  ${k.sha256}  `,
      hex,
      hex.toUpperCase(),
      fp.sha256Hex,
      fp.sha256Hex.toUpperCase(),
      `SHA256:${hex}`,
      `SHA256:${fp.sha256Hex}`,
      k.md5,
      `MD5:${k.md5.slice(4).replace(/:/g, '')}`,
      k.md5.slice(4),
      k.md5.slice(4).toUpperCase(),
      `md5:${k.md5.slice(4)}`,
    ];
    for (const form of forms) {
      const pinned = parsePinnedFingerprint(form, 'hostKeys.fingerprints[0]');
      expect(matchesPinned(k.blob, pinned), form).toBe(true);
      expect(matchesPinned(keys.stranger.blob, pinned), form).toBe(false);
      expect(pinned.display).toBe(pinned.algorithm === 'sha256' ? k.sha256 : k.md5);
    }
  });

  it('rejects malformed fingerprints with a message naming the key and the accepted forms', () => {
    const fp = fingerprintsOf(keys.ed.blob);
    const hex = fp.sha256Hex.replace(/:/g, '');
    const b64 = keys.ed.sha256.slice(7);
    // Flip the last base64 character's low bits: decodes to the same bytes, but is not canonical.
    const last = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.indexOf(b64.at(-1)!);
    const nonCanonical = b64.slice(0, -1) + 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'[last ^ 1];
    const bad = [
      '',
      '   ',
      'SHA256:',
      'MD5:',
      'SHA256:abc',
      `SHA256:${b64.slice(0, -1)}`, // truncated paste
      `SHA256:${b64}==`, // wrong padding
      `SHA256:${nonCanonical}`,
      b64, // base64 needs its prefix
      hex.slice(0, -1),
      hex + '00',
      hex.slice(0, 32), // 32 bare hex digits: refused rather than guessed as MD5
      `${fp.sha256Hex.slice(0, 5)}${fp.sha256Hex.slice(6)}`, // a missing colon
      `SHA1:${hex.slice(0, 40)}`,
      `MD5:${keys.ed.md5.slice(4, -3)}`,
      'not a fingerprint',
    ];
    for (const text of bad) {
      const err = catchEdge(() => parsePinnedFingerprint(text, 'hostKeys.fingerprints[3]'));
      expect(err.code, text).toBe('EDGE_ERR_INVALID_CONFIG');
      expect(err.message).toContain('hostKeys.fingerprints[3]');
      expect(err.message).toContain('SHA256:<base64>');
      expect(err.message).toContain('MD5:');
    }
  });
});

describe('known_hosts parsing and lookup', () => {
  it('parses comments, blank lines, markers and comments, and reports malformed lines by line number', () => {
    const text = [
      '# a comment',
      '',
      `server.example.com ${keys.ed.text} the comment`,
      `   @revoked * ${keys.rsa.text}`,
      `@cert-authority *.example.com ${keys.ec.text}`,
      `@bogus host ${keys.ed.text}`,
      'lonely-host',
      `host ssh-ed25519 not*base64`,
      `host ssh-rsa ${keys.ed.b64}`, // type disagrees with blob
      `host ${keys.ed.type} ${keys.ed.b64.slice(0, -8)}`, // truncated key
      '|1|bad|hash ssh-ed25519 AAAA',
      `!only.negated ${keys.ed.text}`,
      '\t# indented comment',
      `other.example.com ${keys.ed2.text}\r`,
    ].join('\n');
    const problems: KnownHostsProblem[] = [];
    const entries = parseKnownHosts(text, 'kh', problems);
    expect(entries.map((e) => [e.line, e.marker, e.keyType])).toEqual([
      [3, null, 'ssh-ed25519'],
      [4, 'revoked', 'ssh-rsa'],
      [5, 'cert-authority', 'ecdsa-sha2-nistp256'],
      [14, null, 'ssh-ed25519'],
    ]);
    expect(entries[0]!.comment).toBe('the comment');
    expect(entries.every((e) => e.source === 'kh')).toBe(true);
    expect(problems.map((p) => p.line)).toEqual([6, 7, 8, 9, 10, 11, 12]);
    expect(problems.every((p) => p.source === 'kh' && p.reason.length > 0)).toBe(true);
  });

  it('looks up [host]:port on non-default ports and plain host only on port 22', () => {
    const entries = parseKnownHosts(
      [`127.0.0.1 ${keys.ed.text}`, `[127.0.0.1]:2222 ${keys.ec.text}`].join('\n'),
      'kh',
    );
    expect(knownHostsName('127.0.0.1', 22)).toBe('127.0.0.1');
    expect(knownHostsName('Host.Example', 2222)).toBe('[host.example]:2222');
    expect(lookupKnownHosts(entries, '127.0.0.1', 22, keys.ed.blob)).toMatchObject({ result: 'match', entry: { line: 1 } });
    expect(lookupKnownHosts(entries, '127.0.0.1', 2222, keys.ec.blob)).toMatchObject({ result: 'match', entry: { line: 2 } });
    // The port-22 line does not vouch for port 2222 and vice versa.
    const m = lookupKnownHosts(entries, '127.0.0.1', 2222, keys.ed.blob);
    expect(m.result).toBe('mismatch');
    expect(m.expected!.map((e) => e.line)).toEqual([2]);
    expect(lookupKnownHosts(entries, '127.0.0.1', 2200, keys.ed.blob).result).toBe('unknown');
  });

  it('matches wildcards, negations and is case-insensitive, agreeing with ssh-keygen -F', () => {
    const text = [
      `*.example.com,!bad.example.com ${keys.ed.text}`,
      `web?.lan ${keys.ec.text}`,
      `[10.0.0.*]:2222 ${keys.rsa.text}`,
      `Mixed.Case.Host ${keys.ed2.text}`,
    ].join('\n');
    const file = writeFile('wild', text + '\n');
    const entries = parseKnownHosts(text, file);
    const cases: Array<[string, number, number | null]> = [
      ['a.example.com', 22, 1],
      ['deep.a.example.com', 22, 1],
      ['A.EXAMPLE.COM', 22, 1],
      ['bad.example.com', 22, null],
      ['example.com', 22, null],
      ['web1.lan', 22, 2],
      ['web12.lan', 22, null],
      ['10.0.0.7', 2222, 3],
      ['10.0.0.7', 22, null],
      ['10.0.0.7', 2223, null],
      ['mixed.case.host', 22, 4],
    ];
    for (const [host, port, line] of cases) {
      const name = knownHostsName(host, port);
      const applying = entries.filter((e) => entryAppliesTo(e, name)).map((e) => e.line);
      expect(applying, name).toEqual(line === null ? [] : [line]);
      // Cross-check with OpenSSH itself: exit 0 when some line applies.
      const found = spawnSync('ssh-keygen', ['-F', name, '-f', file]).status === 0;
      expect(found, `ssh-keygen -F ${name}`).toBe(line !== null);
    }
    expect(lookupKnownHosts(entries, 'x.example.com', 22, keys.ed.blob).result).toBe('match');
    expect(lookupKnownHosts(entries, 'bad.example.com', 22, keys.ed.blob).result).toBe('unknown');
  });

  it('matches lines hashed by ssh-keygen -H, for port 22 and [host]:port', () => {
    const file = writeFile('hashed', [`server.example.com ${keys.ed.text}`, `[127.0.0.1]:2222 ${keys.ec.text}`].join('\n') + '\n');
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('server.example.com');
    expect(text).not.toContain('127.0.0.1');
    const entries = parseKnownHosts(text, file);
    expect(entries.map((e) => e.matcher.kind)).toEqual(['hashed', 'hashed']);
    expect(lookupKnownHosts(entries, 'server.example.com', 22, keys.ed.blob).result).toBe('match');
    expect(lookupKnownHosts(entries, 'SERVER.example.com', 22, keys.ed.blob).result).toBe('match');
    expect(lookupKnownHosts(entries, 'server.example.com', 22, keys.ec.blob).result).toBe('mismatch');
    expect(lookupKnownHosts(entries, 'server.example.com', 2222, keys.ed.blob).result).toBe('unknown');
    expect(lookupKnownHosts(entries, '127.0.0.1', 2222, keys.ec.blob)).toMatchObject({ result: 'match', entry: { line: 2 } });
    expect(lookupKnownHosts(entries, '127.0.0.1', 22, keys.ec.blob).result).toBe('unknown');
  });

  it('supports several keys per host (different types and same-type rotation)', () => {
    const entries = parseKnownHosts(
      [`h ${keys.ed.text}`, `h,other ${keys.ec.text}`, `h ${keys.rsa.text}`, `h ${keys.ed2.text}`].join('\n'),
      'kh',
    );
    expect(lookupKnownHosts(entries, 'h', 22, keys.ed.blob)).toMatchObject({ result: 'match', entry: { line: 1 } });
    expect(lookupKnownHosts(entries, 'h', 22, keys.ec.blob)).toMatchObject({ result: 'match', entry: { line: 2 } });
    expect(lookupKnownHosts(entries, 'h', 22, keys.rsa.blob)).toMatchObject({ result: 'match', entry: { line: 3 } });
    expect(lookupKnownHosts(entries, 'h', 22, keys.ed2.blob)).toMatchObject({ result: 'match', entry: { line: 4 } });
    const m = lookupKnownHosts(entries, 'h', 22, keys.stranger.blob);
    expect(m.result).toBe('mismatch');
    expect(m.expected!.map((e) => e.line)).toEqual([1, 2, 3, 4]);
  });

  it('applies @revoked to the key whatever its host pattern, ahead of a matching line', () => {
    const entries = parseKnownHosts([`h ${keys.ed.text}`, `@revoked unrelated.host ${keys.ed.text}`].join('\n'), 'kh');
    expect(lookupKnownHosts(entries, 'h', 22, keys.ed.blob)).toMatchObject({ result: 'revoked', entry: { line: 2 } });
    expect(lookupKnownHosts(entries, 'h', 22, keys.ed2.blob).result).toBe('mismatch');
  });

  it('does not use @cert-authority lines as plain keys but reports them', () => {
    const entries = parseKnownHosts(`@cert-authority *.example.com ${keys.ec.text}`, 'kh');
    const r = lookupKnownHosts(entries, 'a.example.com', 22, keys.ec.blob);
    expect(r.result).toBe('unknown');
    expect(r.certAuthorities!.map((e) => e.line)).toEqual([1]);
  });
});

describe('createHostKeyVerifier', () => {
  type Logged = Array<[string, string]>;
  const logger = () => {
    const logged: Logged = [];
    return { logged, log: (level: 'warn' | 'info' | 'debug', msg: string) => void logged.push([level, msg]) };
  };

  it('refuses a policy that configures nothing, naming the keys', () => {
    for (const policy of [{}, { fingerprints: [] }, { insecureAcceptAny: false }]) {
      const err = catchEdge(() => createHostKeyVerifier(policy, 'h', 22));
      expect(err.code).toBe('EDGE_ERR_INVALID_CONFIG');
      expect(err.message).toContain('hostKeys.knownHostsFile');
      expect(err.message).toContain('hostKeys.fingerprints');
      expect(err.message).toContain('hostKeys.insecureAcceptAny');
    }
  });

  it('validates the policy at creation, naming the bad key', () => {
    const bad = catchEdge(() => createHostKeyVerifier({ fingerprints: [keys.ed.sha256, 'SHA256:nope'] }, 'h', 22));
    expect(bad.code).toBe('EDGE_ERR_INVALID_CONFIG');
    expect(bad.message).toContain('hostKeys.fingerprints[1]');
    expect(catchEdge(() => createHostKeyVerifier({ knownHostsFile: [] }, 'h', 22)).message).toContain('hostKeys.knownHostsFile');
    expect(catchEdge(() => createHostKeyVerifier({ knownHostsFile: ['a', ''] }, 'h', 22)).message).toContain('hostKeys.knownHostsFile[1]');
    expect(catchEdge(() => createHostKeyVerifier({ insecureAcceptAny: 'yes' } as never, 'h', 22)).message).toContain('hostKeys.insecureAcceptAny');
    expect(catchEdge(() => createHostKeyVerifier({ knownHostFile: 'x' } as never, 'h', 22)).message).toContain('hostKeys.knownHostFile');
    // A missing file is not a creation error: it is read (and may appear) at verification time.
    expect(() => createHostKeyVerifier({ knownHostsFile: join(dir, 'does-not-exist') }, 'h', 22)).not.toThrow();
  });

  it('accepts a key listed in known_hosts and re-reads the file on each verification', () => {
    const file = writeFile('kh-reread', `[127.0.0.1]:2222 ${keys.ed.text}\n`);
    const verify = createHostKeyVerifier({ knownHostsFile: file }, '127.0.0.1', 2222);
    expect(verify(keys.ed.blob)).toEqual({ accepted: true, how: 'known-hosts', fingerprint: keys.ed.sha256, keyType: 'ssh-ed25519' });
    expect(catchEdge(() => verify(keys.ed2.blob)).code).toBe('EDGE_ERR_HOST_KEY_MISMATCH');
    // The operator rotates the key in the file: the next verification sees it.
    writeFileSync(file, `[127.0.0.1]:2222 ${keys.ed2.text}\n`);
    expect(verify(keys.ed2.blob).how).toBe('known-hosts');
    expect(catchEdge(() => verify(keys.ed.blob)).code).toBe('EDGE_ERR_HOST_KEY_MISMATCH');
  });

  it('searches every configured known_hosts file', () => {
    const a = writeFile('kh-a', `other ${keys.ed.text}\n`);
    const b = writeFile('kh-b', `h ${keys.rsa.text}\n`);
    const verify = createHostKeyVerifier({ knownHostsFile: [a, b] }, 'h', 22);
    expect(verify(keys.rsa.blob).how).toBe('known-hosts');
  });

  it('explains a mismatch: host, offered type and fingerprint, expected file:line, what to do', () => {
    const file = writeFile('kh-mismatch', [`# keys`, `[127.0.0.1]:2222 ${keys.ed.text}`, `[127.0.0.1]:2222 ${keys.rsa.text}`].join('\n'));
    const verify = createHostKeyVerifier({ knownHostsFile: file }, '127.0.0.1', 2222);
    const err = catchEdge(() => verify(keys.ec.blob));
    expect(err.code).toBe('EDGE_ERR_HOST_KEY_MISMATCH');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('[127.0.0.1]:2222');
    expect(err.message).toContain('ecdsa-sha2-nistp256');
    expect(err.message).toContain(keys.ec.sha256);
    expect(err.message).toContain(`${file}:2`);
    expect(err.message).toContain(`${file}:3`);
    expect(err.message).toContain(keys.ed.sha256);
    expect(err.message).toMatch(/out of band/);
    expect(err.message).toMatch(/known_hosts/);
    expect(err.details).toMatchObject({ host: '127.0.0.1', port: 2222, keyType: 'ecdsa-sha2-nistp256', fingerprint: keys.ec.sha256 });
  });

  it('reports a mismatch against pinned fingerprints', () => {
    const verify = createHostKeyVerifier({ fingerprints: [keys.ed.sha256] }, 'h', 22);
    const err = catchEdge(() => verify(keys.rsa.blob));
    expect(err.code).toBe('EDGE_ERR_HOST_KEY_MISMATCH');
    expect(err.message).toContain('[h]:22');
    expect(err.message).toContain(keys.rsa.sha256);
    expect(err.message).toContain(keys.ed.sha256);
    expect(err.message).toContain('hostKeys.fingerprints');
  });

  it('reports an unknown host with the offered fingerprint and an ssh-keyscan hint', () => {
    const file = writeFile('kh-unknown', `somewhere.else ${keys.ed.text}\n`);
    const verify = createHostKeyVerifier({ knownHostsFile: file }, '127.0.0.1', 2222);
    const err = catchEdge(() => verify(keys.ed.blob));
    expect(err.code).toBe('EDGE_ERR_HOST_KEY_UNKNOWN');
    expect(err.message).toContain('[127.0.0.1]:2222');
    expect(err.message).toContain(keys.ed.sha256);
    expect(err.message).toContain(`ssh-keyscan -p 2222 127.0.0.1 >> ${file}`);
    expect(err.message).toMatch(/out of band/);
    expect(err.details).toEqual({ host: '127.0.0.1', port: 2222, keyType: 'ssh-ed25519', fingerprint: keys.ed.sha256 });
  });

  it('accepts a pinned fingerprint in every format', () => {
    const k = keys.rsa;
    const fp = fingerprintsOf(k.blob);
    for (const pin of [k.sha256, fp.sha256Hex, fp.sha256Hex.replace(/:/g, '').toUpperCase(), k.md5, k.md5.slice(4)]) {
      const verify = createHostKeyVerifier({ fingerprints: [keys.ed.sha256, pin] }, 'h', 22);
      expect(verify(k.blob), pin).toEqual({ accepted: true, how: 'fingerprint', fingerprint: k.sha256, keyType: 'ssh-rsa' });
    }
  });

  it('refuses a @revoked key even when its fingerprint is pinned', () => {
    const file = writeFile('kh-revoked', `@revoked * ${keys.ed.text}\n`);
    const verify = createHostKeyVerifier({ knownHostsFile: file, fingerprints: [keys.ed.sha256], insecureAcceptAny: true }, 'h', 2222);
    const err = catchEdge(() => verify(keys.ed.blob));
    expect(err.code).toBe('EDGE_ERR_HOST_KEY_REVOKED');
    expect(err.message).toContain(`${file}:1`);
    expect(err.message).toContain(keys.ed.sha256);
    expect(err.details).toMatchObject({ host: 'h', port: 2222, fingerprint: keys.ed.sha256 });
  });

  it('a pinned fingerprint wins over a known_hosts mismatch', () => {
    const file = writeFile('kh-pin-wins', `h ${keys.ed.text}\n`);
    const { logged, log } = logger();
    const verify = createHostKeyVerifier({ knownHostsFile: file, fingerprints: [keys.ed2.sha256] }, 'h', 22, log);
    expect(verify(keys.ed2.blob).how).toBe('fingerprint');
    expect(verify(keys.ed.blob).how).toBe('known-hosts');
    expect(logged.some(([, m]) => m.includes(`${file}:1`))).toBe(true);
  });

  it('an unreadable known_hosts file fails verification unless a pinned fingerprint matches', () => {
    const missing = join(dir, 'no-such-known-hosts');
    const only = createHostKeyVerifier({ knownHostsFile: missing }, 'h', 22);
    const err = catchEdge(() => only(keys.ed.blob));
    expect(err.code).toBe('EDGE_ERR_HOST_KEY_UNKNOWN');
    expect(err.message).toContain('could not be read');
    expect(err.message).toContain(missing);

    const { logged, log } = logger();
    const pinned = createHostKeyVerifier({ knownHostsFile: missing, fingerprints: [keys.ed.sha256] }, 'h', 22, log);
    expect(pinned(keys.ed.blob).how).toBe('fingerprint');
    expect(logged.some(([level, m]) => level === 'warn' && m.includes(missing))).toBe(true);
    expect(catchEdge(() => pinned(keys.ec.blob)).message).toContain('could not be read');
  });

  it('insecureAcceptAny accepts anything and warns on every call with the fingerprint', () => {
    const { logged, log } = logger();
    const verify = createHostKeyVerifier({ insecureAcceptAny: true }, 'h', 22, log);
    expect(verify(keys.ed.blob)).toEqual({ accepted: true, how: 'insecure-accept-any', fingerprint: keys.ed.sha256, keyType: 'ssh-ed25519' });
    expect(verify(keys.rsa.blob).how).toBe('insecure-accept-any');
    expect(verify(keys.ed.blob).how).toBe('insecure-accept-any');
    const warnings = logged.filter(([level]) => level === 'warn');
    expect(warnings).toHaveLength(3);
    expect(warnings[0]![1]).toContain(keys.ed.sha256);
    expect(warnings[1]![1]).toContain(keys.rsa.sha256);
    expect(warnings[2]![1]).toContain(keys.ed.sha256);
  });

  it('logs malformed known_hosts lines with file:line; @cert-authority lines are used, not reported', () => {
    const file = writeFile('kh-log', [`h ${keys.ed.text}`, 'h ssh-ed25519', `@cert-authority h ${keys.ec.text}`].join('\n'));
    const { logged, log } = logger();
    const verify = createHostKeyVerifier({ knownHostsFile: file }, 'h', 22, log);
    expect(verify(keys.ed.blob).how).toBe('known-hosts');
    expect(logged.some(([level, m]) => level === 'warn' && m.startsWith(`${file}:2:`))).toBe(true);
    expect(logged.some(([, m]) => m.startsWith(`${file}:3:`))).toBe(false);
  });
});
