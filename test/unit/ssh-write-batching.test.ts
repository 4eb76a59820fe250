// Write batching on the SSH socket: writes of one event-loop turn leave in one writev, and the
// backpressure signals SshSocketGate relies on (writableLength, write() → false, 'drain') are
// unchanged.
import { afterEach, describe, expect, it } from 'vitest';
import { installWriteBatching, serverSendsNoDelay } from '../../src/net/ssh-write-batching.js';
import { SshSocketGate } from '../../src/net/ssh-socket-gate.js';
import { loopbackSocketPair } from '../helpers/socket-pair.js';

const cleanups: Array<() => void> = [];
afterEach(() => { while (cleanups.length) cleanups.pop()!(); });

const socketPair = () => loopbackSocketPair(cleanups);

describe('SSH socket write batching', () => {
  it('corks the socket for the rest of the turn and sends everything, in order, once uncorked', async () => {
    const { client, server } = await socketPair();
    const batching = installWriteBatching(client);
    const received: Buffer[] = [];
    server.on('data', (d: Buffer) => received.push(d));
    for (let i = 0; i < 10; i++) client.write(Buffer.from(`packet-${i};`));
    expect(client.writableCorked).toBe(1);
    expect(client.writableLength).toBe(10 * 9); // corked bytes still count for the gate
    await new Promise((r) => setImmediate(r));
    expect(client.writableCorked).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(Buffer.concat(received).toString()).toBe(Array.from({ length: 10 }, (_, i) => `packet-${i};`).join(''));
    expect(batching.stats).toEqual({ writes: 10, batches: 1 });
  });

  it('keeps backpressure: write() returns false above the high-water mark and drain wakes the gate', async () => {
    const { client, server } = await socketPair();
    installWriteBatching(client);
    server.pause();
    const gate = new SshSocketGate(client, 16 * 1024);
    const chunk = Buffer.alloc(32 * 1024);
    let ok = true;
    let n = 0;
    while (ok && n < 10_000) { ok = client.write(chunk); n++; }
    expect(ok).toBe(false);
    expect(gate.overLimit).toBe(true);
    const woke = new Promise<void>((resolve) => gate.waitForDrain(resolve));
    server.resume();
    await woke;
    expect(client.writableLength).toBe(0);
  });

  it('uninstall restores the socket’s own write()', async () => {
    const { client } = await socketPair();
    const own = client.write;
    const batching = installWriteBatching(client);
    expect(client.write).not.toBe(own);
    client.write('x');
    batching.uninstall();
    expect(client.write).toBe(own);
    expect(client.writableCorked).toBe(0);
  });

  it('a socket destroyed while corked does not throw on the deferred flush', async () => {
    const { client } = await socketPair();
    installWriteBatching(client);
    client.write('x');
    client.destroy();
    await new Promise((r) => setImmediate(r));
    expect(client.destroyed).toBe(true);
  });

  it('does nothing while disabled, and batches once enabled', async () => {
    const { client } = await socketPair();
    const batching = installWriteBatching(client, { enabled: false });
    client.write('a');
    expect(client.writableCorked).toBe(0);
    batching.enable();
    client.write('b');
    expect(client.writableCorked).toBe(1);
    await new Promise((r) => setImmediate(r));
    expect(client.writableCorked).toBe(0);
    expect(batching.stats).toEqual({ writes: 1, batches: 1 });
  });

  it('knows which servers send with TCP_NODELAY from the start', () => {
    expect(serverSendsNoDelay('OpenSSH_9.2p1 Debian-2+deb12u10')).toBe(false);
    expect(serverSendsNoDelay('OpenSSH_10.0')).toBe(false);
    expect(serverSendsNoDelay('OpenSSH_10.1')).toBe(true);
    expect(serverSendsNoDelay('OpenSSH_11.0p1')).toBe(true);
    expect(serverSendsNoDelay('ssh-edge-agent-gateway_0.1.0')).toBe(true);
    expect(serverSendsNoDelay('dropbear_2022.83')).toBeNull();
  });
});
