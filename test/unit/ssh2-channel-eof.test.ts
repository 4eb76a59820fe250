// The channel-EOF hook (src/ssh2/channel-eof.ts) on a live in-process ssh2 client and server:
// a real CHANNEL_EOF is told apart from a channel whose connection died. Fails if an ssh2
// upgrade stops setting `incoming.state` before ending the readable side.
import net from 'node:net';
import ssh2, { type ClientChannel, type Connection } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519 } from '../../src/gateway/host-key.js';
import { watchChannelEof } from '../../src/ssh2/channel-eof.js';

describe('ssh2 channel EOF hook', () => {
  let server: ssh2.Server;
  let port: number;
  /** What the server does with each direct-tcpip channel it accepts. */
  let onChannel: (channel: ssh2.ServerChannel, conn: Connection) => void = () => {};

  beforeAll(async () => {
    server = new ssh2.Server({ hostKeys: [generateEd25519().private] }, (conn) => {
      conn.on('error', () => {});
      conn.on('authentication', (ctx) => ctx.accept());
      conn.on('tcpip', (accept) => onChannel(accept(), conn));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(async () => { await new Promise<void>((resolve) => server.close(() => resolve())); });

  /** Opens a channel and starts watching it in forwardOut's callback, as the agent does. */
  async function openChannel(): Promise<{ client: ssh2.Client; channel: ClientChannel; eof: () => boolean }> {
    const client = new ssh2.Client();
    client.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve).once('error', reject);
      client.connect({ host: '127.0.0.1', port, username: 'x', password: 'y', hostVerifier: () => true });
    });
    let eof!: () => boolean;
    const channel = await new Promise<ClientChannel>((resolve, reject) => client.forwardOut('127.0.0.1', 1, '127.0.0.1', 2, (err, ch) => {
      if (err) return reject(err);
      eof = watchChannelEof(ch);
      resolve(ch);
    }));
    return { client, channel, eof };
  }

  async function endOf(channel: ClientChannel, eof: () => boolean): Promise<boolean> {
    channel.resume();
    await new Promise((resolve) => channel.once('end', resolve));
    return eof();
  }

  it('a channel EOF from the peer reads as EOF', async () => {
    onChannel = (channel) => channel.end('bye');
    const { client, channel, eof } = await openChannel();
    expect(await endOf(channel, eof)).toBe(true);
    client.end();
  });

  it('watching again later (the pipe, after an await) gets the first watcher\'s answer: DATA, EOF and CLOSE all came before', async () => {
    onChannel = (channel) => { channel.end('bye'); channel.close(); };
    const { client, channel, eof } = await openChannel();
    await new Promise((resolve) => setTimeout(resolve, 50)); // everything has arrived
    const late = watchChannelEof(channel);
    expect(late).toBe(eof);
    expect(await endOf(channel, late)).toBe(true);
    client.end();
  });

  it('a connection that dies under the channel does not', async () => {
    onChannel = (_channel, conn) => setTimeout(() => (conn as unknown as { _sock: net.Socket })._sock.destroy(), 20);
    const { client, channel, eof } = await openChannel();
    expect(await endOf(channel, eof)).toBe(false);
    client.end();
  });

  it('a channel closed without EOF does not', async () => {
    onChannel = (channel) => setTimeout(() => channel.close(), 20);
    const { client, channel, eof } = await openChannel();
    expect(await endOf(channel, eof)).toBe(false);
    client.end();
  });
});
