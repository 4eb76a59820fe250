// Destination patterns of dynamic forwards (src/grammar/destination-allow-list.ts), moved from
// test/unit/socks-protocol.test.ts, and the origin allow-list (allowOrigins).
import { describe, expect, it } from 'vitest';
import { createDestinationAllowList } from '../../src/grammar/destination-allow-list.js';
import { createOriginAllowList } from '../../src/grammar/origin-allow-list.js';

describe('allowDestinations patterns', () => {
  const list = createDestinationAllowList(['localhost:*', '*.lan:443', '10.0.0.0/8:22', '192.168.1.5:80-90', '[::1]:*', '[2001:db8::/32]:443', 'db.example.com:5432'], 'k');
  it.each([
    ['localhost', 8080, true], ['LOCALHOST.', 1, true], ['a.lan', 443, true], ['a.b.lan', 443, true], ['lan', 443, false], ['a.lan', 80, false],
    ['10.1.2.3', 22, true], ['10.1.2.3', 23, false], ['11.0.0.1', 22, false], ['192.168.1.5', 85, true], ['192.168.1.5', 91, false],
    ['::1', 22, true], ['2001:db8::5', 443, true], ['2001:db9::5', 443, false], ['db.example.com', 5432, true], ['127.0.0.1', 80, false],
  ] as Array<[string, number, boolean]>)('%s:%d → %s', (host, port, allowed) => {
    expect(list.allows(host, port)).toBe(allowed);
  });
  it('empty = nothing; "*:*" = everything; "[*]:*" = any IPv6 literal only', () => {
    expect(createDestinationAllowList([], 'k').allows('localhost', 80)).toBe(false);
    expect(createDestinationAllowList(['*:*'], 'k').allows('anything.example', 1)).toBe(true);
    const v6 = createDestinationAllowList(['[*]:*'], 'k');
    expect(v6.allows('::1', 1)).toBe(true);
    expect(v6.allows('127.0.0.1', 1)).toBe(false);
  });
  it.each([
    ['localhost', 'expected host:port'], ['::1:22', 'brackets'], [':80', 'empty'], ['h:0', 'out of range'], ['h:9-1', 'reversed'],
    ['10.0.0.0/33:*', 'CIDR'], ['[::1/200]:*', 'CIDR'], ['h:abc', 'must be a number'], ['a b:1', 'whitespace'], ['a$b*:1', 'not a host name pattern'],
  ])('%j is rejected naming the key (%s)', (pattern, reason) => {
    expect(() => createDestinationAllowList(['*:*', pattern], 'dynamicForwards[d].allowDestinations')).toThrow(new RegExp(`dynamicForwards\\[d\\]\\.allowDestinations\\[1\\].*${reason.replace(/[[\]]/g, '\\$&')}`));
  });
});


describe('allowDestinations: ranges are read as everywhere else', () => {
  // The former copy ignored a third '/' part and took any number of prefix digits.
  it.each(['10.0.0.0/8/9:*', '10.0.0.0/0008:*', '[2001:db8::/32/1]:*'])('%j is refused', (pattern) => {
    expect(() => createDestinationAllowList([pattern], 'k')).toThrow(/CIDR range/);
  });
  it('"[::1/200]" was refused before and still is; an IPv6 range only in brackets', () => {
    expect(() => createDestinationAllowList(['2001:db8::/32:443'], 'k')).toThrow(/brackets/);
  });
});

describe('allowOrigins', () => {
  it('empty allows anyone; otherwise only the listed addresses and ranges', () => {
    expect(createOriginAllowList([], 'k').allows('203.0.113.9')).toBe(true);
    const list = createOriginAllowList(['203.0.113.0/24', '2001:db8::/32', '127.0.0.1'], 'forwards[0].allowOrigins');
    expect(list.allows('203.0.113.9')).toBe(true);
    expect(list.allows('203.0.114.9')).toBe(false);
    expect(list.allows('2001:db8::1')).toBe(true);
    expect(list.allows('127.0.0.1')).toBe(true);
    expect(list.allows('127.0.0.2')).toBe(false);
    expect(list.allows('not-an-ip')).toBe(false);
  });
  it('an IPv4 client on a dual-stack listener (::ffff:a.b.c.d) is matched as IPv4', () => {
    expect(createOriginAllowList(['203.0.113.0/24'], 'k').allows('::ffff:203.0.113.9')).toBe(true);
    expect(createOriginAllowList(['203.0.113.0/24'], 'k').allows('::ffff:198.51.100.1')).toBe(false);
  });
  // The former copy ignored a third '/' part and took any number of prefix digits.
  it.each(['10.0.0.0/33', 'host', '10.0.0.0/', '10.0.0.0/8/9', '10.0.0.0/0008', '::/129'])('%j is refused naming the key', (entry) => {
    expect(() => createOriginAllowList(['10.0.0.0/8', entry], 'forwards[0].allowOrigins')).toThrow(/forwards\[0\]\.allowOrigins\[1\] .*not an IP address or CIDR range/);
  });
});
