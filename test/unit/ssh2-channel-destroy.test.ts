// The quiet-destroy hook (src/ssh2/channel-destroy.ts) on live in-process ssh2 channels: a
// channel whose both sides finished is auto-destroyed without end() on the finished stream (no
// ERR_STREAM_ALREADY_FINISHED built), and destroy() on an open channel still sends EOF and
// CLOSE. Fails if an ssh2 upgrade changes Channel.destroy() (fingerprint) or stops calling it
// redundantly (then the hook can go).
import net from 'node:net';
import ssh2 from 'ssh2';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { pipeChannel } from '../../src/net/channel-pipe.js';
import { SshSocketGate } from '../../src/net/ssh-socket-gate.js';
import { quietChannelDestroy } from '../../src/ssh2/channel-destroy.js';
import { connectSsh2Pair, type Ssh2Pair } from '../helpers/ssh2-pair.js';
import { startEchoServer } from '../helpers/tcp-services.js';

const pairs: Ssh2Pair[] = [];
afterEach(() => { for (const p of pairs.splice(0)) p.close(); });

/** A pair whose server answers each direct-tcpip channel with `reply` and its EOF. */
async function pairWithChannel(): Promise<{ client: ssh2.ClientChannel; server: Promise<ssh2.ServerChannel> }> {
  const pair = await connectSsh2Pair();
  pairs.push(pair);
  const server = new Promise<ssh2.ServerChannel>((resolve) => pair.server.on('tcpip', (accept) => resolve(accept())));
  const client = await new Promise<ssh2.ClientChannel>((resolve, reject) => pair.client.forwardOut('127.0.0.1', 1, '127.0.0.1', 2, (err, ch) => (err ? reject(err) : resolve(ch))));
  return { client, server };
}

/** Records end() calls made on an already finished channel (each builds ERR_STREAM_ALREADY_FINISHED). */
function countRedundantEnds(channel: Duplex): { count: number } {
  const seen = { count: 0 };
  const end = channel.end;
  channel.end = function (this: Duplex, ...args: unknown[]) {
    if (this.writableFinished) seen.count += 1;
    return (end as (...a: unknown[]) => Duplex).apply(this, args);
  } as Duplex['end'];
  return seen;
}

/** Both sides end normally: the server writes and ends, the client reads and ends. */
async function endBothSides(client: ssh2.ClientChannel, server: ssh2.ServerChannel): Promise<void> {
  const closed = new Promise((resolve) => client.once('close', resolve));
  const serverClosed = new Promise((resolve) => server.once('close', resolve));
  server.resume();
  server.end('bye');
  client.resume();
  await new Promise((resolve) => client.once('end', resolve));
  if (!client.writableEnded) client.end(); // (ssh2 ends it itself when the server closed first)
  await Promise.all([closed, serverClosed]);
  await new Promise((resolve) => setImmediate(resolve));
}

describe('ssh2 channel quiet destroy hook', () => {
  it('plain ssh2: the auto-destroy of a channel that ended normally calls end() on the finished stream (upstream behaviour)', async () => {
    const { client, server } = await pairWithChannel();
    const redundant = countRedundantEnds(client);
    await endBothSides(client, await server);
    expect(redundant.count).toBe(1);
  });

  it('with the hook: no end() on the finished stream, and the channel still closes on both sides', async () => {
    const { client, server } = await pairWithChannel();
    expect(quietChannelDestroy(client)).toBe(true);
    const redundant = countRedundantEnds(client);
    const s = await server;
    let received = '';
    client.on('data', (d: Buffer) => { received += d; });
    await endBothSides(client, s);
    expect(redundant.count).toBe(0);
    expect(received).toBe('bye');
  });

  it('with the hook: destroy() on an open channel still sends EOF and CLOSE (server side too)', async () => {
    const { client, server } = await pairWithChannel();
    const s = await server;
    expect(quietChannelDestroy(client)).toBe(true);
    expect(quietChannelDestroy(s)).toBe(true);
    const serverEnded = new Promise((resolve) => s.once('end', resolve));
    const serverClosed = new Promise((resolve) => s.once('close', resolve));
    s.resume();
    client.destroy();
    await Promise.all([serverEnded, serverClosed]);
    expect(client.writableEnded).toBe(true);
  });

  it('the channel pipe installs it: a piped channel that ends normally gets no end() on its finished stream', async () => {
    const echo = await startEchoServer();
    try {
      const { client, server } = await pairWithChannel();
      const s = await server;
      const redundant = countRedundantEnds(s);
      const target = net.connect({ host: '127.0.0.1', port: echo.port, allowHalfOpen: true });
      await new Promise((resolve) => target.once('connect', resolve));
      const closed = new Promise<string>((resolve) => {
        pipeChannel(s, target, { idleTimeoutMs: 0, gate: new SshSocketGate(target, 1 << 20), onClose: (reason) => resolve(reason) });
      });
      let answer = '';
      client.on('data', (d: Buffer) => { answer += d; });
      client.end('ping');
      expect(await closed).toBe('eof');
      expect(answer).toBe('ping');
      expect(redundant.count).toBe(0);
    } finally {
      await echo.close();
    }
  });

  it('leaves anything that is not ssh2 1.17 Channel alone', async () => {
    const { PassThrough } = await import('node:stream');
    const stream = new PassThrough();
    const own = stream.destroy;
    expect(quietChannelDestroy(stream)).toBe(false);
    expect(stream.destroy).toBe(own);
  });
});
