// Host names and addresses (src/grammar/host-name.ts): checkHost (targets, destinations,
// binds), checkSshHostName (SSH hosts; the config and session-core wiring of it:
// test/unit/host-name-and-algorithms.test.ts), formatHost, unmapAddress, and the host[:port]
// values of gateways and listen addresses (former copies: gateway-list.ts, config/formats.ts).
import { describe, expect, it } from 'vitest';
import { checkHost, checkSshHostName, formatHost, splitHostPort, unmapAddress } from '../../src/grammar/host-name.js';
import { parseListenAddress } from '../../config/formats.js';
import { parseGatewayAddress } from '../../src/session/gateway-list.js';

describe('checkHost', () => {
  it.each([
    ['DB.Example.com', 'db.example.com'], ['127.0.0.1', '127.0.0.1'], ['127.1', '127.0.0.1'], ['0:0:0:0:0:0:0:1', '::1'],
    ['bücher.example', 'xn--bcher-kva.example'], ['host_1', 'host_1'],
  ])('%j → %j', (host, normalized) => {
    expect(checkHost(host)).toEqual({ host: normalized });
  });
  it.each([
    ['', 'empty'], ['a b', 'whitespace'], ['fe80::1%eth0', 'zone'], ['1:2:3', 'not a valid IPv6'], ['h/x', 'not a valid host'],
    ['u@h', 'not a valid host'], ['[::1]', 'not a valid'], ['x'.repeat(1025), 'too long'],
  ])('%j is refused (%s)', (host, reason) => {
    expect(checkHost(host).error).toContain(reason);
  });
});

describe('formatHost and unmapAddress', () => {
  it('brackets IPv6 for URLs and host:port', () => {
    expect(formatHost('::1')).toBe('[::1]');
    expect(formatHost('db')).toBe('db');
  });
  it('strips the IPv4-mapped prefix only from mapped IPv4 addresses', () => {
    expect(unmapAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(unmapAddress('::FFFF:10.1.2.3')).toBe('10.1.2.3');
    expect(unmapAddress('::ffff:abcd')).toBe('::ffff:abcd');
    expect(unmapAddress('2001:db8::1')).toBe('2001:db8::1');
  });
});

describe('SSH host names', () => {
  it.each(['gw.example.com', 'gw', 'host_1.lan', 'gw.example.com.', '127.0.0.1', '::1', 'fe80::1', 'bücher.example'])('accepts %s', (host) => {
    expect(checkSshHostName(host, 'port')).toBeUndefined();
  });

  it.each([
    ['127.0.0.1:2401', /port glued.*port 2401/],
    ['gw.example.com:22', /port glued.*port 22/],
    ['gw example.com', /whitespace/],
    ['gw\0.example.com', /control/],
    ['gw;rm -rf', /whitespace|not a valid/],
    ['gw$(id)', /not a valid host name/],
    ['-oProxyCommand=x', /cannot start with "-"/],
    ['a..b', /not a valid host name/],
    ['x'.repeat(64) + '.com', /not a valid host name/],
    ['1:2:3', /not a valid IPv6/],
  ])('refuses %j', (host, why) => {
    expect(checkSshHostName(host, 'port')).toMatch(why);
  });
});

describe('host[:port] values', () => {
  it('splits host and port, IPv6 in brackets, the port as written', () => {
    expect(splitHostPort('gw.example.com', '[::1]:22')).toEqual({ host: 'gw.example.com', port: undefined });
    expect(splitHostPort('gw:2222', '[::1]:22')).toEqual({ host: 'gw', port: '2222' });
    expect(splitHostPort('[2001:db8::1]', '[::1]:22')).toEqual({ host: '2001:db8::1', port: undefined });
    expect(splitHostPort('[::1]:', '[::1]:22')).toEqual({ host: '::1', port: '' });
    expect(() => splitHostPort('::1:22', '[::1]:22')).toThrow('write an IPv6 address in brackets, e.g. [::1]:22 (got "::1:22")');
    expect(() => splitHostPort('[gw]:22', '[::1]:22')).toThrow('brackets are only for IPv6 addresses');
  });
  it('gateways: port optional (default 22), 1-65535', () => {
    expect(parseGatewayAddress('[2001:db8::1]:2222')).toEqual({ host: '2001:db8::1', port: 2222 });
    expect(parseGatewayAddress('GW3')).toEqual({ host: 'gw3', port: 22 });
    expect(() => parseGatewayAddress('gw:0')).toThrow(/1-65535/);
  });
  it('listen addresses: port required, 0-65535', () => {
    expect(parseListenAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListenAddress('127.0.0.1:9480')).toEqual({ host: '127.0.0.1', port: 9480 });
    expect(() => parseListenAddress('127.0.0.1')).toThrow(/has no port/);
    expect(() => parseListenAddress('[::1]')).toThrow(/has no port/);
    expect(() => parseListenAddress(':80')).toThrow(/has no host/);
    expect(() => parseListenAddress('::1:80')).toThrow(/in brackets, e.g. \[::1\]:9480/);
    expect(() => parseListenAddress('h:99999')).toThrow(/0-65535/);
  });
});
