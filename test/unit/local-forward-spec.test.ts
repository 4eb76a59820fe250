// -L and -D spec parsing (OpenSSH parse_forward semantics), and how `edge-agent tunnel` turns
// -L/-D/-g/--socks-*/--proxy/--exit-on-forward-failure into a session configuration.
import { schemaDefaults } from '../../config/schema-defaults.js';
import { describe, expect, it } from 'vitest';
import { parseDynamicForwardSpec, parseLocalForwardSpec, type DynamicForwardSpec, type LocalForwardSpec } from '../../src/cli/forward-spec.js';
import { parseTunnelArgs, type TunnelCommand } from '../../src/cli/tunnel-command.js';
import { UsageError } from '../../src/cli/usage-error.js';
import { EdgeError } from '../../src/errors.js';

function specError(fn: () => unknown): EdgeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(EdgeError);
    expect((err as EdgeError).code).toBe('EDGE_ERR_INVALID_SPEC');
    return err as EdgeError;
  }
  throw new Error('expected an error');
}

describe('parseLocalForwardSpec (-L)', () => {
  const good: Array<[string, Omit<LocalForwardSpec, 'spec'>]> = [
    ['5432:db.internal:5432', { bind: 'localhost', port: 5432, host: 'db.internal', hostPort: 5432 }],
    ['0:127.0.0.1:80', { bind: 'localhost', port: 0, host: '127.0.0.1', hostPort: 80 }],
    ['127.0.0.1:8080:h:80', { bind: '127.0.0.1', port: 8080, host: 'h', hostPort: 80 }],
    ['localhost:8080:h:80', { bind: 'localhost', port: 8080, host: 'h', hostPort: 80 }],
    ['[::1]:8080:[::1]:22', { bind: '::1', port: 8080, host: '::1', hostPort: 22 }],
    ['8080:[0:0::1]:22', { bind: 'localhost', port: 8080, host: '::1', hostPort: 22 }],
    ['0.0.0.0:8080:h:80', { bind: '0.0.0.0', port: 8080, host: 'h', hostPort: 80 }],
    [':8080:h:80', { bind: '', port: 8080, host: 'h', hostPort: 80 }],
    ['*:8080:h:80', { bind: '', port: 8080, host: 'h', hostPort: 80 }],
    ['[::]:8080:h:80', { bind: '::', port: 8080, host: 'h', hostPort: 80 }],
    ['8080:Example.COM:443', { bind: 'localhost', port: 8080, host: 'example.com', hostPort: 443 }],
    ['  65535:h:65535', { bind: 'localhost', port: 65535, host: 'h', hostPort: 65535 }],
  ];
  it.each(good)('%s', (spec, expected) => {
    expect(parseLocalForwardSpec(spec)).toEqual({ ...expected, spec });
  });

  it('-g: no bind address means every interface (as ssh -g); an explicit one is kept', () => {
    expect(parseLocalForwardSpec('8080:h:80', { gatewayPorts: true }).bind).toBe('');
    expect(parseLocalForwardSpec('127.0.0.1:8080:h:80', { gatewayPorts: true }).bind).toBe('127.0.0.1');
  });

  const bad: Array<[string, string]> = [
    ['', 'empty'],
    ['8080', 'a destination host:hostport is required'],
    ['8080:h', 'expected port:host:hostport'],
    ['8080:h:0', 'target port 0'],
    ['8080:h:70000', 'out of range'],
    ['70000:h:80', 'listen port 70000 is out of range'],
    ['-1:h:80', 'negative'],
    ['http:h:80', 'not a number'],
    ['8080:h:80:', "trailing ':'"],
    ['a:b:c:d:e', 'too many fields'],
    ['[::1:8080:h:80', "unclosed '['"],
    ['/tmp/s:h:80', 'unix socket'],
    ['8080:/run/app.sock', 'unix socket'],
    ['127.0.0.1:8080:/run/app.sock', 'unix socket'],
    ['8080:h h:80', 'whitespace'],
    ['b a d:8080:h:80', 'bind address'],
  ];
  it.each(bad)('%j is rejected (%s) with the accepted form', (spec, reason) => {
    const err = specError(() => parseLocalForwardSpec(spec));
    expect(err.message).toContain(reason);
    expect(err.message).toContain('(-L)');
    expect(err.message).toContain('[bind_address:]port:host:hostport');
  });
});

describe('parseDynamicForwardSpec (-D)', () => {
  const good: Array<[string, Omit<DynamicForwardSpec, 'spec'>]> = [
    ['1080', { bind: 'localhost', port: 1080 }],
    ['0', { bind: 'localhost', port: 0 }],
    ['127.0.0.1:1080', { bind: '127.0.0.1', port: 1080 }],
    ['[::1]:1080', { bind: '::1', port: 1080 }],
    ['*:1080', { bind: '', port: 1080 }],
    [':1080', { bind: '', port: 1080 }],
    ['0.0.0.0:1080', { bind: '0.0.0.0', port: 1080 }],
  ];
  it.each(good)('%s', (spec, expected) => {
    expect(parseDynamicForwardSpec(spec)).toEqual({ ...expected, spec });
  });
  it('-g: no bind address means every interface', () => {
    expect(parseDynamicForwardSpec('1080', { gatewayPorts: true }).bind).toBe('');
  });
  const bad: Array<[string, string]> = [
    ['', 'empty'],
    ['1080:h:80', 'takes no destination'],
    ['h:1080:x', 'takes no destination'],
    ['socks', 'not a number'],
    ['99999', 'out of range'],
    ['/run/socks.sock', 'unix socket'],
    ['1080:', "trailing ':'"],
  ];
  it.each(bad)('%j is rejected (%s)', (spec, reason) => {
    const err = specError(() => parseDynamicForwardSpec(spec));
    expect(err.message).toContain(reason);
    expect(err.message).toContain('(-D)');
  });
});

describe('edge-agent tunnel: -L, -D, -g, --socks-*, --proxy, --exit-on-forward-failure', () => {
  const base = ['--insecure-accept-any-host-key', '-i', '/dev/null'];
  const parse = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const cmd = parseTunnelArgs([...base, ...args], env);
    if (cmd === 'help') throw new Error('help');
    return cmd as TunnelCommand;
  };
  const usage = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    try {
      parseTunnelArgs([...base, ...args], env);
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      return (err as Error).message;
    }
    throw new Error('expected a usage error');
  };

  it('-L and -D alone (no -R) make a session; ids L1, D1; -D allows every destination unless --socks-allow', () => {
    const cmd = parse(['-L', '5432:db.internal:5432', '-D', '1080', 'me@gw']);
    expect(cmd.session.forwards).toEqual([]);
    // The CLI builds the same normalised model as a config file: the schema's defaults are filled in.
    expect(cmd.session.localForwards).toEqual([{ ...schemaDefaults('localForward'), id: 'L1', bind: 'localhost', port: 5432, host: 'db.internal', hostPort: 5432, allowRelay: false }]);
    expect(cmd.session.dynamicForwards).toEqual([{ ...schemaDefaults('dynamicForward'), id: 'D1', bind: 'localhost', port: 1080, allowRelay: false, allowDestinations: ['*:*'] }]);
    expect(cmd.session.proxy).toBe('');
    expect(cmd.session.exitOnForwardFailure).toBe(false);
  });

  it('-g allows relay binds and makes bind-less listeners bind every interface', () => {
    const cmd = parse(['-g', '-L', '8080:h:80', '-D', '0.0.0.0:1080', 'gw']);
    expect(cmd.session.localForwards![0]).toMatchObject({ bind: '', allowRelay: true });
    expect(cmd.session.dynamicForwards![0]).toMatchObject({ bind: '0.0.0.0', allowRelay: true });
    expect(usage(['-L', '0.0.0.0:8080:h:80', 'gw'])).toMatch(/not loopback.*-g/);
    expect(usage(['-D', '192.0.2.1:1080', 'gw'])).toMatch(/not loopback.*-g/);
    expect(parse(['-L', '127.0.0.5:8080:h:80', 'gw']).session.localForwards![0]!.bind).toBe('127.0.0.5');
  });

  it('--socks-allow, --socks-user/--socks-password-env, --session-wait-ms, --proxy, --exit-on-forward-failure', () => {
    const cmd = parse(['-D', '1080', '--socks-allow', '*.lan:443', '--socks-allow', '10.0.0.0/8:*', '--socks-user', 'dev', '--socks-password-env', 'PW',
      '--session-wait-ms', '0', '--proxy', 'http://u:p@proxy:3128', '--exit-on-forward-failure', 'gw'], { PW: 'secret' });
    expect(cmd.session.dynamicForwards![0]).toEqual({ ...schemaDefaults('dynamicForward'), id: 'D1', bind: 'localhost', port: 1080, allowRelay: false, allowDestinations: ['*.lan:443', '10.0.0.0/8:*'], username: 'dev', password: 'secret', sessionWaitMs: 0 });
    expect(cmd.session.proxy).toBe('http://u:p@proxy:3128');
    expect(cmd.session.exitOnForwardFailure).toBe(true);
    expect(parse(['-R', '0:h:1', '--proxy', 'env', 'gw']).session.proxy).toBe('env');
    expect(usage(['-D', '1080', '--socks-user', 'dev', 'gw'])).toContain('go together');
    expect(usage(['-D', '1080', '--socks-password-env', 'NOPE', '--socks-user', 'x', 'gw'])).toContain('NOPE');
    expect(usage(['-D', '1080', '--socks-allow', '[::1]', 'gw'])).toContain('--socks-allow [::1]');
    expect(usage(['-L', '0:h:1', '--proxy', 'socks5://u:pw@', 'gw'])).not.toContain('pw@');
    expect(usage(['-L', '0:h:1', '--proxy', 'gopher://x:1', 'gw'])).toContain('unsupported scheme');
  });

  it('at least one forward of any kind is needed', () => {
    expect(usage(['gw'])).toContain('at least one remote forward');
    expect(usage(['gw'])).toContain('-L');
    expect(usage(['gw'])).toContain('-D');
  });
});

describe('edge-agent status table', () => {
  it('shows local and dynamic forwards with where they listen on the device', async () => {
    const { renderStatus } = await import('../../src/cli/status-command.js');
    const listener = { state: 'up', bind: '127.0.0.1', port: 0, channels: { open: 1, total: 2, rejected: 0 }, bytesIn: 10, bytesOut: 20 };
    const text = renderStatus({
      agentId: 'a', version: '0', assignments: { source: 'static', revision: null, lastError: null },
      sessions: [{
        id: 's', state: 'connected', host: 'gw', port: 22, threadId: 1, lastError: null, forwards: [],
        localForwards: [{ ...listener, id: 'db', localPort: 5432, target: 'tcp://db.internal:5432' }],
        dynamicForwards: [{ ...listener, id: 'socks', localPort: 1080, allowDestinations: ['*.lan:443'] }],
      }],
    });
    expect(text).toMatch(/^s\s+connected\s+gw:22\s+db\s+up\s+-L 127\.0\.0\.1:5432\s+tcp:\/\/db\.internal:5432\s+1\s+2\s+0\s+10B\s+20B$/m);
    expect(text).toMatch(/^s\s+connected\s+gw:22\s+socks\s+up\s+-D 127\.0\.0\.1:1080\s+SOCKS \*\.lan:443/m);
  });
});
