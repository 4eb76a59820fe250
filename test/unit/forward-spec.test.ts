import { describe, expect, it } from 'vitest';
import { parseRemoteForwardSpec, type RemoteForwardSpec } from '../../src/cli/forward-spec.js';
import { EdgeError } from '../../src/errors.js';
import { thrown } from '../helpers/thrown.js';

const catchError = (fn: () => unknown): EdgeError => thrown(fn, EdgeError);

describe('parseRemoteForwardSpec: accepted specs', () => {
  const good: Array<[string, Omit<RemoteForwardSpec, 'spec'>]> = [
    ['8080:127.0.0.1:80', { bind: 'localhost', port: 8080, target: 'tcp://127.0.0.1:80' }],
    ['0.0.0.0:9000:127.0.0.1:8000', { bind: '0.0.0.0', port: 9000, target: 'tcp://127.0.0.1:8000' }],
    ['[::1]:8080:host:80', { bind: '::1', port: 8080, target: 'tcp://host:80' }],
    ['localhost:0:[::1]:22', { bind: 'localhost', port: 0, target: 'tcp://[::1]:22' }],
    [':8080:h:80', { bind: '', port: 8080, target: 'tcp://h:80' }],
    ['*:8080:h:80', { bind: '', port: 8080, target: 'tcp://h:80' }],
    ['[::]:8080:h:80', { bind: '::', port: 8080, target: 'tcp://h:80' }],
    ['127.0.0.1:8080:h:80', { bind: '127.0.0.1', port: 8080, target: 'tcp://h:80' }],
    ['gw.example.com:8080:h:80', { bind: 'gw.example.com', port: 8080, target: 'tcp://h:80' }],
    ['8080:Example.COM:443', { bind: 'localhost', port: 8080, target: 'tcp://example.com:443' }],
    ['65535:h:65535', { bind: 'localhost', port: 65535, target: 'tcp://h:65535' }],
    ['  8080:h:80', { bind: 'localhost', port: 8080, target: 'tcp://h:80' }],
    ['8080:[0:0::1]:22', { bind: 'localhost', port: 8080, target: 'tcp://[::1]:22' }],
    ['8080:/run/app.sock', { bind: 'localhost', port: 8080, target: 'unix:/run/app.sock' }],
    ['127.0.0.1:8080:/run/app.sock', { bind: '127.0.0.1', port: 8080, target: 'unix:/run/app.sock' }],
    ['8080:/run/a\\:b.sock', { bind: 'localhost', port: 8080, target: 'unix:/run/a:b.sock' }],
    ['8080:[/run/a:b.sock]', { bind: 'localhost', port: 8080, target: 'unix:/run/a:b.sock' }],
    ['8080:http://127.0.0.1:3000', { bind: 'localhost', port: 8080, target: 'http://127.0.0.1:3000' }],
    ['8080:http://127.0.0.1:3000/', { bind: 'localhost', port: 8080, target: 'http://127.0.0.1:3000' }],
    ['8080:http://app.local', { bind: 'localhost', port: 8080, target: 'http://app.local' }],
    ['8080:HTTP://App.Local:80/', { bind: 'localhost', port: 8080, target: 'http://app.local' }],
    ['[::]:443:https://10.0.0.5:8443', { bind: '::', port: 443, target: 'https://10.0.0.5:8443' }],
    ['443:https://[::1]', { bind: 'localhost', port: 443, target: 'https://[::1]' }],
    ['0:tcp://127.0.0.1:22', { bind: 'localhost', port: 0, target: 'tcp://127.0.0.1:22' }],
    ['*:2222:tcp://[::1]:22', { bind: '', port: 2222, target: 'tcp://[::1]:22' }],
    ['9000:unix:/tmp/x.sock', { bind: 'localhost', port: 9000, target: 'unix:/tmp/x.sock' }],
    ['0.0.0.0:9000:unix:///tmp/x.sock', { bind: '0.0.0.0', port: 9000, target: 'unix:/tmp/x.sock' }],
    ['http:8080:h:80', { bind: 'http', port: 8080, target: 'tcp://h:80' }],
    ['8080:[unix]:80', { bind: 'localhost', port: 8080, target: 'tcp://unix:80' }],
    ['/run/edge/device-42.sock:127.0.0.1:3000', { bind: '', port: 0, remoteSocket: '/run/edge/device-42.sock', target: 'tcp://127.0.0.1:3000' }],
    ['/run/edge/d.sock:/run/app.sock', { bind: '', port: 0, remoteSocket: '/run/edge/d.sock', target: 'unix:/run/app.sock' }],
    ['/run/edge/d.sock:http://127.0.0.1:3000', { bind: '', port: 0, remoteSocket: '/run/edge/d.sock', target: 'http://127.0.0.1:3000' }],
    ['[/run/a:b.sock]:[::1]:22', { bind: '', port: 0, remoteSocket: '/run/a:b.sock', target: 'tcp://[::1]:22' }],
  ];

  it.each(good)('%s', (spec, expected) => {
    expect(parseRemoteForwardSpec(spec)).toEqual({ ...expected, spec });
  });
});

describe('parseRemoteForwardSpec: rejected specs', () => {
  const bad: Array<[string, string]> = [
    ['', 'the spec is empty'],
    ['   ', 'the spec is empty'],
    ['8080', 'reverse dynamic (SOCKS) forwarding is not supported; a target is required'],
    ['localhost:8080', 'a target is required'],
    ['/tmp/sock', 'a target is required after the remote socket'],
    ['/tmp/sock:x:h:80', 'expected /remote/socket:host:hostport'],
    ['tmp/sock:h:80', 'remote socket path "tmp/sock" must be absolute'],
    ['127.0.0.1:/tmp/sock:h:80', 'listen port "/tmp/sock" is not a number'],
    [`/${'s'.repeat(120)}:h:80`, 'longer than 107 bytes'],
    ['http:h:80', 'listen port "http" is not a number'],
    ['ssh:h:80', 'listen port "ssh" is not a number'],
    ['-1:h:80', 'listen port -1 is negative'],
    ['65536:h:80', 'listen port 65536 is out of range'],
    ['99999999999999999999:h:80', 'out of range'],
    ['8080:h:http', 'target port "http" is not a number'],
    ['8080:h:-5', 'target port -5 is negative'],
    ['8080:h:70000', 'target port 70000 is out of range'],
    ['8080:h:0', 'target port 0 is not allowed'],
    ['8080::80', 'target host: the host is empty'],
    ['8080:[]:80', 'target host: the host is empty'],
    ['8080:bad host:80', 'target host'],
    ['8080:/x:80', 'target host'],
    ['[::1:8080:h:80', "unclosed '['"],
    ['8080:[::1:22', "unclosed '['"],
    ['[::1]x:8080:h:80', "after ']'"],
    ['8080:h:80\\', 'trailing backslash'],
    ['8080:h:80:', "trailing ':'"],
    ['8080:', "trailing ':'"],
    ['a:8080:h:80:extra', 'too many fields'],
    ['::1:8080:h:80', 'write IPv6 addresses in brackets'],
    ['bad host:8080:h:80', 'bind address'],
    ['8080:relative/app.sock', 'must be absolute'],
    ['http://127.0.0.1:3000', 'a listen port is required before the target URL'],
    ['a:b:8080:http://h', 'only "port" or "bind_address:port" may come before the target URL'],
    ['x:http://h', 'listen port "x" is not a number'],
    ['8080:http://h/app', 'path ("/app") is not allowed'],
    ['8080:http://h/?q=1', 'query'],
    ['8080:http://h#frag', 'fragment'],
    ['8080:http://user:secret@h', 'credentials'],
    ['8080:http://:80', 'the host is missing'],
    ['8080:https://h:0', 'port 0 is not allowed'],
    ['8080:https://h:65536', 'out of range'],
    ['8080:tcp://h', 'a port is required'],
    ['8080:tcp://h:', 'port after'],
    ['8080:tcp://::1:22', 'IPv6 address must be written in brackets'],
    ['8080:unix:relative.sock', 'must be absolute'],
    ['8080:unix://host/x.sock', 'must not name a host'],
  ];

  it.each(bad)('%j', (spec, fragment) => {
    const err = catchError(() => parseRemoteForwardSpec(spec));
    expect(err.code).toBe('EDGE_ERR_INVALID_SPEC');
    expect(err.message).toContain(fragment);
    expect(err.message).toContain(`"${spec.includes('@') ? spec.replace(/\/\/[^@]*@/, '//***@') : spec}"`);
    expect(err.message).toContain('[bind_address:]port:host:hostport');
    expect(err.message).toContain('[bind_address:]port:/local/socket');
    expect(err.message).toContain('[bind_address:]port:URL');
  });

  it('never echoes URL credentials', () => {
    const err = catchError(() => parseRemoteForwardSpec('8080:http://user:secret@h'));
    expect(err.message).not.toContain('secret');
    expect(JSON.stringify(err.details)).not.toContain('secret');
  });
});

describe('-R typos: the form most likely meant', () => {
  it.each([
    ['2520:htp://127.0.0.1:3000', '2520:http://127.0.0.1:3000'],
    ['2520:http:/127.0.0.1:3000', '2520:http://127.0.0.1:3000'],
    ['2520:http//127.0.0.1:3000', '2520:http://127.0.0.1:3000'],
    ['0.0.0.0:2520:htps://example.lan', '0.0.0.0:2520:https://example.lan'],
    ['2520:tpc://127.0.0.1:22', '2520:tcp://127.0.0.1:22'],
    ['2520:uinx:/run/app.sock', '2520:unix:/run/app.sock'],
    ['[::1]:2520:htp://x:1', '[::1]:2520:http://x:1'],
  ])('%s → did you mean %s', (spec, meant) => {
    expect(() => parseRemoteForwardSpec(spec)).toThrow(`did you mean "${meant}"?`);
    expect(parseRemoteForwardSpec(meant).spec).toBe(meant);
  });

  it('no guess when nothing close parses', () => {
    expect(() => parseRemoteForwardSpec('2520:foo://x')).toThrow(/^invalid remote forward \(-R\) "2520:foo:\/\/x": listen port "foo" is not a number/);
    expect(() => parseRemoteForwardSpec('8080:localhost:80x')).not.toThrow(/did you mean/);
  });
});
