// `edge-agent gateway` flags that map onto gateway options without starting anything.
import { describe, expect, it } from 'vitest';
import { parseGatewayArgs } from '../../src/cli/gateway-command.js';

const base = ['--host-key', '/tmp/h', '--authorized-keys', '/tmp/a'];

describe('gateway flags', () => {
  it('--algorithms: OpenSSH-style lists per category, ";"-separated', () => {
    const cmd = parseGatewayArgs([...base, '--algorithms', 'kex=+diffie-hellman-group14-sha1; MACs=+hmac-sha1']);
    expect(cmd !== 'help' && cmd.options.algorithms).toEqual({ kex: '+diffie-hellman-group14-sha1', hmac: '+hmac-sha1' });
    expect(() => parseGatewayArgs([...base, '--algorithms', 'kexes=+x'])).toThrow(/--algorithms: unknown category "kexes"/);
    expect(() => parseGatewayArgs([...base, '--algorithms', 'mac=+hmac-sha3'])).toThrow(/--algorithms\.hmac: "hmac-sha3" is not supported/);
  });

  it('--max-startups and --per-source-max-startups', () => {
    const cmd = parseGatewayArgs([...base, '--max-startups', '5:50:20', '--per-source-max-startups', '3']);
    expect(cmd !== 'help' && cmd.options).toMatchObject({ maxStartups: '5:50:20', perSourceMaxStartups: 3 });
    expect(() => parseGatewayArgs([...base, '--per-source-max-startups', 'x'])).toThrow(/--per-source-max-startups must be an integer from 0/);
    expect(() => parseGatewayArgs([...base, '--max-startups', '10:30'])).toThrow(expect.objectContaining({ name: 'EdgeError', message: expect.stringMatching(/^--max-startups: must be START:RATE:FULL/) }));
  });

  it('--socket-dir: unix socket forwards in that directory (none without it)', () => {
    const cmd = parseGatewayArgs([...base, '--socket-dir', '/run/edge']);
    expect(cmd !== 'help' && cmd.options.socketDir).toBe('/run/edge');
    const without = parseGatewayArgs(base);
    expect(without !== 'help' && 'socketDir' in without.options).toBe(false);
  });
});
