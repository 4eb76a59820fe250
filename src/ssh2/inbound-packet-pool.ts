// Inbound packets into reused buffers. On a bulk upload (data from the SSH host into the agent)
// ssh2 1.17 costs one fresh ArrayBuffer per socket read (64 KiB, Node's own) plus one per
// packet that straddles two reads (a 32 KiB copy). V8 frees them only when a scavenge runs for
// "external memory pressure", every ~25 MB: peak RSS rose by ≈ 42 MB over idle during a 1 GiB
// transfer, in the main thread and in a worker alike (bench `rss-rise-bulk-*`, and a plain
// socket-to-socket copy in Node shows the same; docs/performance.md). With reads into one static buffer per
// thread (ssh-read-buffer.ts) and every packet decrypted into a pooled block that the channel
// pipe hands back once the target has taken the bytes, the same transfer allocates next to
// nothing.
//
// What this file changes, per connection, in ssh2 internals (here only):
//   - `client._protocol._decipher` (the inbound decipher; replaced at every key exchange) becomes
//     an accessor on the connection's own Protocol object, so each decipher gets, as an own
//     property, either
//       * for AESGCMDecipherBinding / ChaChaPolyDecipherBinding whose `decrypt` source has the
//         fingerprint below: our `decrypt`, the same state machine (same fields, so kex.js's
//         `inSeqno` / `_onPayload` keep working, same length checks, the same native
//         AEAD decrypt-and-verify call) except that every packet is copied into a pooled block
//         instead of being decrypted in place inside the read buffer or a fresh allocation;
//       * for any other decipher (NullDecipher during the handshake, the non-binding classes):
//         ssh2's own `decrypt`, fed a copy of the bytes when they sit in a reused read buffer
//         (they may keep views of their input).
//   - `readSafe()` tells the socket reader whether a view of a reused buffer may be handed to
//     ssh2 now: only once a decipher we patched is installed (before it, parseHeader keeps a view
//     of an incomplete ident line).
// A block goes back to the pool only through `releaseInboundPayload(view)`, called by the one
// consumer that knows the view is no longer referenced (channel-pipe.ts, from the target write's
// callback). Views nobody releases are garbage-collected as before.
// test/unit/ssh2-inbound-packet-pool.test.ts fails when ssh2 changes what this relies on.
import type { Client } from 'ssh2';
import { BlockPool } from '../net/block-pool.js';
import { knownMethod, sourceFingerprint, watchProtocolField } from './hook-kit.js';

type DecryptFn = (this: DecipherState, data: Uint8Array, p: number, dataLen: number) => number | undefined;

interface DecipherState {
  inSeqno: number;
  _onPayload(payload: Buffer): unknown;
  _instance: { decrypt(...args: unknown[]): void; decryptLen?(len: Buffer, seqno: number): number };
  _len: number;
  _packet: Buffer | null;
  _pktLen: number;
  /** Tag/MAC bytes read so far (our own field; ssh2's `_tagPos`/`_macPos` stay 0). */
  _trailerPos: number;
  // AES-GCM
  _lenBytes: number;
  _tag: Buffer;
  // chacha20-poly1305
  _lenBuf: Buffer;
  _lenPos: number;
  _mac: Buffer;
}

/** ssh2's MAX_PACKET_SIZE (crypto.js): no packet is longer, so one block holds any packet. */
const BLOCK_BYTES = 35000;
/**
 * Packets under half a block (window adjusts, requests, small data) get an exact-size buffer
 * from Node's allocator (BlockPool.fits): a 35 KB block for each would be garbage most of the
 * time (only channel data is ever released), e.g. +35 MB of it per 1 GiB download in window
 * adjusts alone, and small data packets queued for a slow target would hold a block each while
 * the channel window counts only their bytes.
 */
/**
 * Free blocks kept per thread (≈ 4.5 MiB); more in flight than this are allocated and dropped.
 * One busy channel holds up to ≈ 130 (its 2 MiB window, the channel's 2 MiB readable buffer while
 * the target is slow, the target's queue): with 64 a quarter of a 1 GiB upload's packets got a
 * fresh block and the peak RSS rose by ≈ 30 MB (bench/results/2026-12-02-download-data-path.md).
 */
const MAX_FREE_BLOCKS = 128;

export const decryptFingerprint = sourceFingerprint;

export const inboundPoolStats = { packets: 0, allocated: 0, reused: 0, released: 0 };
const pool = new BlockPool(BLOCK_BYTES, MAX_FREE_BLOCKS, inboundPoolStats);
const takeBlock = (len: number): Buffer => pool.take(len);

/** Is this a view of a block of the pool that has not been released? */
export function isPooledPayload(view: Uint8Array): boolean {
  return pool.holds(view);
}

/**
 * Gives the block a payload view lives in back to the pool. Only for a caller that holds the
 * last reference to every view of that packet (e.g. a target write has completed); a second
 * call, or a view not from the pool, does nothing.
 */
export function releaseInboundPayload(view: Uint8Array): void {
  pool.release(view);
}

function emit(self: DecipherState, p: number): number | undefined {
  const packet = self._packet!;
  if (packet[0]! >= packet.length) throw new Error('Bad padding length'); // ssh2: a RangeError here
  const payload = packet.subarray(1, packet.length - packet[0]!);
  self.inSeqno = (self.inSeqno + 1) >>> 0;
  self._len = 0;
  self._packet = null;
  self._pktLen = 0;
  inboundPoolStats.packets += 1;
  const ret = self._onPayload(payload);
  if (ret !== undefined) return ret === false ? p : (ret as number);
  return undefined;
}

/**
 * ssh2's binding decrypt() loop — packet length, body, 16-byte tag/MAC, verify-and-decrypt in
 * place, payload — with the body copied into a pooled block. `readLength` consumes length bytes
 * (its own state) and returns the new p, or -1 when the chunk ends first; `verify` decrypts the
 * packet (throwing when the tag/MAC does not verify) and resets the length state.
 */
function pooledDecryptLoop(readLength: (self: DecipherState, data: Uint8Array, p: number, dataLen: number) => number, trailerOf: (self: DecipherState) => Buffer, verify: (self: DecipherState) => void): DecryptFn {
  return function (data, p, dataLen) {
    while (p < dataLen) {
      p = readLength(this, data, p, dataLen);
      if (p < 0) return undefined;
      if (this._pktLen < this._len) {
        if (p >= dataLen) return undefined;
        const nb = Math.min(this._len - this._pktLen, dataLen - p);
        if (!this._packet) this._packet = pool.fits(this._len) ? takeBlock(this._len) : Buffer.allocUnsafe(this._len);
        this._packet.set(new Uint8Array(data.buffer, data.byteOffset + p, nb), this._pktLen);
        p += nb;
        this._pktLen += nb;
        if (this._pktLen < this._len || p >= dataLen) return undefined;
      }
      const trailer = trailerOf(this);
      this._trailerPos |= 0;
      const nb = Math.min(16 - this._trailerPos, dataLen - p);
      trailer.set(new Uint8Array(data.buffer, data.byteOffset + p, nb), this._trailerPos);
      p += nb;
      this._trailerPos += nb;
      if (this._trailerPos < 16) return undefined;
      verify(this);
      this._trailerPos = 0;
      const ret = emit(this, p);
      if (ret !== undefined) return ret;
    }
    return undefined;
  };
}

/** AESGCMDecipherBinding.decrypt: plain 4-byte length (AAD), 16-byte tag. */
const aesGcmDecrypt = pooledDecryptLoop((self, data, p, dataLen) => {
  if (self._lenBytes >= 4) return p;
  let nb = Math.min(4 - self._lenBytes, dataLen - p);
  self._lenBytes += nb;
  while (nb--) self._len = (self._len << 8) + data[p++]!;
  if (self._lenBytes < 4) return -1;
  if (self._len + 20 > BLOCK_BYTES || self._len < 16 || (self._len & 15) !== 0) throw new Error(`Bad packet length: ${self._len}`);
  return p;
}, (self) => self._tag, (self) => {
  self._instance.decrypt(self._packet, self._len, self._tag);
  self._lenBytes = 0;
});

/** ChaChaPolyDecipherBinding.decrypt: encrypted 4-byte length, 16-byte Poly1305 MAC. */
const chachaPolyDecrypt = pooledDecryptLoop((self, data, p, dataLen) => {
  if (self._lenPos >= 4) return p;
  let nb = Math.min(4 - self._lenPos, dataLen - p);
  while (nb--) self._lenBuf[self._lenPos++] = data[p++]!;
  if (self._lenPos < 4) return -1;
  self._len = self._instance.decryptLen!(self._lenBuf, self.inSeqno);
  if (self._len > BLOCK_BYTES || self._len < 8 || (self._len & 7) !== 0) throw new Error('Bad packet length');
  return p >= dataLen ? -1 : p;
}, (self) => self._mac, (self) => {
  self._instance.decrypt(self._packet, self._mac, self.inSeqno);
  self._lenPos = 0;
});

/** ssh2 1.17 decipher classes we re-implement, keyed by the fingerprint of their decrypt(). */
export const KNOWN_DECRYPT: Record<string, { className: string; decrypt: DecryptFn }> = {
  a160348ee7e31b5a: { className: 'AESGCMDecipherBinding', decrypt: aesGcmDecrypt },
  f4608dfd3809b9db: { className: 'ChaChaPolyDecipherBinding', decrypt: chachaPolyDecrypt },
};

/** ArrayBuffers that are reused for the next socket read (ssh-read-buffer.ts registers them). */
const reusedReadBuffers = new WeakSet<ArrayBufferLike>();
export function markReusedReadBuffer(buf: Uint8Array): void {
  reusedReadBuffers.add(buf.buffer);
}

/** ssh2's own decrypt, given a copy when the bytes are in a reused read buffer. */
function copyingDecrypt(original: DecryptFn): DecryptFn {
  return function (data, p, dataLen) {
    if (!reusedReadBuffers.has(data.buffer)) return original.call(this, data, p, dataLen);
    const copy = Buffer.from(new Uint8Array(data.buffer, data.byteOffset + p, dataLen - p));
    const ret = original.call(this, copy, 0, copy.length);
    return ret === undefined ? undefined : p + ret;
  };
}

const knownByPrototype = new WeakMap<object, { className: string; decrypt: DecryptFn } | null>();

export interface InboundPacketPool {
  /** May ssh2 be handed a view of a reused read buffer now? */
  readSafe(): boolean;
  /** Is the current decipher one whose packets go into pooled blocks? */
  pooling(): boolean;
}

/**
 * Installs the pool on this connection's inbound deciphers (the current one and those of later
 * key exchanges). Call right after `client.connect()`. Returns null (and changes nothing) when
 * ssh2's internals are not what this file was written against.
 */
export function installInboundPacketPool(client: Client): InboundPacketPool | null {
  const patched = new WeakSet<object>();
  const pooled = new WeakSet<object>();
  const field = watchProtocolField(client, '_decipher', (decipher) => {
    if (!decipher || typeof decipher !== 'object' || patched.has(decipher)) return;
    const original = (decipher as { decrypt?: DecryptFn }).decrypt;
    if (typeof original !== 'function') return;
    const fn = knownMethod(decipher, 'decrypt', KNOWN_DECRYPT, knownByPrototype)?.decrypt;
    (decipher as { decrypt: DecryptFn }).decrypt = fn ?? copyingDecrypt(original);
    if (fn) pooled.add(decipher);
    patched.add(decipher);
  });
  if (!field) return null;
  return {
    readSafe: () => { const d = field.current(); return d !== undefined && patched.has(d); },
    pooling: () => { const d = field.current(); return d !== undefined && pooled.has(d); },
  };
}
