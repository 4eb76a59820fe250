// Bind addresses (src/grammar/bind.ts): what "", "*", "0.0.0.0", "::", "localhost" and IP
// literals mean and which sockets they take, for the specs, the local policy, the agent's bind
// check, the -L/-D listeners and the gateway. Moved from authorized-keys.test.ts and
// socks-protocol.test.ts.
import { describe, expect, it } from 'vitest';
import {
  bindListed, bindSockets, bindsOverlap, canonicalBind, deviceBindSockets, isLoopbackBind, isWildcardBind, LOOPBACK_BINDS, parseBindField,
} from '../../src/grammar/bind.js';

describe('gateway sockets', () => {
  it("maps bind addresses to sockets with the seed's address-family semantics", () => {
    expect(bindSockets('')).toEqual([{ host: '::', ipv6Only: false, fallbackHost: '0.0.0.0' }]);
    expect(bindSockets('*')).toEqual(bindSockets(''));
    expect(bindSockets('0.0.0.0')).toEqual([{ host: '0.0.0.0' }]);
    expect(bindSockets('::')).toEqual([{ host: '::', ipv6Only: true }]);
    expect(bindSockets('localhost')).toEqual([{ host: '127.0.0.1' }, { host: '::1', optional: true }]);
    expect(bindSockets('LOCALHOST')).toEqual(bindSockets('localhost'));
    expect(bindSockets('127.0.0.1')).toEqual([{ host: '127.0.0.1' }]);
    expect(bindSockets('::1')).toEqual([{ host: '::1', ipv6Only: true }]);
    expect(bindSockets('gateway.example.com')).toBeUndefined();
    expect(bindSockets('[::1]')).toBeUndefined();
  });

  it('knows which binds collide on the same port', () => {
    expect(bindsOverlap('localhost', '127.0.0.1')).toBe(true);
    expect(bindsOverlap('localhost', '::1')).toBe(true);
    expect(bindsOverlap('', '127.0.0.1')).toBe(true);
    expect(bindsOverlap('0.0.0.0', '127.0.0.1')).toBe(true);
    expect(bindsOverlap('0.0.0.0', '::1')).toBe(false);
    expect(bindsOverlap('::', '::1')).toBe(true);
    expect(bindsOverlap('::', '0.0.0.0')).toBe(false);
    expect(bindsOverlap('127.0.0.1', '127.0.0.2')).toBe(false);
    expect(bindsOverlap('::0001', '::1')).toBe(true);
  });
});

describe('device listeners (-L/-D)', () => {
  it('take the same sockets as the gateway; brackets removed; a host name is listened on as given', () => {
    expect(deviceBindSockets('')).toEqual(bindSockets(''));
    expect(deviceBindSockets('*')).toEqual(bindSockets(''));
    expect(deviceBindSockets('localhost')).toEqual([{ host: '127.0.0.1' }, { host: '::1', optional: true }]);
    expect(deviceBindSockets('[::1]')).toEqual([{ host: '::1', ipv6Only: true }]);
    expect(deviceBindSockets('192.168.1.2')).toEqual([{ host: '192.168.1.2' }]);
    expect(deviceBindSockets('myhost.lan')).toEqual([{ host: 'myhost.lan' }]);
  });
  it('"::" is every IPv6 address only, as for the gateway and OpenSSH (the former -L/-D planner listened dual-stack)', () => {
    expect(deviceBindSockets('::')).toEqual([{ host: '::', ipv6Only: true }]);
    expect(deviceBindSockets('[::]')).toEqual([{ host: '::', ipv6Only: true }]);
  });
});

describe('loopback binds', () => {
  it.each([['localhost', true], ['LOCALHOST', true], ['127.0.0.1', true], ['127.1.2.3', true], ['::1', true], ['[::1]', true], ['::ffff:127.0.0.1', true],
    ['', false], ['*', false], ['0.0.0.0', false], ['::', false], ['192.168.1.2', false], ['myhost', false], ['localhost.example', false]] as Array<[string, boolean]>)('%j → %s', (bind, loop) => {
    expect(isLoopbackBind(bind)).toBe(loop);
  });
});


describe('policy lists and spec fields', () => {
  it('the loopback binds are every policy\'s default', () => {
    expect(LOOPBACK_BINDS).toEqual(['localhost', '127.0.0.1', '::1']);
    for (const b of LOOPBACK_BINDS) expect(isLoopbackBind(b)).toBe(true);
  });
  it('wildcard binds', () => {
    for (const b of ['', '*', '0.0.0.0', '::']) expect(isWildcardBind(b)).toBe(true);
    for (const b of ['localhost', '127.0.0.1', '::1', '[::]', '0:0:0:0:0:0:0:0']) expect(isWildcardBind(b)).toBe(false);
  });
  it('compares canonically: case, brackets and IPv6 spelling do not matter; "" and "*" stay apart', () => {
    expect(canonicalBind('LocalHost')).toBe('localhost');
    expect(canonicalBind('[0:0:0:0:0:0:0:1]')).toBe('::1');
    expect(canonicalBind('')).toBe('');
    expect(canonicalBind('*')).toBe('*');
    expect(bindListed('[::1]', ['::1'])).toBe(true);
    expect(bindListed('LOCALHOST', ['localhost'])).toBe(true);
    expect(bindListed('0.0.0.0', ['*'])).toBe(true);
    expect(bindListed('*', [''])).toBe(false);
    expect(bindListed('', ['*'])).toBe(true);
    expect(bindListed('10.0.0.1', ['localhost', 7, null])).toBe(false);
  });
  it('a spec\'s bind field: "" or "*" → "" (all interfaces), a host kept as written, anything else refused', () => {
    expect(parseBindField('')).toEqual({ bind: '' });
    expect(parseBindField('*')).toEqual({ bind: '' });
    expect(parseBindField('0.0.0.0')).toEqual({ bind: '0.0.0.0' });
    expect(parseBindField('::')).toEqual({ bind: '::' });
    expect(parseBindField('My.Host')).toEqual({ bind: 'My.Host' });
    expect(parseBindField('a b')).toEqual({ error: expect.stringMatching(/^bind address: .*whitespace/) });
    expect(parseBindField('fe80::1%eth0')).toEqual({ error: expect.stringMatching(/zone/) });
  });
});
