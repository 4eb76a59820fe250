// Target writes corked for the rest of the turn (src/net/turn-cork.ts): every socket corked in a
// turn is uncorked once in that turn's check phase, bytes arrive complete and in order, and a
// socket ended or destroyed while corked is harmless.
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { corkForTurn } from '../../src/net/turn-cork.js';
import { loopbackSocketPair } from '../helpers/socket-pair.js';

const cleanups: Array<() => void> = [];
afterEach(() => { while (cleanups.length) cleanups.pop()!(); });

const socketPair = () => loopbackSocketPair(cleanups);

const text = (prefix: string) => Array.from({ length: 10 }, (_, i) => `${prefix}-${i};`);

describe('corkForTurn', () => {
  it('corks each socket once per turn, uncorks all of them at the end of the turn, bytes in order', async () => {
    const pairs = await Promise.all([socketPair(), socketPair()]);
    const received = pairs.map(({ server }) => { const r: Buffer[] = []; server.on('data', (d: Buffer) => r.push(d)); return r; });
    for (const [i, { client }] of pairs.entries()) {
      for (const piece of text(`s${i}`)) {
        corkForTurn(client);
        client.write(piece);
      }
    }
    for (const { client } of pairs) expect(client.writableCorked).toBe(1);
    await new Promise((r) => setImmediate(r));
    for (const { client } of pairs) expect(client.writableCorked).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(received.map((r) => Buffer.concat(r).toString())).toEqual([text('s0').join(''), text('s1').join('')]);

    // the next turn corks again
    corkForTurn(pairs[0]!.client);
    expect(pairs[0]!.client.writableCorked).toBe(1);
    await new Promise((r) => setImmediate(r));
    expect(pairs[0]!.client.writableCorked).toBe(0);
  });

  it('a socket ended or destroyed while corked does not throw on the flush, and an ended one is not corked again', async () => {
    const a = await socketPair();
    const b = await socketPair();
    corkForTurn(a.client);
    a.client.write('last');
    a.client.end();
    corkForTurn(b.client);
    b.client.destroy();
    await new Promise((r) => setImmediate(r));
    corkForTurn(a.client);
    expect(a.client.writableCorked).toBe(0);
    const [data] = (await once(a.server, 'data')) as [Buffer];
    expect(data.toString()).toBe('last');
  });
});
