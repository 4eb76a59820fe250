// The inbound packet pool (src/ssh2/inbound-packet-pool.ts) re-implements ssh2's decrypt() of
// two decipher classes and hooks the connection's private `_protocol._decipher`; the SSH socket
// reader (src/session/ssh-read-buffer.ts) hands ssh2 views of one reused buffer. Installed here
// on live in-process ssh2 connections: a few MB of random bytes go through a channel both ways
// (through the agent's own channel pipe and a real TCP echo service), AEAD verification still
// rejects a tampered packet, and the tests fail when an ssh2 upgrade changes what the hook
// relies on.
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { connectSsh2Pair, type Ssh2Pair } from '../helpers/ssh2-pair.js';
import { decryptFingerprint, inboundPoolStats, installInboundPacketPool, KNOWN_DECRYPT, releaseInboundPayload, isPooledPayload } from '../../src/ssh2/inbound-packet-pool.js';
import { createSshReadBuffer } from '../../src/session/ssh-read-buffer.js';
import { pipeChannel, type SshChannel } from '../../src/net/channel-pipe.js';
import { SshSocketGate } from '../../src/net/ssh-socket-gate.js';

const require = createRequire(import.meta.url);
const cryptoModule = require('ssh2/lib/protocol/crypto.js') as {
  CIPHER_INFO: Record<string, { keyLen: number; ivLen: number }>;
  createDecipher(config: unknown): object;
};
const AES = 'aes128-gcm@openssh.com';
const CHACHA = 'chacha20-poly1305@openssh.com';
const cleanups: Array<() => void> = [];
afterEach(() => { while (cleanups.length) cleanups.pop()!(); });

async function echoServer(): Promise<number> {
  const server = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

/** Client with the pool (and optionally the reused read buffer); the server pushes `payload` into a channel the client pipes to a TCP echo service. */
async function roundTrip(cipher: string, payload: Buffer, opts: { readBuffer: boolean }) {
  const readBuffer = opts.readBuffer ? createSshReadBuffer() : undefined;
  const pair: Ssh2Pair = await connectSsh2Pair({
    client: { algorithms: { cipher: [cipher] } as never },
    clientSocket: readBuffer ? (port) => {
      const sock = net.connect({ host: '127.0.0.1', port, onread: readBuffer.onread });
      readBuffer.bind(sock);
      return sock;
    } : undefined,
    afterConnect: (client) => {
      const pool = installInboundPacketPool(client);
      expect(pool).not.toBeNull();
      if (readBuffer) readBuffer.useViewsWhen(pool!.readSafe);
    },
  });
  cleanups.push(() => pair.close());
  const echoPort = await echoServer();
  const before = { ...inboundPoolStats };
  const echoed = new Promise<Buffer>((resolve) => {
    pair.server.on('tcpip', (accept) => {
      const ch = accept();
      const got: Buffer[] = [];
      let n = 0;
      ch.on('data', (d: Buffer) => { got.push(Buffer.from(d)); n += d.length; if (n >= payload.length) { resolve(Buffer.concat(got)); ch.close(); } });
      // in pieces of odd sizes, so packets straddle socket reads
      for (let p = 0; p < payload.length; p += 50_001) ch.write(payload.subarray(p, p + 50_001));
    });
  });
  // the client side as the agent runs it: the channel piped to a TCP service
  pair.client.forwardOut('127.0.0.1', 1, '127.0.0.1', 2, (err, channel) => {
    if (err) throw err;
    const target = net.connect(echoPort, '127.0.0.1');
    target.on('error', () => {});
    pipeChannel(channel as unknown as SshChannel, target, { idleTimeoutMs: 0, gate: new SshSocketGate(new net.Socket(), 1 << 30), onClose: () => {} });
  });
  return { echoed: await echoed, pair, readBuffer, stats: { packets: inboundPoolStats.packets - before.packets, reused: inboundPoolStats.reused - before.reused, pooled: inboundPoolStats.allocated + inboundPoolStats.reused - before.allocated - before.reused } };
}

describe('ssh2 internals used by the inbound packet pool', () => {
  it.each([[AES, false], [CHACHA, false], [AES, true], [CHACHA, true]])('%s (reused read buffer: %s): 8 MB of random bytes go through a channel and back intact, packets decrypted into pooled, reused blocks', async (cipher, readBuffer) => {
    const payload = randomBytes(8 * 2 ** 20);
    const { echoed, pair, stats, readBuffer: reader } = await roundTrip(cipher as string, payload, { readBuffer: readBuffer as boolean });
    expect(echoed.length).toBe(payload.length);
    expect(echoed.equals(payload)).toBe(true);
    // the negotiated decipher is ours: every data packet (≥ 128 of 32 KiB) went through a pooled block
    const decipher = (pair.client as unknown as { _protocol: { _decipher: object } })._protocol._decipher;
    expect(Object.prototype.hasOwnProperty.call(decipher, 'decrypt')).toBe(true);
    expect(stats.packets).toBeGreaterThanOrEqual(256);
    // the channel pipe released blocks once the echo service had them, and they were reused
    // (up to a channel window, 64 packets, can be in flight at once); each 50,001-byte write's
    // 17 KB rest is under half a block and gets an exact-size buffer (BlockPool.fits)
    expect(stats.pooled).toBeGreaterThanOrEqual(Math.floor(payload.length / 50_001));
    expect(stats.reused).toBeGreaterThan(stats.pooled / 4);
    if (reader) {
      // after the handshake ssh2 got views of the reused buffer, not copies
      expect(reader.stats.reads).toBeGreaterThan(20);
      expect(reader.stats.copied).toBeLessThan(reader.stats.reads / 4);
    }
  });

  it.each([AES, CHACHA])('%s: a tampered packet is still rejected (AEAD verification intact) and its bytes never reach the channel', async (cipher) => {
    const pair = await connectSsh2Pair({ client: { algorithms: { cipher: [cipher] } as never }, afterConnect: (c) => { installInboundPacketPool(c); } });
    cleanups.push(() => pair.close());
    const errors: Error[] = [];
    pair.client.on('error', (e) => errors.push(e));
    const delivered: Buffer[] = [];
    pair.server.on('tcpip', (accept) => { accept().write(Buffer.alloc(20_000, 0x61)); });
    const sock = pair.serverSocket;
    const write = sock.write;
    let flipped = false;
    sock.write = function (this: net.Socket, chunk: Buffer, ...rest: unknown[]) {
      if (!flipped && Buffer.isBuffer(chunk) && chunk.length > 1000) {
        flipped = true;
        chunk = Buffer.from(chunk);
        chunk[600] ^= 0x01; // inside the encrypted body of a data packet
      }
      return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof sock.write;
    pair.client.forwardOut('127.0.0.1', 1, '127.0.0.1', 2, (err, ch) => { if (!err) ch.on('data', (d: Buffer) => delivered.push(Buffer.from(d))); });
    await new Promise((resolve) => pair.client.on('close', resolve));
    expect(flipped).toBe(true);
    expect(errors.length).toBeGreaterThan(0);
    expect(Buffer.concat(delivered).length).toBe(0);
  });

  it.each([[AES, 'AESGCMDecipherBinding'], [CHACHA, 'ChaChaPolyDecipherBinding']])('%s decipher is %s with the decrypt() source the hook was written against', (name, className) => {
    const info = cryptoModule.CIPHER_INFO[name]!;
    const d = cryptoModule.createDecipher({ inbound: { onPayload() {}, decipherInfo: info, decipherKey: Buffer.alloc(info.keyLen, 1), decipherIV: Buffer.alloc(info.ivLen, 2), seqno: 0, forceNative: false } });
    const proto = Object.getPrototypeOf(d) as { constructor: { name: string }; decrypt: (...a: never[]) => unknown };
    expect(proto.constructor.name).toBe(className);
    expect(KNOWN_DECRYPT[decryptFingerprint(proto.decrypt)]?.className, `decrypt of ${className} changed: re-check src/ssh2/inbound-packet-pool.ts`).toBe(className);
  });

  it('releases a block once, and ignores views that are not from the pool', () => {
    const plain = Buffer.alloc(10);
    expect(isPooledPayload(plain)).toBe(false);
    releaseInboundPayload(plain); // no-op
    const before = inboundPoolStats.released;
    releaseInboundPayload(plain);
    expect(inboundPoolStats.released).toBe(before);
  });
});
