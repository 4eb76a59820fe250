// Pattern primitives (src/grammar/patterns.ts). Former copies: globToRegExp in config/policy.ts
// and glob() in destination-allow-list (one dialect: `*` only), matchPattern in
// authorized-keys.ts and globMatch in known-hosts.ts (OpenSSH's match_pattern: `*` and `?`),
// four CIDR parsers (authorized-keys, destination and origin allow-lists, NO_PROXY).
import { describe, expect, it } from 'vitest';
import { matchFrom, parseKeyOptions } from '../../src/gateway/authorized-keys.js';
import { AddressRanges, cidrContains, globToRegExp, hostNameGlob, opensshMatch, parseCidr, parsePortRange, splitHostPortPattern } from '../../src/grammar/patterns.js';

describe('globToRegExp (the agent\'s own config globs)', () => {
  it('`*` is any run, "/" included; everything else is literal, "?" too', () => {
    expect(globToRegExp('/run/*.sock').test('/run/a/b.sock')).toBe(true);
    expect(globToRegExp('/run/*.sock').test('/run/a.sockx')).toBe(false);
    expect(globToRegExp('a?c').test('abc')).toBe(false);
    expect(globToRegExp('a?c').test('a?c')).toBe(true);
    expect(globToRegExp('a.c').test('abc')).toBe(false);
    expect(globToRegExp('(x)+[y]').test('(x)+[y]')).toBe(true);
    expect(globToRegExp('*').test('')).toBe(true);
    expect(globToRegExp('*').test('a\nb')).toBe(true);
    expect(globToRegExp('*.LAN', 'i').test('a.lan')).toBe(true);
    expect(globToRegExp('*.LAN').test('a.lan')).toBe(false);
  });

  it('host name globs: letters, digits, ".", "_", "-" and "*"; lower-cased', () => {
    expect(hostNameGlob('*.Corp.example').test('db.corp.example')).toBe(true);
    expect(hostNameGlob('10.0.0.*').test('10.0.0.7')).toBe(true);
    expect(() => hostNameGlob('a$b*')).toThrow(/not a host name pattern/);
  });
});

describe('opensshMatch (match_pattern: authorized_keys, known_hosts)', () => {
  it.each([
    // the former authorized-keys matchPattern cases
    ['localhost', 'local*', true], ['localhost', 'host', false], ['a.b', 'a?b', true], ['', '*', true],
    // the former known-hosts globMatch cases (backtracking)
    ['axxbyyc', 'a*b*c', true], ['axxbyy', 'a*b*c', false], ['abc', 'a**c', true], ['ab', 'a?b', false],
    ['Host', 'host', false], ['a\nb', 'a?b', true], ['a.b', 'a.b', true], ['axb', 'a.b', false], ['[h]:22', '[h]:*', true],
  ])('%j ~ %j → %s', (text, pattern, matched) => {
    expect(opensshMatch(text, pattern)).toBe(matched);
  });

  it('is linear on hostile patterns (no RegExp backtracking blow-up)', () => {
    const started = performance.now();
    expect(opensshMatch('a'.repeat(5000), `${'*a'.repeat(20)}b`)).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('parseCidr', () => {
  it.each([
    ['10.0.0.0/8', { address: '10.0.0.0', prefix: 8, family: 'ipv4' }],
    ['10.1.2.3', { address: '10.1.2.3', prefix: 32, family: 'ipv4' }],
    ['0.0.0.0/0', { address: '0.0.0.0', prefix: 0, family: 'ipv4' }],
    ['::1', { address: '::1', prefix: 128, family: 'ipv6' }],
    ['2001:db8::/32', { address: '2001:db8::', prefix: 32, family: 'ipv6' }],
    ['10.0.0.0/008', { address: '10.0.0.0', prefix: 8, family: 'ipv4' }],
  ])('%j', (text, range) => {
    expect(parseCidr(text)).toEqual(range);
  });

  // The former copies split on '/' and ignored a third part ("10.0.0.0/8/9" was /8); the
  // destination and origin lists took any number of digits ("/0008"), NO_PROXY any Number().
  it.each(['10.0.0.0/33', '::/129', '10.0.0.0/', '/8', '10.0.0.0/8/9', '10.0.0.0/0008', '10.0.0.0/+8', '10.0.0.0/0x8', '10.0.0.0/8.0', 'host/8', ''])('refuses %j', (text) => {
    expect(parseCidr(text)).toBeUndefined();
  });

  it('restricts the family when asked', () => {
    expect(parseCidr('10.0.0.0/8', 6)).toBeUndefined();
    expect(parseCidr('::1', 4)).toBeUndefined();
    expect(parseCidr('::1', 6)).toMatchObject({ family: 'ipv6' });
  });

  it('address ranges hold IP literals only', () => {
    const ranges = new AddressRanges([parseCidr('10.0.0.0/8')!, parseCidr('2001:db8::/32')!]);
    expect(ranges.has('10.255.0.1')).toBe(true);
    expect(ranges.has('11.0.0.1')).toBe(false);
    expect(ranges.has('2001:db8:0:0::7')).toBe(true);
    expect(ranges.has('localhost')).toBe(false);
    expect(cidrContains(parseCidr('::1')!, '0:0:0:0:0:0:0:1')).toBe(true);
    expect(cidrContains(parseCidr('127.0.0.1')!, '::1')).toBe(false);
  });

  it('authorized_keys from= takes the same ranges (a third "/" part was ignored before)', () => {
    expect(() => parseKeyOptions('from="10.0.0.0/8/9"')).toThrow(/not a valid CIDR range/);
    expect(matchFrom('10.1.1.1', '10.0.0.0/8/9')).toBe(false);
    expect(matchFrom('10.1.1.1', '10.0.0.0/8')).toBe(true);
  });
});

describe('host:port patterns', () => {
  const split = (p: string) => splitHostPortPattern(p, '"h:1"', '[::1]:1');
  it('splits host and port, IPv6 in brackets', () => {
    expect(split('db.lan:5432')).toEqual({ host: 'db.lan', port: '5432', bracketed: false });
    expect(split('[::1]:*')).toEqual({ host: '::1', port: '*', bracketed: true });
    expect(split('[::1]:1:2')).toEqual({ host: '::1', port: '1:2', bracketed: true });
  });
  it.each([['', 'empty'], ['h', 'expected host:port (e.g. "h:1")'], ['::1:22', 'brackets, e.g. "[::1]:1"'], [':80', 'the host is empty'], ['a b:1', 'whitespace']])('%j → %s', (p, reason) => {
    expect(() => split(p)).toThrow(reason);
  });
  it('ports: "*", a number or a range within 1-65535', () => {
    expect(parsePortRange('*')).toEqual({ portMin: 1, portMax: 65535 });
    expect(parsePortRange('22')).toEqual({ portMin: 22, portMax: 22 });
    expect(parsePortRange('8000-8999')).toEqual({ portMin: 8000, portMax: 8999 });
    expect(() => parsePortRange('0')).toThrow(/out of range/);
    expect(() => parsePortRange('9-1')).toThrow(/reversed/);
    expect(() => parsePortRange('abc')).toThrow(/must be a number/);
    expect(() => parsePortRange('65536')).toThrow(/out of range/);
  });
});
