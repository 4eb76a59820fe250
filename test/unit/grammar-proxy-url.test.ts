// Proxy settings (src/grammar/proxy-url.ts): proxy URLs, their masking, NO_PROXY. The route a
// session takes (proxy "env") is test/unit/socks-protocol.test.ts.
import { describe, expect, it } from 'vitest';
import { maskProxyUrl, noProxyMatches, parseProxyUrl } from '../../src/grammar/proxy-url.js';

describe('proxy URLs', () => {
  it('parses every supported scheme with defaults and decoded credentials', () => {
    expect(parseProxyUrl('http://proxy.corp:3128')).toEqual({ kind: 'http', host: 'proxy.corp', port: 3128, display: 'http://proxy.corp:3128' });
    expect(parseProxyUrl('http://us%20er:p%40ss@10.0.0.1')).toEqual({ kind: 'http', host: '10.0.0.1', port: 80, username: 'us er', password: 'p@ss', display: 'http://***:***@10.0.0.1:80' });
    expect(parseProxyUrl('proxy:3128')).toMatchObject({ kind: 'http', host: 'proxy', port: 3128 });
    expect(parseProxyUrl('socks5://[::1]')).toMatchObject({ kind: 'socks5', host: '::1', port: 1080, display: 'socks5://[::1]:1080' });
    expect(parseProxyUrl('SOCKS5H://u:p@h:1')).toMatchObject({ kind: 'socks5h', username: 'u', password: 'p' });
    expect(parseProxyUrl('socks4a://ident@h:1')).toMatchObject({ kind: 'socks4a', username: 'ident', display: 'socks4a://***@h:1' });
  });
  it.each([
    ['https://u:secret1@h:1', 'https:// proxy'], ['ftp://h:1', 'unsupported scheme'], ['http://h:1/path', 'path'], ['http://h:1?x=secret1', 'query'],
    ['socks4://u:secret1@h:1', 'SOCKS4'], ['http://:1', 'not a URL'], ['http://h:99999', 'not a URL'],
  ])('%j is refused (%s) without echoing secrets', (url, reason) => {
    let message = '';
    try {
      parseProxyUrl(url, 'sessions[0].proxy');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('sessions[0].proxy');
    expect(message).toContain(reason);
    expect(message).not.toContain('secret1');
  });
  it('maskProxyUrl', () => {
    expect(maskProxyUrl('http://user:pw@h:1')).toBe('http://***:***@h:1');
    expect(maskProxyUrl('socks5://user@h:1')).toBe('socks5://***@h:1');
    expect(maskProxyUrl('http://h:1')).toBe('http://h:1');
    expect(maskProxyUrl('env')).toBe('env');
    // A bare [user:pass@]host:port is an HTTP proxy and masked as one: the same userinfo rule as
    // every URL (the former copy showed '***@h:1' whether or not a password was there).
    expect(maskProxyUrl('user:pw@h:1')).toBe('***:***@h:1');
    expect(maskProxyUrl('user@h:1')).toBe('***@h:1');
    expect(maskProxyUrl('proxy:3128')).toBe('proxy:3128');
    expect(maskProxyUrl('')).toBe('');
    // query values and a fragment are masked value by value (the former copy: '?***' for both)
    expect(maskProxyUrl('http://h:1?token=abc#x')).toBe('http://h:1?token=***#***');
    // not a readable URL: masked whole (the former copy showed it, userinfo masked)
    expect(maskProxyUrl('http://exa mple:1')).toBe('***');
    expect(maskProxyUrl('http://us er:pw@h:1')).toBe('http://***:***@h:1');
  });
});


describe('NO_PROXY', () => {
  it.each([
    ['*', 'gw.example.com', 22, true],
    ['example.com', 'gw.example.com', 22, true],
    ['.example.com', 'gw.example.com', 22, true],
    ['*.example.com', 'example.com', 22, true],
    ['example.com', 'notexample.com', 22, false],
    ['gw.example.com:2222', 'gw.example.com', 22, false],
    ['gw.example.com:22', 'GW.example.com', 22, true],
    ['10.0.0.0/8', '10.1.2.3', 22, true],
    ['10.0.0.0/8', '11.1.2.3', 22, false],
    ['127.0.0.1', '127.0.0.1', 22, true],
    ['[::1]:22', '::1', 22, true],
    ['::1', '[::1]', 22, true],
    ['localhost, .internal  other', 'ssh.internal', 22, true],
    ['', 'h', 22, false],
  ] as Array<[string, string, number, boolean]>)('NO_PROXY=%j, host %s:%d → %s', (noProxy, host, port, bypass) => {
    expect(noProxyMatches(noProxy, host, port)).toBe(bypass);
  });


  it.each([
    // A range with an empty or non-decimal prefix is no range: the former copy read "10.1.2.3/"
    // as 10.1.2.3/0 (every IPv4 host bypassed the proxy) and "/0x8" as /8.
    ['10.1.2.3/', '192.168.0.1', false],
    ['10.0.0.0/0x8', '10.1.2.3', false],
    ['10.0.0.0/8/9', '10.1.2.3', false],
    ['10.0.0.0/33', '10.1.2.3', false],
    ['::/0', '10.1.2.3', false],
    ['2001:db8::/32', '2001:db8::1', true],
    ['10.0.0.0/8:22', '10.1.2.3', true],
  ] as Array<[string, string, boolean]>)('NO_PROXY=%j, host %s → %s', (noProxy, host, bypass) => {
    expect(noProxyMatches(noProxy, host, 22)).toBe(bypass);
  });
});
