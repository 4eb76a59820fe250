// The bind check's own connection comes back as a channel and must be refused, whatever order
// the agent sees things in: the channel before the probe's connect event (both are ready in the
// same event-loop turn on a busy host), or after the probe has already answered.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BindProbes, type ProbeVerdict } from '../../src/session/bind-check.js';

const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A listener that reports each arriving connection's origin synchronously, as the SSH host's channel would. */
async function listener(onConnection: (socket: net.Socket) => void): Promise<number> {
  const server = net.createServer(onConnection);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

describe('bind probes', () => {
  it('a probe\'s connection seen before its connect event is not taken for a stranger\'s; once settled it is the probe', async () => {
    const probes = new BindProbes();
    const verdicts: ProbeVerdict[] = [];
    let origin: net.Socket | undefined;
    const port = await listener((socket) => {
      origin = socket;
      verdicts.push(probes.verdict(socket.remoteAddress!, socket.remotePort!));
    });
    const answer = probes.probe('127.0.0.1', port, '127.0.0.1');
    // The listener's side runs first in this process more often than not; either way the verdict
    // must never be 'not-probe'.
    await new Promise<void>((r) => setImmediate(r));
    await probes.settled('127.0.0.1');
    expect(origin).toBeDefined();
    if (verdicts[0] === 'undecided') verdicts.push(probes.verdict(origin!.remoteAddress!, origin!.remotePort!));
    expect(verdicts.at(-1)).toBe('probe');
    expect(verdicts).not.toContain('not-probe');
    await expect(answer).resolves.toBe(true);
  });

  it('the channel arriving after the probe answered is still recognised', async () => {
    const probes = new BindProbes({ connectTimeoutMs: 3_000, channelWaitMs: 1, rememberMs: 60_000 });
    let origin: net.Socket | undefined;
    const port = await listener((socket) => { origin = socket; });
    await expect(probes.probe('127.0.0.1', port, '127.0.0.1')).resolves.toBe(true);
    expect(probes.verdict(origin!.remoteAddress!, origin!.remotePort!)).toBe('probe');
    // Once: a second channel from the same origin is nobody's probe.
    expect(probes.verdict(origin!.remoteAddress!, origin!.remotePort!)).toBe('not-probe');
  });

  it('a connection from another address while a probe is connecting is decided at once', async () => {
    const probes = new BindProbes({ connectTimeoutMs: 3_000, channelWaitMs: 1, rememberMs: 60_000 });
    const strangers: ProbeVerdict[] = [];
    const port = await listener((socket) => {
      if (socket.remoteAddress !== '127.0.0.1') strangers.push(probes.verdict(socket.remoteAddress!, socket.remotePort!));
    });
    const answer = probes.probe('127.0.0.1', port, '127.0.0.1');
    const stranger = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
    await new Promise<void>((r) => stranger.once('connect', () => r()));
    await answer;
    await new Promise<void>((r) => setImmediate(r));
    stranger.destroy();
    expect(strangers).toEqual(['not-probe']);
  });

  it('an unreachable port answers false and leaves nothing undecided', async () => {
    const probes = new BindProbes();
    const port = await listener(() => {});
    await new Promise((r) => servers.pop()!.close(r));
    await expect(probes.probe('127.0.0.1', port, '127.0.0.1')).resolves.toBe(false);
    expect(probes.verdict('127.0.0.1', 1)).toBe('not-probe');
  });
});
