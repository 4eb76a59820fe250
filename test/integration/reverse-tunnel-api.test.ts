// The library API (ReverseTunnel) in both seed modes, and channel routing when the SSH host
// reports a channel's address differently from how the forward was requested (ssh2 #377).
import { afterEach, describe, expect, it } from 'vitest';
import { generateEd25519 } from '../../src/gateway/host-key.js';
import { readFileSync } from 'node:fs';
import { ReverseTunnel } from '../../src/reverse-tunnel.js';
import { startSshd } from '../helpers/sshd.js';
import { startTestServer } from '../helpers/ssh2-test-server.js';
import { connectAndCollect, startEchoServer } from '../helpers/tcp-services.js';
import net from 'node:net';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('ReverseTunnel', () => {
  it('target mode: logon, requestForwarding on port 0 returns the real port, cancelForwarding, logoff', async () => {
    const sshd = await startSshd();
    const echo = await startEchoServer();
    cleanups.push(() => sshd.dispose(), () => echo.close());
    const tunnel = new ReverseTunnel({
      host: sshd.host, port: sshd.port, username: sshd.username,
      privateKeyFile: sshd.userKeyPath, hostKeys: { knownHostsFile: sshd.knownHostsPath },
    });
    cleanups.push(() => tunnel.destroy());
    const auth: string[] = [];
    tunnel.on('serverAuthentication', (info) => auth.push(info.fingerprint));
    await tunnel.logon();
    expect(auth).toEqual([sshd.hostKeyFingerprint]);

    const { port } = await tunnel.requestForwarding({ address: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` });
    expect(port).toBeGreaterThan(0);
    expect((await connectAndCollect(port, Buffer.from('hi'))).data.toString()).toBe('hi');

    await tunnel.cancelForwarding('127.0.0.1', port);
    const after = await connectAndCollect(port, Buffer.from('gone?'), { allowError: true });
    expect(after.error).toBeDefined();
    await tunnel.logoff(500);
    expect(tunnel.status().state).toBe('stopped');
  });

  it('event mode: the application accepts a channel, reads its data and answers it; rejected channels never open', async () => {
    const sshd = await startSshd();
    cleanups.push(() => sshd.dispose());
    const tunnel = new ReverseTunnel({
      host: sshd.host, port: sshd.port, username: sshd.username,
      privateKey: readFileSync(sshd.userKeyPath), hostKeys: { fingerprints: [sshd.hostKeyFingerprint] },
    });
    cleanups.push(() => tunnel.destroy());
    await tunnel.logon();
    const { port } = await tunnel.requestForwarding({ address: '127.0.0.1', port: 0 });

    let rejectNext = false;
    const requests: Array<{ origin: string; connected: number }> = [];
    tunnel.on('channelOpenRequest', (req) => {
      requests.push({ origin: req.originAddress, connected: req.connectedPort });
      if (rejectNext) req.reject();
    });
    tunnel.on('channelData', (id, data) => {
      tunnel.sendChannelData(id, Buffer.from(data.toString().toUpperCase()));
    });
    tunnel.on('channelEOF', (id) => tunnel.sendChannelEOF(id));

    const answered = await connectAndCollect(port, Buffer.from('shout this'));
    expect(answered.data.toString()).toBe('SHOUT THIS');
    expect(requests[0]).toMatchObject({ origin: '127.0.0.1', connected: port });

    rejectNext = true;
    const refused = await connectAndCollect(port, Buffer.from('nope'), { allowError: true });
    expect(refused.bytes).toBe(0);
    expect(requests).toHaveLength(2);
    expect(() => tunnel.sendChannelData(9999, 'x')).toThrow(expect.objectContaining({ code: 'EDGE_ERR_UNKNOWN_CHANNEL' }));
    await tunnel.logoff(200);
  });

  it('routes channels the server reports under a different address than requested (ssh2 #377)', async () => {
    const key = generateEd25519();
    // Asked for "localhost", the server reports "127.0.0.1" — stock ssh2 would silently reject.
    const server = await startTestServer({ authorizedKey: key.public, reportAddress: (requested) => (requested === 'localhost' ? '127.0.0.1' : requested) });
    const echo = await startEchoServer();
    cleanups.push(() => server.close(), () => echo.close());
    const tunnel = new ReverseTunnel({
      host: '127.0.0.1', port: server.port, username: 'device', privateKey: key.private,
      hostKeys: { fingerprints: [server.fingerprint] },
    });
    cleanups.push(() => tunnel.destroy());
    // Failed once in a loaded integration run (got '' in 795 ms: the connection closed with no
    // data), not reproduced in 100 runs of this case: the session's log and channel events go
    // with the assertion, so the next failure says whether the channel was refused or cut.
    const seen: string[] = [];
    tunnel.on('log', (level: string, message: string) => seen.push(`${level} ${message}`));
    tunnel.on('channelClosed', (info: { reason: string }) => seen.push(`channel closed: ${info.reason}`));
    await tunnel.logon();
    const { port } = await tunnel.requestForwarding({ address: 'localhost', port: 0, target: `tcp://127.0.0.1:${echo.port}` });
    const r = await connectAndCollect(port, Buffer.from('routed'));
    expect(r.data.toString(), `closed by ${r.closedBy} after ${r.durationMs} ms; session:\n${seen.join('\n')}`).toBe('routed');
  });

  it('an answer the target sends after the client\'s FIN still reaches the client (the in-process server half-closes like sshd)', async () => {
    // ssh2's server-side channel sends CLOSE right after its EOF; the test server used to pass
    // the client's FIN on that way, so any answer still on its way back was dropped (a race the
    // #377 case above lost once under load). A target that answers 200 ms after the FIN makes it
    // certain: with that behaviour the client gets nothing.
    const key = generateEd25519();
    const server = await startTestServer({ authorizedKey: key.public });
    const late = net.createServer({ allowHalfOpen: true }, (sock) => {
      let got = '';
      sock.on('data', (d: Buffer) => { got += d.toString(); });
      sock.on('end', () => setTimeout(() => sock.end(`late:${got}`), 200));
    });
    await new Promise<void>((r) => late.listen(0, '127.0.0.1', r));
    cleanups.push(() => server.close(), () => new Promise((r) => late.close(r)));
    const tunnel = new ReverseTunnel({ host: '127.0.0.1', port: server.port, username: 'device', privateKey: key.private, hostKeys: { fingerprints: [server.fingerprint] } });
    cleanups.push(() => tunnel.destroy());
    await tunnel.logon();
    const { port } = await tunnel.requestForwarding({ address: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${(late.address() as net.AddressInfo).port}` });
    const r = await connectAndCollect(port, Buffer.from('question'));
    expect(r.data.toString()).toBe('late:question');
  });

  it('a bad option is a coded error naming the key, before anything connects', () => {
    expect(() => new ReverseTunnel({ host: '127.0.0.1', username: 'x', password: 'p', hostKeys: { fingerprints: ['nonsense'] } }))
      .toThrow(expect.objectContaining({ code: 'EDGE_ERR_INVALID_CONFIG', message: expect.stringContaining('hostKeys.fingerprints[0]') }));
    expect(() => new ReverseTunnel({ host: '127.0.0.1', port: 70000, username: 'x', password: 'p', hostKeys: { insecureAcceptAny: true } }))
      .toThrow(expect.objectContaining({ code: 'EDGE_ERR_INVALID_CONFIG', message: expect.stringContaining('port') }));
  });

  it('requestForwarding rejects with EDGE_ERR_FORWARD_REFUSED when the port is taken, and the tunnel keeps working', async () => {
    const sshd = await startSshd();
    const echo = await startEchoServer();
    const squatter = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => squatter.once('listening', r));
    cleanups.push(() => sshd.dispose(), () => echo.close(), () => new Promise((r) => squatter.close(r)));
    const tunnel = new ReverseTunnel({ host: sshd.host, port: sshd.port, username: sshd.username, privateKeyFile: sshd.userKeyPath, hostKeys: { knownHostsFile: sshd.knownHostsPath } });
    cleanups.push(() => tunnel.destroy());
    await tunnel.logon();
    const taken = (squatter.address() as net.AddressInfo).port;
    await expect(tunnel.requestForwarding({ address: '127.0.0.1', port: taken, target: `tcp://127.0.0.1:${echo.port}` }))
      .rejects.toMatchObject({ code: 'EDGE_ERR_FORWARD_REFUSED' });
    expect(tunnel.status().forwards).toEqual([]);
    const { port } = await tunnel.requestForwarding({ address: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` });
    expect((await connectAndCollect(port, Buffer.from('ok'))).data.toString()).toBe('ok');
  });
});
