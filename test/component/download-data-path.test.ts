// The download data path as the agent runs it: a tcp:// target dialled with the reused read
// buffer (src/net/target-read-buffer.ts), piped to an SSH channel (src/net/channel-pipe.ts)
// that takes reads as views when its window allows (src/ssh2/channel-sync-write.ts) and pooled
// copies otherwise, and outgoing packets cut from recycled blocks (src/ssh2/outbound-packet-pool.ts)
// on a live in-process ssh2 connection, with real TCP services on loopback. Random bytes both
// ways through a slow SSH peer (windows shut, copies and backpressure), bytes that arrive
// before the pipe is attached, and EOF after the last byte.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import ssh2 from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { connectSsh2Pair, type Ssh2Pair } from '../helpers/ssh2-pair.js';
import { installOutboundPacketPool, outboundPoolStats } from '../../src/ssh2/outbound-packet-pool.js';
import { installPaddingPool } from '../../src/ssh2/padding-pool.js';
import { installInboundPacketPool } from '../../src/ssh2/inbound-packet-pool.js';
import { pipeChannel, type SshChannel } from '../../src/net/channel-pipe.js';
import { SshSocketGate } from '../../src/net/ssh-socket-gate.js';
import { targetReaderOf, targetReadStats } from '../../src/net/target-read-buffer.js';
import { dialTarget } from '../../src/session/targets/target-dialer.js';

const cleanups: Array<() => void> = [];
afterEach(() => { while (cleanups.length) cleanups.pop()!(); });

async function service(onConnection: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer((s) => { s.on('error', () => {}); onConnection(s); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

/** The agent's side (client) with its data-path hooks, and a channel from it to the server. */
async function agentChannel(cipher: string) {
  let sock!: net.Socket;
  const pair: Ssh2Pair = await connectSsh2Pair({
    client: { algorithms: { cipher: [cipher] } as never },
    clientSocket: (port) => (sock = net.connect(port, '127.0.0.1')),
    afterConnect: (client) => {
      expect(installPaddingPool(client, installOutboundPacketPool(sock)!)).toBe(true);
      expect(installInboundPacketPool(client)).not.toBeNull();
    },
  });
  cleanups.push(() => pair.close());
  const serverChannel = new Promise<ssh2.ServerChannel>((resolve) => pair.server.on('tcpip', (accept) => resolve(accept())));
  const channel = await new Promise<SshChannel>((resolve, reject) => pair.client.forwardOut('127.0.0.1', 1, '127.0.0.1', 2, (err, ch) => (err ? reject(err) : resolve(ch as unknown as SshChannel))));
  return { pair, channel, peer: await serverChannel, sock };
}

/** The SSH peer reads slowly: stops reading its TCP socket for 20 ms every 2 MB (windows shut). */
function readSlowly(pair: Ssh2Pair, peer: ssh2.ServerChannel, until: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    let n = 0;
    peer.on('data', (d: Buffer) => {
      got.push(Buffer.from(d));
      n += d.length;
      if (n % (2 * 2 ** 20) < d.length) { pair.serverSocket.pause(); setTimeout(() => pair.serverSocket.resume(), 20); }
      if (n >= until) resolve(Buffer.concat(got));
    });
    pair.server.on('close', () => reject(new Error(`connection closed after ${n} of ${until} bytes`)));
  });
}

const tcpTarget = (port: number) => ({ kind: 'tcp' as const, host: '127.0.0.1', port, url: `tcp://127.0.0.1:${port}` });

describe('download data path: reused target reads, pooled copies, recycled packets', () => {
  it.each(['aes128-gcm@openssh.com', 'chacha20-poly1305@openssh.com'])('%s: 24 MB of random bytes both ways through an echo target and a slow SSH peer arrive intact', async (cipher) => {
    const echo = await service((s) => s.pipe(s));
    const { pair, channel, peer } = await agentChannel(cipher);
    const target = await dialTarget(tcpTarget(echo), 5000, 'fwd');
    expect(targetReaderOf(target), 'tcp:// targets read into the reused buffer').toBeDefined();
    pipeChannel(channel, target, { idleTimeoutMs: 0, gate: new SshSocketGate(new net.Socket(), 1 << 30), onClose: () => {} });
    const before = { reads: { ...targetReadStats }, packets: { ...outboundPoolStats } };
    const payload = randomBytes(24 * 2 ** 20);
    const back = readSlowly(pair, peer, payload.length);
    for (let p = 0; p < payload.length; p += 100_003) {
      if (!peer.write(payload.subarray(p, p + 100_003))) await once(peer, 'drain');
    }
    const got = await back;
    expect(got.length).toBe(payload.length);
    expect(got.equals(payload)).toBe(true);
    const reads = targetReadStats.reads - before.reads.reads;
    const copied = targetReadStats.copied - before.reads.copied;
    expect(reads).toBeGreaterThan(payload.length / 65536);
    // reads went to ssh2 as views of the one reused buffer while the window was open, as copies
    // while the slow peer kept it shut (the share depends on timing: a quarter views in one run), and the
    // copies were recycled
    expect(copied).toBeGreaterThan(0);
    expect(reads - copied).toBeGreaterThan(reads / 10);
    // (copies of reads under half a block are exact-size buffers, not pool blocks: BlockPool.fits)
    const pooledCopies = targetReadStats.allocated + targetReadStats.reused - before.reads.allocated - before.reads.reused;
    expect(pooledCopies).toBeGreaterThan(0);
    expect(targetReadStats.reused - before.reads.reused).toBeGreaterThan(pooledCopies / 2);
    // outgoing packets: cut from recycled blocks
    const packets = outboundPoolStats.packets - before.packets.packets;
    // most packets are full (a 64 KiB read makes two); a short read's packet under half a block
    // gets an exact-size buffer instead (BlockPool.fits)
    expect(packets).toBeGreaterThan(payload.length / 32768 * 0.75);
    expect(outboundPoolStats.reused - before.packets.reused).toBeGreaterThan(packets * 0.8);
  });

  it('bytes the target sends before the pipe is attached come first, intact; its FIN becomes EOF after the last byte', async () => {
    const greeting = Buffer.from('220 ready\r\n');
    const body = randomBytes(8 * 2 ** 20);
    const source = await service((s) => { s.write(greeting); s.end(body); });
    const { pair, channel, peer } = await agentChannel('aes128-gcm@openssh.com');
    const queuedBefore = targetReadStats.queued;
    const target = await dialTarget(tcpTarget(source), 5000, 'fwd');
    await new Promise((r) => setTimeout(r, 100)); // the greeting (at least) is read meanwhile
    expect(targetReadStats.queued - queuedBefore).toBeGreaterThanOrEqual(1);
    pipeChannel(channel, target, { idleTimeoutMs: 0, gate: new SshSocketGate(new net.Socket(), 1 << 30), onClose: () => {} });
    const all = Buffer.concat([greeting, body]);
    const got = readSlowly(pair, peer, all.length);
    const ended = once(peer, 'end');
    expect((await got).equals(all)).toBe(true);
    await ended;
  });
});
