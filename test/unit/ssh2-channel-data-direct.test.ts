// The direct channel-data hook (src/ssh2/channel-data-direct.ts) replaces the ssh2 client's
// CHANNEL_DATA message handler so that a piped channel's payloads go straight to the target
// socket's write. Installed here on live in-process ssh2 client/server pairs, the client side
// piped to a real TCP service by the agent's own channel pipe: bytes arrive intact and in order
// with both AEADs, EOF comes after the data, a target that does not read holds the SSH window
// (the agent's queue stays bounded), a forward with a bandwidth cap keeps the stream path, and
// the tests fail when an ssh2 upgrade changes the functions the hook re-implements.
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { Channel } from 'ssh2';
import { connectSsh2Pair, type Ssh2Pair } from '../helpers/ssh2-pair.js';
import {
  channelDataFingerprint, directChannelData, directStats, installChannelDataDirect,
  KNOWN_CHANNEL_DATA_HANDLER, KNOWN_CHANNEL_READ, KNOWN_WINDOW_ADJUST,
} from '../../src/ssh2/channel-data-direct.js';
import { installInboundPacketPool, inboundPoolStats } from '../../src/ssh2/inbound-packet-pool.js';
import { pipeChannel, type PipeStats, type SshChannel } from '../../src/net/channel-pipe.js';
import { SshSocketGate } from '../../src/net/ssh-socket-gate.js';
import { ForwardBandwidth } from '../../src/net/bandwidth-limit.js';

const require = createRequire(import.meta.url);
const channelJs = require('ssh2/lib/Channel.js') as { windowAdjust: () => void; Channel: { prototype: { _read: () => void } }; MAX_WINDOW: number };
const AES = 'aes128-gcm@openssh.com';
const CHACHA = 'chacha20-poly1305@openssh.com';
const cleanups: Array<() => void> = [];
afterEach(() => { while (cleanups.length) cleanups.pop()!(); });

interface Sink { port: number; socket: Promise<net.Socket>; received(): number; done: Promise<{ sha: string; bytes: number; endedAfter: number }> }

/** A TCP service that hashes what it receives; `paused` leaves its socket unread until resumed. */
async function hashingSink(paused = false): Promise<Sink> {
  let onSocket!: (s: net.Socket) => void;
  const socket = new Promise<net.Socket>((r) => { onSocket = r; });
  let onDone!: (v: { sha: string; bytes: number; endedAfter: number }) => void;
  let total = 0;
  const done = new Promise<{ sha: string; bytes: number; endedAfter: number }>((r) => { onDone = r; });
  const server = net.createServer((s) => {
    s.on('error', () => {});
    const hash = createHash('sha256');
    let bytes = 0;
    if (paused) s.pause();
    s.on('data', (d: Buffer) => { hash.update(d); bytes += d.length; total += d.length; });
    // 'end' = the FIN the channel pipe sends on the channel's EOF: every byte must be in before it
    s.on('end', () => { onDone({ sha: hash.digest('hex'), bytes, endedAfter: bytes }); s.end(); });
    onSocket(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => server.close());
  return { port: (server.address() as net.AddressInfo).port, socket, received: () => total, done };
}

async function pair(cipher: string, opts: { direct?: boolean; pool?: boolean } = {}): Promise<Ssh2Pair> {
  const p = await connectSsh2Pair({
    client: { algorithms: { cipher: [cipher] } as never },
    afterConnect: (client) => {
      if (opts.pool !== false) expect(installInboundPacketPool(client)).not.toBeNull();
      if (opts.direct !== false) expect(installChannelDataDirect(client)).toBe(true);
    },
  });
  cleanups.push(() => p.close());
  return p;
}

/** The client opens a channel the server accepts; the client side is piped to `sinkPort` as the agent pipes it. */
async function pipedChannel(p: Ssh2Pair, sinkPort: number, bandwidth?: ForwardBandwidth) {
  const serverChannel = new Promise<Channel>((resolve) => p.server.on('tcpip', (accept) => resolve(accept())));
  const client = await new Promise<SshChannel>((resolve, reject) => p.client.forwardOut('127.0.0.1', 1, '127.0.0.1', 2, (err, ch) => (err ? reject(err) : resolve(ch as unknown as SshChannel))));
  const target = net.connect(sinkPort, '127.0.0.1');
  target.on('error', () => {});
  await once(target, 'connect');
  const closed = new Promise<PipeStats>((r) => {
    pipeChannel(client, target, { idleTimeoutMs: 0, gate: new SshSocketGate(new net.Socket(), 1 << 30), bandwidth, onClose: (_reason, stats) => r(stats) });
  });
  return { server: await serverChannel, client, target, closed };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const internals = (ch: unknown) => ch as { incoming: { window: number }; outgoing: { window: number } };

describe('ssh2 internals used by the direct channel-data hook', () => {
  it('ssh2 1.17 has the CHANNEL_DATA handler, windowAdjust and Channel._read the hook re-implements (fingerprints)', async () => {
    const p = await pair(AES, { direct: false, pool: false });
    const handler = (p.client as unknown as { _protocol: { _handlers: { CHANNEL_DATA: () => void } } })._protocol._handlers.CHANNEL_DATA;
    expect(channelDataFingerprint(handler)).toBe(KNOWN_CHANNEL_DATA_HANDLER);
    expect(channelDataFingerprint(channelJs.windowAdjust)).toBe(KNOWN_WINDOW_ADJUST);
    expect(KNOWN_CHANNEL_READ[channelDataFingerprint(channelJs.Channel.prototype._read)]?.className).toBe('Channel');
    expect(installChannelDataDirect(p.client)).toBe(true);
    expect(handler).not.toBe((p.client as unknown as { _protocol: { _handlers: { CHANNEL_DATA: () => void } } })._protocol._handlers.CHANNEL_DATA);
  });

  it('does nothing when the handler is not the one it was written against', async () => {
    const p = await pair(AES, { direct: false, pool: false });
    const handlers = (p.client as unknown as { _protocol: { _handlers: Record<string, unknown> } })._protocol._handlers;
    const other = () => {};
    handlers.CHANNEL_DATA = other;
    expect(installChannelDataDirect(p.client)).toBe(false);
    expect(handlers.CHANNEL_DATA).toBe(other);
  });

  it.each([AES, CHACHA])('%s: 24 MB of random bytes reach the target intact through the hook, byte counters right, EOF after the data', async (cipher) => {
    const p = await pair(cipher);
    const sink = await hashingSink();
    const { server, client, closed } = await pipedChannel(p, sink.port);
    const payload = randomBytes(24 * 2 ** 20);
    const before = { ...directStats };
    const pooled0 = inboundPoolStats.released;
    // odd-sized writes so that packets straddle socket reads; then EOF
    for (let at = 0; at < payload.length; at += 50_001) server.write(payload.subarray(at, at + 50_001));
    server.end();
    const got = await sink.done;
    expect(got.bytes).toBe(payload.length);
    expect(got.sha).toBe(sha(payload));
    const direct = directStats.direct - before.direct;
    // ≈ 770 packets of 32 KiB; all but those that met a not-yet-flowing channel went direct
    expect(direct).toBeGreaterThan(700);
    expect(directStats.viaStream - before.viaStream).toBeLessThan(direct / 20);
    expect(inboundPoolStats.released - pooled0).toBeGreaterThan(direct / 2); // blocks back after the target write
    server.close();
    const stats = await closed;
    expect(stats.bytesIn).toBe(payload.length);
    expect(client.readableLength).toBe(0);
  });

  it('a target that does not read holds the SSH window: the queue in the agent stays bounded, the sender stops; all bytes arrive once it reads', async () => {
    const p = await pair(AES);
    const sink = await hashingSink(true);
    const { server, client, target, closed } = await pipedChannel(p, sink.port);
    const payload = randomBytes(64 * 2 ** 20);
    const before = directStats.direct;
    let accepted = 0;
    const writeAll = async () => {
      for (let at = 0; at < payload.length; at += 1 << 20) {
        accepted = at;
        if (!server.write(payload.subarray(at, at + (1 << 20)))) await once(server, 'drain');
      }
      server.end();
    };
    const writing = writeAll();
    // wait until the sender is out of window (the client stopped re-opening it)
    const out = internals(server).outgoing;
    for (let i = 0; i < 2000 && !(out.window === 0 && target.writableLength > 0); i++) await new Promise((r) => setTimeout(r, 5));
    // a few more turns: nothing more may come in
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(out.window).toBe(0);
    const queued = target.writableLength;
    // at most the 256 KiB queue threshold + one window (2 MiB) + one packet: nothing unbounded
    expect(queued).toBeLessThanOrEqual(256 * 1024 + channelJs.MAX_WINDOW + 32 * 1024);
    expect(client.readableLength).toBe(0); // nothing parked in the Readable either
    expect(internals(client).incoming.window).toBe(0);
    expect(accepted).toBeLessThan(payload.length / 2); // the sender was held back
    expect(directStats.direct).toBeGreaterThan(before);
    (await sink.socket).resume();
    await writing;
    const got = await sink.done;
    expect(got.bytes).toBe(payload.length);
    expect(got.sha).toBe(sha(payload));
    server.close();
    expect((await closed).bytesIn).toBe(payload.length);
  });

  it('data buffered in the channel before the pipe is attached comes first (later packets take the stream path behind it), then direct again', async () => {
    const p = await pair(AES);
    const sink = await hashingSink();
    const serverChannel = new Promise<Channel>((resolve) => p.server.on('tcpip', (accept) => resolve(accept())));
    const client = await new Promise<SshChannel>((resolve, reject) => p.client.forwardOut('127.0.0.1', 1, '127.0.0.1', 2, (err, ch) => (err ? reject(err) : resolve(ch as unknown as SshChannel))));
    const server = await serverChannel;
    const payload = randomBytes(8 * 2 ** 20);
    const before = { ...directStats };
    server.write(payload.subarray(0, 2 ** 20));
    // the first MiB waits in the (not yet read) Readable, then the rest is sent while it drains
    while (client.readableLength < 2 ** 20) await new Promise((r) => setTimeout(r, 5));
    const target = net.connect(sink.port, '127.0.0.1');
    target.on('error', () => {});
    await once(target, 'connect');
    const closed = new Promise<PipeStats>((r) => pipeChannel(client, target, { idleTimeoutMs: 0, gate: new SshSocketGate(new net.Socket(), 1 << 30), onClose: (_reason, stats) => r(stats) }));
    // more while the buffered MiB drains (these wait behind it), then the rest once it has drained
    server.write(payload.subarray(2 ** 20, 2 * 2 ** 20));
    while (sink.received() < 2 * 2 ** 20) await new Promise((r) => setTimeout(r, 5));
    const streamed = directStats.viaStream - before.viaStream;
    expect(streamed).toBeGreaterThanOrEqual(32); // at least the buffered MiB went through the Readable
    server.end(payload.subarray(2 * 2 ** 20));
    const got = await sink.done;
    expect(got.sha).toBe(sha(payload));
    expect(directStats.direct - before.direct).toBeGreaterThan(150); // the last 6 MiB: direct again
    server.close();
    expect((await closed).bytesIn).toBe(payload.length);
  });

  it('a packet handled while the flowing Readable still holds data goes behind that data', async () => {
    const p = await pair(AES);
    const sink = await hashingSink();
    const serverChannel = new Promise<Channel>((resolve) => p.server.on('tcpip', (accept) => resolve(accept())));
    const client = await new Promise<SshChannel>((resolve, reject) => p.client.forwardOut('127.0.0.1', 1, '127.0.0.1', 2, (err, ch) => (err ? reject(err) : resolve(ch as unknown as SshChannel))));
    const server = await serverChannel;
    const first = randomBytes(64 * 1024);
    server.write(first);
    while (client.readableLength < first.length) await new Promise((r) => setTimeout(r, 5));
    const target = net.connect(sink.port, '127.0.0.1');
    target.on('error', () => {});
    await once(target, 'connect');
    pipeChannel(client, target, { idleTimeoutMs: 0, gate: new SshSocketGate(new net.Socket(), 1 << 30), onClose: () => {} });
    // flowing now, but the buffered 64 KiB only leave on the next tick: a packet ssh2 handles
    // before that (same socket read) must not overtake them
    expect(client.readableFlowing).toBe(true);
    const protocol = (p.client as unknown as { _protocol: { _handlers: { CHANNEL_DATA: (p: unknown, r: number, d: Buffer) => void } } })._protocol;
    const later = Buffer.from('later');
    protocol._handlers.CHANNEL_DATA(protocol, (client as unknown as { incoming: { id: number } }).incoming.id, later);
    server.end();
    const got = await sink.done;
    expect(got.sha).toBe(sha(Buffer.concat([first, later])));
  });

  it('a forward with a bandwidth cap keeps the stream path (the cap pauses the channel)', async () => {
    const p = await pair(AES);
    const sink = await hashingSink();
    const { server, closed } = await pipedChannel(p, sink.port, new ForwardBandwidth(20 * 2 ** 20));
    const payload = randomBytes(2 * 2 ** 20);
    const before = { ...directStats };
    server.end(payload);
    const got = await sink.done;
    expect(got.sha).toBe(sha(payload));
    expect(directStats.direct - before.direct).toBe(0);
    expect(directStats.viaStream - before.viaStream).toBeGreaterThanOrEqual(64);
    server.close();
    expect((await closed).bytesIn).toBe(payload.length);
  });

  it('a channel on a client without the hook, or a server-side channel, is not taken over', async () => {
    const p = await pair(AES, { direct: false, pool: false });
    const sink = { ready: () => true, write: () => true };
    const serverSide = new Promise<Channel>((resolve) => p.server.on('tcpip', (accept) => resolve(accept())));
    const clientSide = await new Promise<Channel>((resolve, reject) => p.client.forwardOut('127.0.0.1', 1, '127.0.0.1', 2, (err, ch) => (err ? reject(err) : resolve(ch))));
    expect(directChannelData(clientSide, sink)).toBeNull();
    expect(directChannelData(await serverSide, sink)).toBeNull();
  });
});
