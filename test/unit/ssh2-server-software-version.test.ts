// The server-version accessor (src/ssh2/server-software-version.ts) on live in-process ssh2
// connections: it reads what the server put in its identification line, and nothing when the
// server closed before sending one (sshd past MaxStartups). Fails if an ssh2 upgrade stops
// keeping the version in Client._remoteVer.
import net from 'node:net';
import ssh2 from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { serverSoftwareVersion } from '../../src/ssh2/server-software-version.js';
import { connectSsh2Pair, type Ssh2Pair } from '../helpers/ssh2-pair.js';

const pairs: Ssh2Pair[] = [];
afterEach(() => { for (const p of pairs.splice(0)) p.close(); });

describe('ssh2 server software version', () => {
  it('is the software part of the server\'s identification line, known by the handshake', async () => {
    let atHandshake: string | undefined;
    const pair = await connectSsh2Pair({
      server: { ident: 'edge-test_1.2' },
      afterConnect: (client) => {
        expect(serverSoftwareVersion(client)).toBeUndefined();
        client.once('handshake', () => { atHandshake = serverSoftwareVersion(client); });
      },
    });
    pairs.push(pair);
    expect(atHandshake).toBe('edge-test_1.2');
    expect(serverSoftwareVersion(pair.client)).toBe('edge-test_1.2');
  });

  it('is undefined when the server closes before identifying itself', async () => {
    const tcp = net.createServer((sock) => sock.destroy());
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const client = new ssh2.Client();
    client.on('error', () => {});
    const closed = new Promise<string | undefined>((resolve) => client.on('close', () => resolve(serverSoftwareVersion(client))));
    client.connect({ host: '127.0.0.1', port: (tcp.address() as net.AddressInfo).port, username: 'x', hostVerifier: () => true });
    expect(await closed).toBeUndefined();
    tcp.close();
  });
});
