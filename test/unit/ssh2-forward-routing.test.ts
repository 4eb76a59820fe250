// The forward routing hook (src/ssh2/forward-routing.ts, ssh2 #377) on a live in-process ssh2
// client and server. The server reports a forwarded channel's address differently from how the
// client asked for it (asked "localhost", told "127.0.0.1", as OpenSSH does). Fails if an ssh2
// upgrade renames Client._forwarding or changes how it looks channels up, and tells us when
// upstream fixes #377 (plain ssh2 then stops rejecting the channel).
import ssh2, { type Connection } from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { installForwardRouting } from '../../src/ssh2/forward-routing.js';
import { connectSsh2Pair, type Ssh2Pair } from '../helpers/ssh2-pair.js';

const PORT = 5555;
const pairs: Ssh2Pair[] = [];
afterEach(() => { for (const p of pairs.splice(0)) p.close(); });

/** Asks for `localhost:0`; the server grants PORT and then opens a channel "for 127.0.0.1:PORT". */
async function forwardReportedAsLoopback(pair: Ssh2Pair): Promise<{ openError: Error | undefined; routed: ssh2.TcpConnectionDetails | undefined; echoed: string }> {
  pair.server.on('request', (accept, _reject, name) => { if (name === 'tcpip-forward') accept?.(PORT); });
  const bound = await new Promise<number>((resolve, reject) => pair.client.forwardIn('localhost', 0, (err, port) => (err ? reject(err) : resolve(port))));
  expect(bound).toBe(PORT);
  let routed: ssh2.TcpConnectionDetails | undefined;
  pair.client.on('tcp connection', (info, accept) => {
    routed = info;
    const ch = accept();
    ch.on('data', (d: Buffer) => ch.end(`echo:${d}`));
  });
  return new Promise((resolve) => {
    (pair.server as Connection).forwardOut('127.0.0.1', PORT, '127.0.0.1', 40000, (err, channel) => {
      if (err) return resolve({ openError: err, routed, echoed: '' });
      let echoed = '';
      channel.on('data', (d: Buffer) => { echoed += d.toString(); });
      channel.on('close', () => resolve({ openError: undefined, routed, echoed }));
      channel.end('hi');
    });
  });
}

describe('ssh2 forward routing hook (#377)', () => {
  it('plain ssh2 rejects a channel reported as 127.0.0.1 for a "localhost" forward (upstream #377 still open)', async () => {
    const pair = await connectSsh2Pair();
    pairs.push(pair);
    const result = await forwardReportedAsLoopback(pair);
    expect(result.openError).toBeInstanceOf(Error);
    expect(result.routed).toBeUndefined();
  });

  it('with the hook, the channel is routed by port and carries bytes', async () => {
    const lookups: string[] = [];
    const pair = await connectSsh2Pair({
      afterConnect: (client) => installForwardRouting(client, (ip, port) => { lookups.push(`${ip}:${port}`); return port === PORT ? PORT : undefined; }),
    });
    pairs.push(pair);
    const result = await forwardReportedAsLoopback(pair);
    expect(result.openError).toBeUndefined();
    expect(result.routed).toMatchObject({ destIP: '127.0.0.1', destPort: PORT });
    expect(result.echoed).toBe('echo:hi');
    expect(lookups).toContain(`127.0.0.1:${PORT}`);
  });

  it('with the hook, a port the router does not know is still rejected', async () => {
    const pair = await connectSsh2Pair({ afterConnect: (client) => installForwardRouting(client, () => undefined) });
    pairs.push(pair);
    const result = await forwardReportedAsLoopback(pair);
    expect(result.openError).toBeInstanceOf(Error);
    expect(result.routed).toBeUndefined();
  });

  it('refuses to install on a client that has not connected (no table to replace)', () => {
    expect(() => installForwardRouting(new ssh2.Client(), () => undefined)).toThrow(/Client\._forwarding is missing/);
  });
});
