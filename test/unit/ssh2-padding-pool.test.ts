// The padding pool (src/ssh2/padding-pool.ts) re-implements ssh2's allocPacket for four cipher
// classes and hooks the connection's private `_protocol._cipher`; installed here on live
// in-process ssh2 connections. These tests fail when an ssh2 upgrade changes either, before
// a user gets malformed packets (the runtime check would then quietly fall back to ssh2's own
// allocPacket, losing the lever).
import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';
import ssh2 from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { connectSsh2Pair, type Ssh2Pair } from '../helpers/ssh2-pair.js';
import { allocPacketFingerprint, installPaddingPool, KNOWN_ALLOC_PACKET, paddingPoolStats, pooledAllocPacket } from '../../src/ssh2/padding-pool.js';

const require = createRequire(import.meta.url);
const pairs: Ssh2Pair[] = [];
afterEach(() => { for (const p of pairs.splice(0)) p.close(); });
interface CipherInstance { allocPacket(len: number): Buffer; encrypt(packet: Buffer): void }
const cryptoModule = require('ssh2/lib/protocol/crypto.js') as {
  CIPHER_INFO: Record<string, { keyLen: number; ivLen: number }>;
  createCipher(config: unknown): CipherInstance;
};

function makeCipher(name: string, forceNative: boolean, onWrite: (b: Buffer) => void = () => {}): CipherInstance {
  const info = cryptoModule.CIPHER_INFO[name]!;
  return cryptoModule.createCipher({ outbound: { onWrite, cipherInfo: info, cipherKey: Buffer.alloc(info.keyLen, 1), cipherIV: Buffer.alloc(info.ivLen, 2), seqno: 0, forceNative } });
}

const CASES = [
  ['aes128-gcm@openssh.com', false, 'AESGCMCipherBinding'],
  ['aes128-gcm@openssh.com', true, 'AESGCMCipherNative'],
  ['chacha20-poly1305@openssh.com', false, 'ChaChaPolyCipherBinding'],
  ['chacha20-poly1305@openssh.com', true, 'ChaChaPolyCipherNative'],
] as const;

describe('ssh2 internals used by the padding pool', () => {
  it.each(['aes128-gcm@openssh.com', 'chacha20-poly1305@openssh.com'])('on a live connection (%s) every cipher ssh2 installs at key exchange gets the pooled allocPacket, and the server reads our packets', async (cipher) => {
    const pair = await connectSsh2Pair({
      client: { algorithms: { cipher: [cipher] } as never },
      afterConnect: (client) => expect(installPaddingPool(client)).toBe(true),
    });
    pairs.push(pair);
    // after NEWKEYS ssh2 replaced the NullCipher with the negotiated one: it must be pooled
    const current = (pair.client as unknown as { _protocol: { _cipher: object } })._protocol._cipher;
    expect(Object.prototype.hasOwnProperty.call(current, 'allocPacket'), `${current.constructor.name} kept ssh2's allocPacket`).toBe(true);
    pair.server.on('tcpip', (accept) => { const ch = accept(); ch.pipe(ch); });
    const before = paddingPoolStats.packets;
    const channel = await new Promise<ssh2.ClientChannel>((resolve, reject) => pair.client.forwardOut('127.0.0.1', 1, '127.0.0.1', 2, (err, ch) => (err ? reject(err) : resolve(ch))));
    const payload = Buffer.alloc(100_000, 7);
    const echoed: Buffer[] = [];
    channel.on('data', (d: Buffer) => echoed.push(d));
    await new Promise((resolve) => { channel.on('close', resolve); channel.end(payload); });
    expect(Buffer.concat(echoed).equals(payload)).toBe(true);
    // the channel open and 100 kB of data went out in pooled packets
    expect(paddingPoolStats.packets - before).toBeGreaterThanOrEqual(4);
  });

  it.each(CASES)('%s (forceNative %s) is %s with the allocPacket source the patch was written against', (name, forceNative, className) => {
    const cipher = makeCipher(name, forceNative);
    const proto = Object.getPrototypeOf(cipher) as { constructor: { name: string }; allocPacket: (...a: never[]) => unknown };
    expect(proto.constructor.name).toBe(className);
    const known = KNOWN_ALLOC_PACKET[allocPacketFingerprint(proto.allocPacket)];
    expect(known?.className, `allocPacket of ${className} changed: re-check src/ssh2/padding-pool.ts`).toBe(className);
  });

  it.each(CASES)('the pooled allocPacket lays out %s packets exactly as ssh2 does', (name, forceNative) => {
    const cipher = makeCipher(name, forceNative);
    const proto = Object.getPrototypeOf(cipher) as { allocPacket: (...a: never[]) => unknown };
    const pooled = pooledAllocPacket(KNOWN_ALLOC_PACKET[allocPacketFingerprint(proto.allocPacket)]!.layout);
    for (const len of [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 100, 1000, 4095, 32768 + 9, 32768 + 13]) {
      const mine = pooled(len);
      const theirs = cipher.allocPacket(len);
      expect(mine.length).toBe(theirs.length);
      expect(mine.readUInt32BE(0)).toBe(theirs.readUInt32BE(0));
      expect(mine[4]).toBe(theirs[4]);
      const padLen = mine[4]!;
      expect(padLen).toBeGreaterThanOrEqual(4);
    }
  });

  it('draws padding from the pool: random, never the same bytes twice in a row', () => {
    const alloc = pooledAllocPacket({ blockLen: 16, trailer: 16 });
    const pads = Array.from({ length: 400 }, () => {
      const p = alloc(32768 + 9);
      return p.subarray(5 + 32768 + 9, 5 + 32768 + 9 + p[4]!).toString('hex');
    });
    expect(new Set(pads).size).toBe(pads.length);
    expect(pads.some((p) => /^(00)+$/.test(p))).toBe(false);
  });

  it('a connection gets pooled allocPacket on every cipher ssh2 installs, and the packets still encrypt', () => {
    const client = new ssh2.Client();
    client.on('error', () => {});
    client.connect({ sock: new PassThrough(), username: 'x', hostVerifier: () => false });
    expect(installPaddingPool(client)).toBe(true);
    const protocol = (client as unknown as { _protocol: { _cipher: CipherInstance } })._protocol;
    const written: Buffer[] = [];
    const next = makeCipher('aes128-gcm@openssh.com', false, (b) => written.push(Buffer.from(b)));
    protocol._cipher = next; // what kex.js does after NEWKEYS
    expect(protocol._cipher).toBe(next);
    expect(Object.prototype.hasOwnProperty.call(next, 'allocPacket')).toBe(true);
    const before = paddingPoolStats.packets;
    const packet = protocol._cipher.allocPacket(100);
    expect(paddingPoolStats.packets).toBe(before + 1);
    protocol._cipher.encrypt(packet);
    expect(written).toHaveLength(1);
    expect(written[0]!.length).toBe(packet.length);
    client.end();
  });

  it('leaves ciphers it does not know alone', () => {
    const client = new ssh2.Client();
    client.on('error', () => {});
    client.connect({ sock: new PassThrough(), username: 'x', hostVerifier: () => false });
    installPaddingPool(client);
    const protocol = (client as unknown as { _protocol: { _cipher: object } })._protocol;
    const original = protocol._cipher;
    const allocPacket = (n: number) => Buffer.alloc(n);
    const unknown = { allocPacket, encrypt() {}, free() {} };
    protocol._cipher = unknown;
    expect(protocol._cipher).toBe(unknown);
    expect(unknown.allocPacket).toBe(allocPacket);
    expect(Object.keys(unknown)).toEqual(['allocPacket', 'encrypt', 'free']);
    protocol._cipher = original;
    client.end();
  });
});
