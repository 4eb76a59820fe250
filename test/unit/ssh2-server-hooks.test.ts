// The two ssh2 hooks the gateway relies on (src/ssh2/), installed on a live in-process ssh2
// server and client. These fail when an ssh2 upgrade renames or reshapes the internals.
import type ssh2 from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { watchChannelEof } from '../../src/ssh2/channel-eof.js';
import { pingClient } from '../../src/ssh2/server-ping.js';
import { connectSsh2Pair, type Ssh2Pair } from '../helpers/ssh2-pair.js';

const stops: Array<() => void> = [];
afterEach(() => { for (const s of stops.splice(0)) s(); });

type Pair = Ssh2Pair;

async function connectPair(): Promise<Pair> {
  const pair = await connectSsh2Pair();
  stops.push(() => pair.close());
  return pair;
}

/** Opens a direct-tcpip channel from the client; resolves with the server's end, tracked. */
async function openChannel(pair: Pair) {
  const serverChannel = new Promise<{ ch: ssh2.ServerChannel; endedByEof: () => boolean }>((resolve) => {
    pair.server.once('tcpip', (accept) => {
      const ch = accept();
      resolve({ ch, endedByEof: watchChannelEof(ch) });
    });
  });
  const clientChannel = await new Promise<ssh2.ClientChannel>((resolve, reject) => pair.client.forwardOut('127.0.0.1', 1, '127.0.0.1', 2, (err, ch) => (err ? reject(err) : resolve(ch))));
  const s = await serverChannel;
  s.ch.resume();
  const ended = new Promise<void>((r) => s.ch.once('end', () => r()));
  return { clientChannel, ...s, ended };
}

describe('ssh2 server internals used by the gateway', () => {
  it('pingClient sends a keepalive the client answers (bytes arrive on the server socket)', async () => {
    const pair = await connectPair();
    const answered = new Promise<number>((r) => pair.serverSocket.once('data', (d: Buffer) => r(d.length)));
    expect(pingClient(pair.server)).toBe(true);
    expect(await answered).toBeGreaterThan(0);
  });

  it('watchChannelEof: true after a real CHANNEL_EOF (even with CLOSE right behind it)', async () => {
    const pair = await connectPair();
    const c = await openChannel(pair);
    expect(c.endedByEof()).toBe(false); // not ended yet
    c.clientChannel.end(); // EOF (ssh2's client then closes as well)
    await c.ended;
    expect(c.endedByEof()).toBe(true);
  });

  it('watchChannelEof: false after CHANNEL_CLOSE without EOF, and when the connection dies', async () => {
    const pair = await connectPair();
    const closed = await openChannel(pair);
    closed.clientChannel.close();
    await closed.ended;
    expect(closed.endedByEof()).toBe(false);

    const cut = await openChannel(pair);
    pair.serverSocket.destroy();
    await cut.ended;
    expect(cut.endedByEof()).toBe(false);
  });
});
