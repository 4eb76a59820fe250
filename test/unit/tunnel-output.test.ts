import { describe, expect, it } from 'vitest';
import { listenerLine, remoteForwardLine } from '../../src/cli/tunnel-output.js';

// Scripts parse these lines (the real port of a port-0 forward): their wording is interface.
describe('tunnel output lines', () => {
  it('a remote forward that comes up names the real port, the gateway and the target', () => {
    expect(remoteForwardLine({ id: 'R1', state: 'up', bind: '', remotePort: 40123, target: 'tcp://127.0.0.1:80' }, 'gw:22'))
      .toBe('forward R1 up: *:40123 on gw:22 -> tcp://127.0.0.1:80\n');
    expect(remoteForwardLine({ id: 'R2', state: 'up', bind: '127.0.0.1', remotePort: 1, remoteSocket: '/run/x.sock', target: 'unix:/a' }, 'gw'))
      .toBe('forward R2 up: /run/x.sock on gw -> unix:/a\n');
    expect(remoteForwardLine({ id: 'R1', state: 'retrying', bind: '', remotePort: null, target: 'x' }, 'gw')).toBeNull();
  });

  it('a listener line brackets IPv6, shows * for all interfaces and drops tcp://', () => {
    expect(listenerLine({ id: 'L1', state: 'up', bind: '::1', localPort: 8080, kind: 'local', target: 'tcp://db:5432' }, 'h'))
      .toBe('local forward L1 listening: [::1]:8080 -> db:5432 via h\n');
    expect(listenerLine({ id: 'D1', state: 'up', bind: '', localPort: 1080, kind: 'dynamic' }, 'h'))
      .toBe('dynamic forward D1 listening: *:1080 (SOCKS4/4a/5) via h\n');
    expect(listenerLine({ id: 'D1', state: 'up', bind: '', localPort: null, kind: 'dynamic' }, 'h')).toBeNull();
  });
});
