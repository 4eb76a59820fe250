// channelCopiesNow (src/ssh2/channel-sync-write.ts) says when an ssh2 channel's write() copies
// a chunk into SSH packets before it returns, so that the chunk may be a view of a buffer that
// is reused right after (the target read buffer). Checked on a live in-process channel: what it
// promises holds (the bytes were copied: overwriting the source afterwards changes nothing the
// peer receives), it says no whenever ssh2 would keep the chunk (window too small, a write in
// flight, corked, ended), and the test fails when an ssh2 upgrade changes the code it relies on.
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import ssh2 from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { connectSsh2Pair, type Ssh2Pair } from '../helpers/ssh2-pair.js';
import { channelCopiesNow, KNOWN_CHANNEL_DATA, KNOWN_CHANNEL_WRITE, syncWriteFingerprint } from '../../src/ssh2/channel-sync-write.js';

const require = createRequire(import.meta.url);
const pairs: Ssh2Pair[] = [];
afterEach(() => { for (const p of pairs.splice(0)) p.close(); });

type Outgoing = { outgoing: { window: number; state: string } };

async function openChannel(onServerData?: (d: Buffer) => void) {
  const pair = await connectSsh2Pair();
  pairs.push(pair);
  pair.server.on('tcpip', (accept) => { const ch = accept(); ch.on('data', (d: Buffer) => onServerData?.(Buffer.from(d))); });
  const channel = await new Promise<ssh2.ClientChannel>((resolve, reject) => pair.client.forwardOut('127.0.0.1', 1, '127.0.0.1', 2, (err, ch) => (err ? reject(err) : resolve(ch))));
  return { pair, channel };
}

describe('ssh2 internals used by channelCopiesNow', () => {
  it('a chunk it allows is copied before write() returns: overwriting it afterwards does not change what the peer receives', async () => {
    const got: Buffer[] = [];
    const { channel } = await openChannel((d) => got.push(d));
    const sent: Buffer[] = [];
    const reused = Buffer.alloc(65536);
    for (let i = 0; i < 8; i++) {
      const bytes = randomBytes(65536);
      bytes.copy(reused);
      expect(channelCopiesNow(channel, reused.length), `write ${i}`).toBe(true);
      channel.write(reused);
      sent.push(bytes);
      reused.fill(0xee); // what the next read would do to a reused buffer
      await new Promise((r) => setImmediate(r));
    }
    const all = Buffer.concat(sent);
    while (Buffer.concat(got).length < all.length) await new Promise((r) => setTimeout(r, 10));
    expect(Buffer.concat(got).equals(all)).toBe(true);
  });

  it('says no whenever ssh2 would keep a reference: window smaller than the chunk, a write in flight, corked, ended', async () => {
    const { channel } = await openChannel();
    const out = (channel as unknown as Outgoing).outgoing;
    expect(channelCopiesNow(channel, out.window)).toBe(true);
    expect(channelCopiesNow(channel, out.window + 1)).toBe(false);
    channel.cork();
    expect(channelCopiesNow(channel, 10)).toBe(false);
    channel.uncork();
    // shut the window: the next write stays with ssh2 (its `_chunk`), in flight
    const window = out.window;
    out.window = 0;
    channel.write(Buffer.alloc(100));
    expect(channel.writableLength).toBe(100);
    expect(channelCopiesNow(channel, 10)).toBe(false);
    out.window = window;
    channel.end();
    expect(channelCopiesNow(channel, 10)).toBe(false);
  });

  it('says no for a stream that is not an ssh2 channel', async () => {
    const { PassThrough } = await import('node:stream');
    expect(channelCopiesNow(new PassThrough(), 1)).toBe(false);
  });

  it('Channel._write and Protocol.channelData are the sources the check was written against', () => {
    const { Channel } = require('ssh2/lib/Channel.js') as { Channel: { prototype: { _write: () => void } } };
    const Protocol = require('ssh2/lib/protocol/Protocol.js') as { prototype: { channelData: () => void } };
    expect(KNOWN_CHANNEL_WRITE[syncWriteFingerprint(Channel.prototype._write)]?.className, 'Channel._write changed: re-check src/ssh2/channel-sync-write.ts').toBe('Channel');
    expect(KNOWN_CHANNEL_DATA[syncWriteFingerprint(Protocol.prototype.channelData)]?.className, 'Protocol.channelData changed: re-check src/ssh2/channel-sync-write.ts').toBe('Protocol');
  });
});
