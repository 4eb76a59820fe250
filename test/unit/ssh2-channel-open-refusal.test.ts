// The channel-open refusal hook (src/ssh2/channel-open-refusal.ts) installed on a live
// in-process ssh2 server connection: the client reads the refusal reason. Fails if an ssh2
// upgrade renames the server's CHANNEL_OPEN handler or channelOpenFail(), and tells us when
// upstream starts sending a reason of its own.
import ssh2 from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { installChannelOpenPolicy, type ChannelOpenRequest } from '../../src/ssh2/channel-open-refusal.js';
import { connectSsh2Pair, type Ssh2Pair } from '../helpers/ssh2-pair.js';

const pairs: Ssh2Pair[] = [];
afterEach(() => { for (const p of pairs.splice(0)) p.close(); });

function openDirect(client: ssh2.Client, port: number): Promise<Error & { reason?: number } | ssh2.ClientChannel> {
  return new Promise((resolve) => client.forwardOut('127.0.0.1', 40000, '127.0.0.1', port, (err, ch) => resolve(err ?? ch)));
}

describe('ssh2 channel-open refusal hook', () => {
  it('plain ssh2 refuses a channel nobody takes without any reason (upstream behaviour)', async () => {
    const pair = await connectSsh2Pair();
    pairs.push(pair);
    const result = await openDirect(pair.client, 1);
    expect(result).toBeInstanceOf(Error);
    expect((result as Error).message).toBe('(SSH) Channel open failure: ');
  });

  it('with the hook: refused with "administratively prohibited" and the policy\'s reason; allowed ones reach ssh2', async () => {
    const seen: ChannelOpenRequest[] = [];
    let installed = false;
    const pair = await connectSsh2Pair({
      onConnection: (conn) => {
        installed = installChannelOpenPolicy(conn, (req) => { seen.push(req); return req.data.destPort === 1 ? 'port 1 is not in permitopen' : undefined; });
      },
    });
    pairs.push(pair);
    expect(installed).toBe(true);
    pair.server.on('tcpip', (accept) => accept().end('welcome'));

    const refused = await openDirect(pair.client, 1);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toBe('(SSH) Channel open failure: port 1 is not in permitopen');
    expect((refused as { reason?: number }).reason).toBe(1); // SSH_OPEN_ADMINISTRATIVELY_PROHIBITED

    const allowed = await openDirect(pair.client, 2);
    expect(allowed).not.toBeInstanceOf(Error);
    const text = await new Promise<string>((resolve) => { let t = ''; (allowed as ssh2.ClientChannel).on('data', (d: Buffer) => { t += d; }).on('end', () => resolve(t)); });
    expect(text).toBe('welcome');
    expect(seen.map((r) => [r.type, r.data.destPort])).toEqual([['direct-tcpip', 1], ['direct-tcpip', 2]]);
  });
});
