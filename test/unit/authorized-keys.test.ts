// authorized_keys parsing for the built-in gateway (OpenSSH format, per-key options) and the
// listen policy those options drive.
import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import {
  matchFrom, parseAuthorizedKeyLine, parseAuthorizedKeys, parseKeyOptions, parsePermitListen, splitKeyOptions,
} from '../../src/gateway/authorized-keys.js';
import { generateEd25519 } from '../../src/gateway/host-key.js';
import { checkListenPolicy, defaultListenAllowed, permitListenMatches } from '../../src/gateway/listen-policy.js';

const ed = generateEd25519('dev@host').public.trim();
const rsa = ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 }).public.trim();
const edBody = ed.split(' ').slice(0, 2).join(' ');

describe('authorized_keys lines', () => {
  it('parses a plain key line with its comment and SHA256 fingerprint', () => {
    const key = parseAuthorizedKeyLine(`${edBody} device 42 (lab)`);
    expect(key.keyType).toBe('ssh-ed25519');
    expect(key.comment).toBe('device 42 (lab)');
    expect(key.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(key.options).toMatchObject({ restrict: false, remoteForwarding: true, localForwarding: true, permitListen: [], permitOpen: [] });
  });

  it('parses RSA keys too', () => {
    expect(parseAuthorizedKeyLine(rsa).keyType).toBe('ssh-rsa');
  });

  it('skips blank lines and comments, reports bad lines with their number and keeps the good ones', () => {
    const text = [
      '# fleet keys',
      '',
      `   ${edBody} first`,
      'bogus-option ' + edBody,
      'ssh-ed25519 not*base64',
      `permitlisten="localhost:8080 ${edBody}`,
      `cert-authority ${edBody}`,
      `restrict ${rsa}`,
    ].join('\n');
    const { keys, errors } = parseAuthorizedKeys(text);
    expect(keys.map((k) => k.line)).toEqual([3, 8]);
    expect(errors.map((e) => e.line)).toEqual([4, 5, 6, 7]);
    expect(errors[0]!.message).toMatch(/unknown option "bogus-option"/);
    expect(errors[2]!.message).toMatch(/closing quote/);
    expect(errors[3]!.message).toMatch(/cert-authority/);
  });

  it('handles CRLF line endings', () => {
    expect(parseAuthorizedKeys(`${edBody} a\r\n${rsa}\r\n`).keys).toHaveLength(2);
  });
});

describe('key options', () => {
  it('splits on commas outside quotes, unescapes \\" and keeps other backslashes', () => {
    expect(splitKeyOptions('from="10.0.0.0/8,192.168.1.*",no-pty,command="echo \\"hi, there\\" \\\\n"')).toEqual([
      { name: 'from', value: '10.0.0.0/8,192.168.1.*' },
      { name: 'no-pty' },
      { name: 'command', value: 'echo "hi, there" \\\\n' },
    ]);
  });

  it('the options field ends at the first unquoted space, quoted spaces included', () => {
    const key = parseAuthorizedKeyLine(`command="run this thing",permitlisten="localhost:9000" ${edBody} c`);
    expect(key.options.permitListen).toEqual([{ host: 'localhost', port: 9000 }]);
    expect(key.comment).toBe('c');
  });

  it('option names are case-insensitive', () => {
    expect(parseKeyOptions('No-Port-Forwarding').remoteForwarding).toBe(false);
  });

  it('collects repeated permitlisten options, with wildcards, bare ports and bracketed IPv6', () => {
    const o = parseKeyOptions('permitlisten="localhost:8080",permitlisten="*:9000",permitlisten="7000",permitlisten="[::1]:*",permitlisten="10.1.*:5000"');
    expect(o.permitListen).toEqual([
      { host: 'localhost', port: 8080 },
      { host: '*', port: 9000 },
      { host: '*', port: 7000 },
      { host: '::1', port: '*' },
      { host: '10.1.*', port: 5000 },
    ]);
    expect(o.remoteForwarding).toBe(true);
  });

  it('rejects malformed values', () => {
    expect(() => parseKeyOptions('permitlisten="localhost:99999"')).toThrow(/not a port/);
    expect(() => parseKeyOptions('permitlisten="::1:80"')).toThrow(/brackets/);
    expect(() => parseKeyOptions('permitlisten=localhost:80')).toThrow(/double quotes/);
    expect(() => parseKeyOptions('permitlisten')).toThrow(/needs a value/);
    expect(() => parseKeyOptions('restrict="yes"')).toThrow(/takes no value/);
    expect(() => parseKeyOptions('from="10.0.0.0/33"')).toThrow(/CIDR/);
    expect(() => parseKeyOptions('no-pty,')).toThrow(/trailing/);
    expect(() => parseKeyOptions('expiry-time="20241399"')).toThrow(/expiry-time/);
  });

  it('restrict disables forwarding; port-forwarding re-enables it; permitlisten re-enables only remote forwarding', () => {
    expect(parseKeyOptions('restrict')).toMatchObject({ restrict: true, remoteForwarding: false, localForwarding: false });
    expect(parseKeyOptions('restrict,port-forwarding')).toMatchObject({ remoteForwarding: true, localForwarding: true });
    expect(parseKeyOptions('restrict,permitlisten="localhost:8080"')).toMatchObject({ remoteForwarding: true, localForwarding: false });
    // Later options win, as in sshd.
    expect(parseKeyOptions('port-forwarding,restrict')).toMatchObject({ remoteForwarding: false });
    // An explicit no-port-forwarding is not undone by permitlisten.
    expect(parseKeyOptions('no-port-forwarding,permitlisten="localhost:8080"')).toMatchObject({ remoteForwarding: false, localForwarding: false });
  });

  it('parses permitopen and expiry-time', () => {
    const o = parseKeyOptions('permitopen="127.0.0.1:22",permitopen="*:443",expiry-time="20300102Z"');
    expect(o.permitOpen).toEqual([{ host: '127.0.0.1', port: 22 }, { host: '*', port: 443 }]);
    expect(o.expiryTime?.toISOString()).toBe('2030-01-02T00:00:00.000Z');
    expect(parseKeyOptions('expiry-time="203001021530"').expiryTime?.getHours()).toBe(15);
  });

  it('accepts and ignores options with no meaning on a forwarding-only gateway', () => {
    expect(() => parseKeyOptions('no-pty,no-agent-forwarding,no-X11-forwarding,no-user-rc,command="true",environment="A=b",pty,verify-required')).not.toThrow();
  });
});

describe('from= patterns', () => {
  it('matches CIDR ranges, addresses and wildcards; ! negation wins', () => {
    expect(matchFrom('10.1.2.3', '10.0.0.0/8')).toBe(true);
    expect(matchFrom('127.0.0.1', '10.0.0.0/8')).toBe(false);
    expect(matchFrom('192.168.1.77', '192.168.1.*')).toBe(true);
    expect(matchFrom('192.168.1.77', '192.168.1.?')).toBe(false);
    expect(matchFrom('10.9.9.9', '10.0.0.0/8,!10.9.0.0/16')).toBe(false);
    expect(matchFrom('10.8.9.9', '!10.9.0.0/16,10.0.0.0/8')).toBe(true);
    expect(matchFrom('::1', '::1')).toBe(true);
    expect(matchFrom('0:0:0:0:0:0:0:1', '::1')).toBe(true);
    expect(matchFrom('2001:db8::5', '2001:db8::/32')).toBe(true);
    expect(matchFrom('127.0.0.1', '::1')).toBe(false);
  });

  it('treats an IPv4-mapped IPv6 client address as IPv4', () => {
    expect(matchFrom('::ffff:127.0.0.1', '127.0.0.0/8')).toBe(true);
  });

  it('a negated-only list never allows', () => {
    expect(matchFrom('127.0.0.1', '!10.0.0.0/8')).toBe(false);
  });
});

describe('listen policy', () => {
  it('default: loopback binds only, ports above 1024 or 0', () => {
    expect(defaultListenAllowed({ bind: 'localhost', port: 8080 })).toBe(true);
    expect(defaultListenAllowed({ bind: 'LOCALHOST', port: 0 })).toBe(true);
    expect(defaultListenAllowed({ bind: '127.0.0.1', port: 1025 })).toBe(true);
    expect(defaultListenAllowed({ bind: '::1', port: 40000 })).toBe(true);
    expect(defaultListenAllowed({ bind: '127.0.0.1', port: 1024 })).toBe(false);
    expect(defaultListenAllowed({ bind: '127.0.0.1', port: 80 })).toBe(false);
    expect(defaultListenAllowed({ bind: '0.0.0.0', port: 8080 })).toBe(false);
    expect(defaultListenAllowed({ bind: '', port: 8080 })).toBe(false);
    expect(defaultListenAllowed({ bind: '::', port: 8080 })).toBe(false);
  });

  it('a key without permitlisten gets the default; a password login too', () => {
    const plain = parseKeyOptions('');
    expect(checkListenPolicy(plain, { bind: 'localhost', port: 8080 })).toEqual({ allowed: true });
    expect(checkListenPolicy(undefined, { bind: '127.0.0.1', port: 0 })).toEqual({ allowed: true });
    const refused = checkListenPolicy(plain, { bind: '0.0.0.0', port: 8080 });
    expect(refused.allowed).toBe(false);
    expect(!refused.allowed && refused.reason).toMatch(/default policy/);
  });

  it('permitlisten replaces the default: only the listed bind:port pairs', () => {
    const o = parseKeyOptions('permitlisten="0.0.0.0:80",permitlisten="localhost:*"');
    expect(checkListenPolicy(o, { bind: '0.0.0.0', port: 80 }).allowed).toBe(true);
    expect(checkListenPolicy(o, { bind: 'localhost', port: 22 }).allowed).toBe(true);
    expect(checkListenPolicy(o, { bind: 'localhost', port: 0 }).allowed).toBe(true);
    expect(checkListenPolicy(o, { bind: '127.0.0.1', port: 8080 }).allowed).toBe(false); // "localhost" ≠ "127.0.0.1", as in sshd
    const r = checkListenPolicy(o, { bind: '0.0.0.0', port: 81 });
    expect(!r.allowed && r.reason).toMatch(/permitlisten \(0\.0\.0\.0:80, localhost:\*\)/);
  });

  it('permitlisten host wildcards and bare ports', () => {
    expect(permitListenMatches(parsePermitListen('8080'), { bind: '', port: 8080 })).toBe(true);
    expect(permitListenMatches(parsePermitListen('8080'), { bind: '0.0.0.0', port: 8080 })).toBe(true);
    expect(permitListenMatches(parsePermitListen('127.0.0.*:8080'), { bind: '127.0.0.1', port: 8080 })).toBe(true);
    expect(permitListenMatches(parsePermitListen('127.0.0.*:8080'), { bind: '127.0.0.1', port: 8081 })).toBe(false);
    expect(permitListenMatches(parsePermitListen('localhost:8080'), { bind: 'LocalHost', port: 8080 })).toBe(true);
    // Port 0 needs a permitlisten with port 0 or *.
    expect(permitListenMatches(parsePermitListen('localhost:8080'), { bind: 'localhost', port: 0 })).toBe(false);
    expect(permitListenMatches(parsePermitListen('localhost:0'), { bind: 'localhost', port: 0 })).toBe(true);
  });

  it('restrict / no-port-forwarding refuse every forward; restrict + permitlisten allows the listed ones', () => {
    expect(checkListenPolicy(parseKeyOptions('restrict'), { bind: 'localhost', port: 8080 })).toMatchObject({ allowed: false, reason: expect.stringMatching(/restrict/) });
    expect(checkListenPolicy(parseKeyOptions('no-port-forwarding'), { bind: 'localhost', port: 8080 })).toMatchObject({ allowed: false, reason: expect.stringMatching(/no-port-forwarding/) });
    const o = parseKeyOptions('restrict,permitlisten="localhost:8080"');
    expect(checkListenPolicy(o, { bind: 'localhost', port: 8080 }).allowed).toBe(true);
    expect(checkListenPolicy(o, { bind: 'localhost', port: 8081 }).allowed).toBe(false);
  });
});
