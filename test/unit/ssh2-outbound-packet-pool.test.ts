// The outbound packet pool (src/ssh2/outbound-packet-pool.ts) cuts outgoing packets from pooled
// blocks (through the padding pool's allocPacket) and recycles a block once the SSH socket's
// write has called back. Installed here on live in-process ssh2 connections: random bytes sent
// by the client arrive intact while the server reads slowly (writes pile up unsent in the
// socket), blocks are reused, a failed write never recycles its block, and the tests fail when
// an ssh2 upgrade changes the cipher code the pool relies on.
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { connectSsh2Pair, type Ssh2Pair } from '../helpers/ssh2-pair.js';
import { encryptFingerprint, installOutboundPacketPool, isPooledPacket, KNOWN_ENCRYPT, outboundPoolStats } from '../../src/ssh2/outbound-packet-pool.js';
import { installPaddingPool } from '../../src/ssh2/padding-pool.js';
import { installWriteBatching } from '../../src/net/ssh-write-batching.js';

const require = createRequire(import.meta.url);
const cryptoModule = require('ssh2/lib/protocol/crypto.js') as {
  CIPHER_INFO: Record<string, { keyLen: number; ivLen: number }>;
  createCipher(config: unknown): { allocPacket(n: number): Buffer; encrypt(p: Buffer): void };
};
const AES = 'aes128-gcm@openssh.com';
const CHACHA = 'chacha20-poly1305@openssh.com';
const pairs: Ssh2Pair[] = [];
afterEach(() => { for (const p of pairs.splice(0)) p.close(); });

async function pooledPair(cipher: string, opts: { batching?: boolean } = {}) {
  let sock!: net.Socket;
  const pair = await connectSsh2Pair({
    client: { algorithms: { cipher: [cipher] } as never },
    clientSocket: (port) => (sock = net.connect(port, '127.0.0.1')),
    afterConnect: (client) => {
      // as the agent runs against a NODELAY server: packets wait corked until the turn ends
      if (opts.batching) installWriteBatching(sock);
      const pool = installOutboundPacketPool(sock);
      expect(pool).not.toBeNull();
      expect(installPaddingPool(client, pool!)).toBe(true);
    },
  });
  pairs.push(pair);
  return { pair, sock };
}

describe('ssh2 internals used by the outbound packet pool', () => {
  it.each([AES, CHACHA])('%s: 16 MB of random bytes from the client arrive intact at a slow reader; packets come from reused blocks', async (cipher) => {
    const { pair, sock } = await pooledPair(cipher, { batching: true });
    const payload = randomBytes(16 * 2 ** 20);
    const before = { ...outboundPoolStats };
    let maxUnsent = 0;
    const received = new Promise<Buffer>((resolve, reject) => {
      // a packet corrupted in flight fails the server's MAC check: the connection dies
      pair.server.on('close', () => reject(new Error('connection closed before all bytes arrived')));
      pair.server.on('tcpip', (accept) => {
        const ch = accept();
        const got: Buffer[] = [];
        let n = 0;
        // a slow reader: stops reading its TCP socket for a while every 2 MB
        ch.on('data', (d: Buffer) => {
          got.push(Buffer.from(d));
          n += d.length;
          if (n % (2 * 2 ** 20) < d.length) { pair.serverSocket.pause(); setTimeout(() => pair.serverSocket.resume(), 30); }
          if (n >= payload.length) resolve(Buffer.concat(got));
        });
      });
    });
    const channel = await new Promise<ssh2.ClientChannel>((resolve, reject) => pair.client.forwardOut('127.0.0.1', 1, '127.0.0.1', 2, (err, ch) => (err ? reject(err) : resolve(ch))));
    // odd-sized writes, each straddling packets
    for (let p = 0; p < payload.length; p += 50_001) {
      const ok = channel.write(payload.subarray(p, p + 50_001));
      maxUnsent = Math.max(maxUnsent, sock.writableLength);
      if (!ok) await new Promise((r) => channel.once('drain', r));
    }
    const got = await received;
    expect(got.length).toBe(payload.length);
    expect(got.equals(payload)).toBe(true);
    const packets = outboundPoolStats.packets - before.packets;
    // each 50,001-byte write makes one full packet (pooled) and a 17,233-byte rest, under half a
    // block, which gets an exact-size buffer (BlockPool.fits)
    expect(packets).toBeGreaterThanOrEqual(Math.floor(payload.length / 50_001));
    // written packets went back to the pool and were cut again: a few dozen blocks for 500+ packets
    expect(outboundPoolStats.released - before.released).toBeGreaterThan(packets * 0.9);
    expect(outboundPoolStats.reused - before.reused).toBeGreaterThan(packets * 0.8);
    expect(outboundPoolStats.allocated - before.allocated).toBeLessThan(packets / 4);
    expect(maxUnsent, 'pooled packets waited in the socket before their write completed').toBeGreaterThan(32768);
  });

  it('a packet whose write fails (socket destroyed) is not recycled', async () => {
    const { pair, sock } = await pooledPair(AES);
    pair.server.on('tcpip', (accept) => { accept(); });
    const channel = await new Promise<ssh2.ClientChannel>((resolve, reject) => pair.client.forwardOut('127.0.0.1', 1, '127.0.0.1', 2, (err, ch) => (err ? reject(err) : resolve(ch))));
    const written: Buffer[] = [];
    const write = sock.write;
    sock.cork(); // hold the packets in the stream's buffer
    sock.write = function (this: net.Socket, chunk: Buffer, ...rest: unknown[]) {
      if (isPooledPacket(chunk)) written.push(chunk);
      return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof sock.write;
    const before = { ...outboundPoolStats };
    channel.write(Buffer.alloc(100_000, 1));
    expect(written.length).toBeGreaterThanOrEqual(3);
    sock.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(outboundPoolStats.released - before.released).toBe(0);
  });

  it('leaves a socket that is not a plain net.Socket alone (its write callback may come before it let go of the chunk)', () => {
    const other = new Duplex({ read() {}, write(_c, _e, cb) { cb(); } });
    expect(installOutboundPacketPool(other as unknown as net.Socket)).toBeNull();
  });

  it.each([[AES, 'AESGCMCipherBinding'], [CHACHA, 'ChaChaPolyCipherBinding']])('%s cipher is %s with the encrypt() source the pool was written against (in place, the same buffer to onWrite)', (name, className) => {
    const info = cryptoModule.CIPHER_INFO[name]!;
    const writes: Buffer[] = [];
    const c = cryptoModule.createCipher({ outbound: { onWrite: (b: Buffer) => writes.push(b), cipherInfo: info, cipherKey: Buffer.alloc(info.keyLen, 1), cipherIV: Buffer.alloc(info.ivLen, 2), seqno: 0, forceNative: false } });
    const proto = Object.getPrototypeOf(c) as { constructor: { name: string }; encrypt: (...a: never[]) => unknown };
    expect(proto.constructor.name).toBe(className);
    expect(KNOWN_ENCRYPT[encryptFingerprint(proto.encrypt)]?.className, `encrypt of ${className} changed: re-check src/ssh2/outbound-packet-pool.ts`).toBe(className);
    // what the fingerprint stands for: the allocPacket buffer itself is written, once
    const packet = c.allocPacket(20_000);
    c.encrypt(packet);
    expect(writes).toHaveLength(1);
    expect(writes[0]).toBe(packet);
  });
});
