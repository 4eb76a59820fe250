// Outbound packets in reused buffers. On a bulk download (target → agent → SSH host) ssh2 1.17
// allocates every outgoing packet with Buffer.allocUnsafe(): a fresh ~32 KiB ArrayBuffer per
// packet, encrypted in place and handed to socket.write(). V8 frees them only when it scavenges
// for "external memory pressure" (every ~25 MB), so they are a large part of a download's peak
// RSS rise (docs/performance.md). Here a packet of channel-data size is cut from a pooled block
// instead, and the block goes back to the pool once the SSH socket's write callback reports the
// bytes written (Node holds no reference to a chunk after that).
//
// ssh2 internals this relies on (here only):
//   - the outbound cipher classes below encrypt the packet from allocPacket() in place and pass
//     that same buffer, once, to the connection's onWrite (client.js: `sock.write(data)`); we
//     check the source of their `encrypt` (fingerprint), per class; any other cipher (the
//     NullCipher of the handshake, the *Native classes that write fresh ciphertext, a changed
//     ssh2) gets plain allocations as before;
//   - packets queued during a key exchange are not from allocPacket (PacketWriter.alloc), and
//     those re-packed after it are allocPacket()ed and sent at once (Protocol.js).
// The pooled allocator is installed by the padding pool's allocPacket (padding-pool.ts), which
// already replaces that method on every cipher of the connection. Only on a plain net.Socket:
// another stream (TLS, a proxy's Duplex) may still hold a chunk after calling back.
// A block whose write fails, or that is never written (connection gone), is dropped and
// garbage-collected, never reused. test/unit/ssh2-outbound-packet-pool.test.ts fails when ssh2
// changes what this relies on.
import net from 'node:net';
import { BlockPool } from '../net/block-pool.js';
import { knownMethod, sourceFingerprint } from './hook-kit.js';

/** Outbound cipher classes of ssh2 1.17 that write the allocPacket() buffer itself, by encrypt() fingerprint. */
export const KNOWN_ENCRYPT: Record<string, { className: string }> = {
  '6aa0f76a4f21663b': { className: 'AESGCMCipherBinding' },
  f9b16fd253161560: { className: 'ChaChaPolyCipherBinding' },
};
export const encryptFingerprint = sourceFingerprint;

/** Holds any channel-data packet (32 KiB of data + headers, padding, tag); ssh2's own packet limit. */
const BLOCK_BYTES = 35000;
/** Free blocks kept per thread (≈ 2.2 MiB); more in flight than this are allocated and dropped. */
const MAX_FREE_BLOCKS = 64;

export const outboundPoolStats = { packets: 0, allocated: 0, reused: 0, released: 0 };
const pool = new BlockPool(BLOCK_BYTES, MAX_FREE_BLOCKS, outboundPoolStats);

function takePacket(size: number): Buffer {
  // Packets under half a block (window adjusts, requests, small data) get an exact-size buffer
  // as before: the SSH socket gate counts bytes, so a full block each would multiply what it holds.
  if (!pool.fits(size)) return Buffer.allocUnsafe(size);
  outboundPoolStats.packets += 1;
  return pool.take(size);
}

/** Is this a packet in a pooled block that has not been written yet? */
export function isPooledPacket(view: Uint8Array): boolean {
  return pool.holds(view);
}

export interface OutboundPacketPool {
  /** The allocator for this cipher's packets: pooled for the classes above, null for any other. */
  packetBuffer(cipher: object): ((size: number) => Buffer) | null;
}

const knownByPrototype = new WeakMap<object, { className: string } | null>();

/**
 * Wraps the SSH socket's write() so that a pooled packet goes back to the pool once written.
 * Call before any pooled packet can be sent (right after `client.connect()`). Null (nothing
 * changed) when the socket is not a plain net.Socket.
 */
export function installOutboundPacketPool(socket: net.Socket): OutboundPacketPool | null {
  if (Object.getPrototypeOf(socket) !== net.Socket.prototype) return null;
  const write = socket.write;
  socket.write = function (this: net.Socket, chunk: unknown, ...rest: unknown[]): boolean {
    // claimed at its (only) write: a second write of the same packet would not be pooled
    const block = rest.length === 0 && chunk instanceof Uint8Array ? pool.claim(chunk) : undefined;
    if (!block) return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    return (write as (...a: unknown[]) => boolean).call(this, chunk, (err?: Error | null) => {
      if (!err) pool.recycle(block);
    });
  } as net.Socket['write'];
  return {
    packetBuffer: (cipher) => (knownMethod(cipher, 'encrypt', KNOWN_ENCRYPT, knownByPrototype) ? takePacket : null),
  };
}
