// policy.allowedTargets patterns (src/grammar/target-patterns.ts), on their own; the policy
// checks and their messages are test/unit/config.test.ts (checkPolicy).
import { describe, expect, it } from 'vitest';
import { normalizeSocketPath, parseTargetPattern, targetPatternMatches } from '../../src/grammar/target-patterns.js';
import { parseTargetUrl } from '../../src/grammar/targets.js';

const allows = (pattern: string, target: string) => targetPatternMatches(parseTargetPattern(pattern), parseTargetUrl(target, 't'));

describe('allowedTargets patterns', () => {
  it.each([
    ['127.0.0.1:*', 'tcp://127.0.0.1:22', true],
    ['localhost:*', 'tcp://LOCALHOST:22', true],
    ['*.lan:443', 'https://db.lan', true],
    ['*.lan:443', 'http://db.lan', false],
    ['10.0.0.*:8000-8999', 'tcp://10.0.0.7:8080', true],
    ['10.0.0.*:8000-8999', 'tcp://10.0.0.7:9000', false],
    ['[::1]:*', 'tcp://[::1]:22', true],
    ['[::1]:*', 'tcp://127.0.0.1:22', false],
    ['[*]:22', 'tcp://[2001:db8::1]:22', true],
    ['[*]:22', 'tcp://db:22', false],
    ['*:22', 'tcp://[2001:db8::1]:22', true],
    ['db*:1', 'tcp://dbx:1', true],
    ['unix:/run/app.sock', 'unix:/run/app.sock', true],
    ['unix:/run/app.sock', 'unix:/run/app.sockx', false],
    ['unix:/run/app/', 'unix:/run/app/x.sock', true],
    ['unix:/run/app/', 'unix:/run/app', false],
    ['unix:/run/app/*.sock', 'http+unix:/run/app/a.sock', true],
    ['unix:/run/app/*.sock', 'unix:/run/app/../../etc/x.sock', false],
    ['unix:*', 'unix:/run/app/../../etc/x.sock', true],
    ['127.0.0.1:*', 'unix:/run/app.sock', false],
  ])('%j allows %j: %s', (pattern, target, allowed) => {
    expect(allows(pattern, target)).toBe(allowed);
  });

  it.each([
    ['', 'empty'], ['h', 'expected host:port'], ['::1:22', 'brackets'], [':1', 'the host is empty'], ['h:0', 'out of range'],
    ['h:9-1', 'reversed'], ['[db]:1', 'not an IPv6 address'], ['[::*]:1', 'exact address or "*"'], ['a$*:1', 'not a host name pattern'],
    ['tcp://h:1', 'no scheme'], ['unix:run/x', 'absolute'], ['unix:/a/../b', '".." segments'], ['a b:1', 'whitespace'],
    ['10.0.0.0/8:*', 'not a valid host name'], ['db?:1', 'not a valid host name'],
  ])('%j is refused (%s)', (pattern, reason) => {
    expect(() => parseTargetPattern(pattern)).toThrow(reason);
  });

  it('socket paths are compared normalised', () => {
    expect(normalizeSocketPath('//run//app.sock')).toBe('/run/app.sock');
    expect(allows('unix:/run/app.sock', 'unix:/run//app.sock')).toBe(true);
  });
});
