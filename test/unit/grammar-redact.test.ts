// The one redactor (src/grammar/redact.ts): free text, URL values, query strings, endpoints and
// credential objects. Former copies: config/mask.ts maskUrl/maskCredential, proxy-connect's
// maskProxyUrl (test/unit/grammar-proxy-url.test.ts), target-url's redactCredentials, the
// assignment source's inline `//***@` and describeEndpoint, the HTTP relay's url.full query.
import { describe, expect, it } from 'vitest';
import { describeEndpoint, MASK, maskCredential, maskQuery, maskUrl, redactCredentials } from '../../src/grammar/redact.js';

describe('redactCredentials (free text)', () => {
  it.each([
    ['fetch https://fleet:hunter2@fleet.example.com/a failed', 'fetch https://***@fleet.example.com/a failed'],
    ['two: http://a@h1 and socks5://u:p@h2:1', 'two: http://***@h1 and socks5://***@h2:1'],
    ['no credentials http://h/p?x=1', 'no credentials http://h/p?x=1'],
    ['an @ in text is kept: user@example.com', 'an @ in text is kept: user@example.com'],
    // the assignment source's former inline copy: the same `//…@` rule
    ['connect ECONNREFUSED //tok:en@127.0.0.1:1', 'connect ECONNREFUSED //***@127.0.0.1:1'],
  ])('%j', (text, shown) => {
    expect(redactCredentials(text)).toBe(shown);
  });
});

describe('maskUrl (one URL value)', () => {
  it.each([
    ['', ''],
    ['https://fleet.example.com/a', 'https://fleet.example.com/a'],
    ['https://fleet:hunter2@fleet.example.com/v1/a?token=abc123', 'https://***:***@fleet.example.com/v1/a?token=***'],
    ['https://fleet.example.com/v1/report?key=rep0rt', 'https://fleet.example.com/v1/report?key=***'],
    ['https://tok@h/p', 'https://***@h/p'],
    ['socks5://u:p@[::1]:1080', 'socks5://***:***@[::1]:1080'],
    ['https://h/p#frag', 'https://h/p#***'],
    ['https://u:p@@h/p', 'https://***:***@h/p'],
    // kept as written (the former config copy re-serialised it: lower-cased host, added '/')
    ['https://Fleet.Example.com', 'https://Fleet.Example.com'],
  ])('%j → %j', (text, shown) => {
    expect(maskUrl(text)).toBe(shown);
  });

  it('masks a bare query word whole (the former config copy showed it as a key: "?secret=***")', () => {
    expect(maskUrl('https://h/p?s3cr3t&a=1')).toBe('https://h/p?***&a=***');
  });

  it('masks text that is not a readable scheme:// URL whole', () => {
    expect(maskUrl('https://exa mple.com/?t=x')).toBe(MASK);
    expect(maskUrl('Bearer abc123')).toBe(MASK);
    // the former config copy printed this unchanged (WHATWG reads "user:" as a scheme)
    expect(maskUrl('user:hunter2@fleet.example.com/a')).toBe(MASK);
    // a '/' in the password ends the authority for WHATWG: unreadable, so masked whole
    expect(maskUrl('http://user:pa/ss@host/')).toBe(MASK);
  });
});

describe('maskQuery', () => {
  it('replaces every value, keeps names, masks bare words', () => {
    expect(maskQuery('a=1&b=2=3&c')).toBe('a=***&b=***&***');
    expect(maskQuery('')).toBe('');
    expect(maskQuery('a=1&&b', 'REDACTED')).toBe('a=REDACTED&&REDACTED');
  });
});

describe('describeEndpoint', () => {
  it('shows the endpoint without credentials or query', () => {
    expect(describeEndpoint('https://user:secret@fleet.example.com:8443/v1/a?token=abc')).toBe('https://fleet.example.com:8443/v1/a');
    expect(describeEndpoint('not a url')).toBe('(invalid URL)');
  });
});

describe('maskCredential', () => {
  it('shows env var names and the agent flag, "[set]" for everything else', () => {
    expect(maskCredential({ privateKeyFile: '/secret/id', passphraseEnv: 'KEY_PASS', passwordEnv: 'PW', agent: true, password: 'x' }))
      .toEqual({ privateKeyFile: '[set]', passphraseEnv: 'KEY_PASS', passwordEnv: 'PW', agent: true, password: '[set]' });
    expect(maskCredential({ agent: '/secret/agent.sock', passphraseEnv: 3 })).toEqual({ agent: '[set]', passphraseEnv: MASK });
    expect(maskCredential('oops')).toBe(MASK);
    expect(maskCredential(null)).toBe(MASK);
  });
});
