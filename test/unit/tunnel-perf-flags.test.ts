// `edge-agent tunnel` flags for the performance options: --ciphers/-c and --sshd-nodelay-exec.
import { describe, expect, it } from 'vitest';
import { parseTunnelArgs, type TunnelCommand } from '../../src/cli/tunnel-command.js';
import { UsageError } from '../../src/cli/usage-error.js';

const base = ['--insecure-accept-any-host-key', '--password-env', 'PW', '-R', '8080:localhost:80', 'user@host'];
const parse = (...extra: string[]) => parseTunnelArgs([...extra, ...base], { PW: 'x' }) as TunnelCommand;

describe('edge-agent tunnel performance flags', () => {
  it('passes no cipher list and no exec by default', () => {
    const cmd = parse();
    expect(cmd.session.ciphers).toBeUndefined();
    expect(cmd.session.sshdNoDelayExec).toBe(false);
  });

  it('--ciphers / -c: an ordered, comma-separated list', () => {
    expect(parse('--ciphers', 'chacha20-poly1305@openssh.com,aes128-gcm@openssh.com').session.ciphers).toEqual(['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com']);
    expect(parse('-c', 'aes256-gcm@openssh.com').session.ciphers).toEqual(['aes256-gcm@openssh.com']);
  });

  it('rejects a cipher ssh2 does not support', () => {
    expect(() => parse('--ciphers', 'aes128-gcm@openssh.com,rot13')).toThrow(UsageError);
    expect(() => parse('--ciphers', 'aes128-gcm@openssh.com,rot13')).toThrow(/cipher rot13 is not offered/);
    expect(() => parse('--ciphers', ',')).toThrow(/at least one cipher/);
  });

  it('a weaker cipher only with --algorithms cipher=… (legacy hosts)', () => {
    expect(() => parse('--ciphers', 'aes128-cbc')).toThrow(/cipher aes128-cbc is not offered.*--algorithms cipher=NAME/);
    const cmd = parse('--algorithms', 'cipher=aes128-cbc', '--ciphers', 'aes128-gcm@openssh.com,aes128-cbc');
    expect(cmd.session.ciphers).toEqual(['aes128-gcm@openssh.com', 'aes128-cbc']);
    expect(cmd.session.algorithms).toEqual({ cipher: ['aes128-cbc'] });
  });

  it('--sshd-nodelay-exec turns the option on', () => {
    expect(parse('--sshd-nodelay-exec').session.sshdNoDelayExec).toBe(true);
  });
});
