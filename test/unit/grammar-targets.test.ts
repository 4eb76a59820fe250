// Target URLs (src/grammar/targets.ts): moved from forward-spec.test.ts. http+unix and
// isHttpTarget: test/unit/http-target-config.test.ts.
import { describe, expect, it } from 'vitest';
import { EdgeError } from '../../src/errors.js';
import { parseTargetUrl, type ParsedTarget } from '../../src/grammar/targets.js';
import { thrown } from '../helpers/thrown.js';

const catchError = (fn: () => unknown): EdgeError => thrown(fn, EdgeError);

describe('parseTargetUrl', () => {
  const good: Array<[string, ParsedTarget]> = [
    ['tcp://127.0.0.1:22', { kind: 'tcp', host: '127.0.0.1', port: 22, url: 'tcp://127.0.0.1:22' }],
    ['tcp://[::1]:80', { kind: 'tcp', host: '::1', port: 80, url: 'tcp://[::1]:80' }],
    ['tcp://db.internal:5432/', { kind: 'tcp', host: 'db.internal', port: 5432, url: 'tcp://db.internal:5432' }],
    ['unix:/run/app.sock', { kind: 'unix', path: '/run/app.sock', url: 'unix:/run/app.sock' }],
    ['unix:///run/app.sock', { kind: 'unix', path: '/run/app.sock', url: 'unix:/run/app.sock' }],
    ['http://127.0.0.1:3000/', { kind: 'http', host: '127.0.0.1', port: 3000, url: 'http://127.0.0.1:3000' }],
    ['http://app', { kind: 'http', host: 'app', port: 80, url: 'http://app' }],
    ['https://app', { kind: 'https', host: 'app', port: 443, url: 'https://app' }],
    ['https://app:443', { kind: 'https', host: 'app', port: 443, url: 'https://app' }],
    ['https://[::1]:8443', { kind: 'https', host: '::1', port: 8443, url: 'https://[::1]:8443' }],
  ];

  it.each(good)('%s', (text, expected) => {
    expect(parseTargetUrl(text, 'forwards[0].target')).toEqual(expected);
  });

  const bad: Array<[string, string]> = [
    ['', 'empty'],
    ['127.0.0.1:22', 'did you mean "tcp://127.0.0.1:22"'],
    ['/run/app.sock', 'did you mean "unix:/run/app.sock"'],
    ['ftp://h:21', 'unsupported scheme'],
    ['tcp://h', 'a port is required'],
    ['tcp://h:0', 'port 0 is not allowed'],
    ['tcp://:22', 'the host is missing'],
    ['tcp://[::1:22', "unclosed '['"],
    ['tcp://h:22/x', 'path'],
    ['http://h/x', 'path'],
    ['http://h?x', 'query'],
    ['http://u@h', 'credentials'],
    ['unix:x.sock', 'must be absolute'],
    ['unix:/run/', 'directory'],
    [`unix:/${'a'.repeat(200)}`, 'too long'],
    ['http://h :80', 'whitespace'],
  ];

  it.each(bad)('%j', (text, fragment) => {
    const err = catchError(() => parseTargetUrl(text, 'forwards[0].target'));
    expect(err.code).toBe('EDGE_ERR_INVALID_CONFIG');
    expect(err.message).toContain('forwards[0].target');
    expect(err.message).toContain(fragment);
  });
});

describe('parseTargetUrl never echoes credentials', () => {
  it('redacts the userinfo in the message and details', () => {
    const err = catchError(() => parseTargetUrl('http://user:s3cret@h/x', 'forwards[0].target'));
    expect(err.message).toContain('"http://***@h/x"');
    expect(err.message).not.toContain('s3cret');
    expect(JSON.stringify(err.details)).not.toContain('s3cret');
  });
});
