// The half-close hook (src/ssh2/server-channel-half-close.ts) on a live in-process ssh2 server:
// after the server's EOF on a direct-tcpip channel, the client can still send its answer.
// Fails if an ssh2 upgrade changes how a server-side channel decides to close after EOF, and
// tells us when upstream stops closing on its own.
import ssh2 from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { enableHalfClose } from '../../src/ssh2/server-channel-half-close.js';
import { connectSsh2Pair, type Ssh2Pair } from '../helpers/ssh2-pair.js';

const pairs: Ssh2Pair[] = [];
afterEach(() => { for (const p of pairs.splice(0)) p.close(); });

/** Server sends "request" and EOF; the client answers after that EOF. Returns what the server got. */
async function answerAfterServerEof(halfClose: boolean): Promise<{ received: string; closedBeforeAnswer: boolean }> {
  const pair = await connectSsh2Pair();
  pairs.push(pair);
  let closedBeforeAnswer = false;
  const server = new Promise<string>((resolve) => {
    pair.server.on('tcpip', (accept) => {
      const ch = accept();
      if (halfClose) enableHalfClose(ch);
      let received = '';
      ch.on('data', (d: Buffer) => { received += d; });
      ch.on('end', () => { ch.close(); resolve(received); });
      ch.on('close', () => resolve(received));
      ch.end('request');
    });
  });
  const channel = await new Promise<ssh2.ClientChannel>((resolve, reject) => pair.client.forwardOut('127.0.0.1', 40000, '127.0.0.1', 1, (err, ch) => (err ? reject(err) : resolve(ch))));
  channel.on('close', () => { closedBeforeAnswer = true; });
  channel.resume();
  await new Promise((resolve) => channel.once('end', resolve));
  await new Promise((resolve) => setImmediate(resolve)); // let a CLOSE right behind the EOF arrive
  const wasClosed = closedBeforeAnswer;
  if (!wasClosed) channel.end('answer');
  return { received: await server, closedBeforeAnswer: wasClosed };
}

describe('ssh2 server channel half-close hook', () => {
  it('plain ssh2: the server closes right after its EOF, so the answer is lost (upstream behaviour)', async () => {
    const result = await answerAfterServerEof(false);
    expect(result.received).toBe('');
  });

  it('with the hook: the channel stays open after the server\'s EOF and the answer arrives', async () => {
    const result = await answerAfterServerEof(true);
    expect(result).toEqual({ received: 'answer', closedBeforeAnswer: false });
  });
});
