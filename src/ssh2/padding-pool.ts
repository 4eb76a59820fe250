// ssh2 fills each outgoing packet's 4–19 bytes of random padding with its own
// `crypto.randomFillSync()` call: one trip into OpenSSL's random generator per 32 KiB packet
// (4% of the agent's busy main-thread samples on a download in a --cpu-prof profile; 3–8% less
// CPU per GB with the pool in `npm run bench`, close to the noise). This patch draws the padding from a
// per-thread pool of random bytes refilled by one randomFillSync() per 4 KiB instead. Every
// pool byte is used once, and it comes from the same CSPRNG, so the packets are the same as
// before; only the number of calls changes.
//
// It touches ssh2 internals, in this one file only:
//   - `client._protocol._cipher` (the outbound cipher; replaced at every key exchange), which we
//     turn into an accessor on the connection's own Protocol object, so that each new cipher
//     instance gets a pooled `allocPacket` as an own property (the prototype is never changed);
//   - the cipher classes' `allocPacket`, which we re-implement. We only do so for the classes
//     whose `allocPacket` source we checked (sha256 of the whitespace-normalised source below);
//     any other class, or a changed source after an ssh2 upgrade, keeps ssh2's own code.
// test/unit/ssh2-padding-pool.test.ts fails when ssh2 changes either of them.
import { randomFillSync } from 'node:crypto';
import type { Client } from 'ssh2';
import { knownMethod, sourceFingerprint, watchProtocolField } from './hook-kit.js';

interface PacketLayout {
  /** Cipher block size the padded length must be a multiple of. */
  blockLen: number;
  /** Bytes after the packet for the MAC/tag that ssh2 allocates in the same buffer. */
  trailer: number;
}

/**
 * ssh2 1.17 classes whose allocPacket we re-implement, keyed by the first 16 hex digits of
 * sha256(whitespace-normalised allocPacket source). All four leave the 4-byte length out of
 * the padding computation (AES-GCM and chacha20-poly1305: the length is AAD / separately
 * encrypted).
 */
export const KNOWN_ALLOC_PACKET: Record<string, { className: string; layout: PacketLayout }> = {
  c85d3e0ccef1c72a: { className: 'AESGCMCipherBinding', layout: { blockLen: 16, trailer: 16 } },
  '42d51c979fa5b5a7': { className: 'AESGCMCipherNative', layout: { blockLen: 16, trailer: 0 } },
  f4dce1cdd5909e38: { className: 'ChaChaPolyCipherBinding', layout: { blockLen: 8, trailer: 16 } },
  '7a166a8c6b99b267': { className: 'ChaChaPolyCipherNative', layout: { blockLen: 8, trailer: 0 } },
};

export const allocPacketFingerprint = sourceFingerprint;

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let poolPos = POOL_BYTES;
export const paddingPoolStats = { refills: 0, packets: 0 };

function fillPadding(packet: Buffer, offset: number, len: number): void {
  if (poolPos + len > POOL_BYTES) {
    randomFillSync(pool);
    poolPos = 0;
    paddingPoolStats.refills += 1;
  }
  for (let i = 0; i < len; i++) packet[offset + i] = pool[poolPos + i]!;
  poolPos += len;
  paddingPoolStats.packets += 1;
}

/**
 * The same packet layout as ssh2's allocPacket for these classes, padding from the pool; the
 * packet's buffer from `alloc` (outbound-packet-pool.ts reuses written packets' buffers).
 */
export function pooledAllocPacket({ blockLen, trailer }: PacketLayout, alloc: (size: number) => Buffer = Buffer.allocUnsafe): (payloadLen: number) => Buffer {
  return (payloadLen: number) => {
    let pktLen = 4 + 1 + payloadLen;
    let padLen = blockLen - ((pktLen - 4) & (blockLen - 1));
    if (padLen < 4) padLen += blockLen;
    pktLen += padLen;
    const packet = alloc(pktLen + trailer);
    packet.writeUInt32BE(pktLen - 4, 0);
    packet[4] = padLen;
    fillPadding(packet, 5 + payloadLen, padLen);
    return packet;
  };
}

const knownByPrototype = new WeakMap<object, { className: string; layout: PacketLayout } | null>();

/**
 * Makes every outbound cipher of this connection (the current one and those of later key
 * exchanges) take its padding from the pool, and its packet buffers from `packets` where that
 * has an allocator for the cipher. Call right after `client.connect()`. Returns false (and
 * changes nothing) when ssh2's internals are not what this file was written against.
 */
export function installPaddingPool(client: Client, packets?: { packetBuffer(cipher: object): ((size: number) => Buffer) | null }): boolean {
  return watchProtocolField(client, '_cipher', (cipher) => {
    if (!cipher || typeof cipher !== 'object') return;
    const known = knownMethod(cipher, 'allocPacket', KNOWN_ALLOC_PACKET, knownByPrototype);
    if (known) (cipher as { allocPacket: unknown }).allocPacket = pooledAllocPacket(known.layout, packets?.packetBuffer(cipher) ?? undefined);
  }) !== null;
}
