// Gateway pre-authentication limits (sshd's MaxStartups / PerSourceMaxStartups): 2,000 idle TCP
// connections held open from 127.0.0.1 must not lock out an agent connecting from 127.0.0.2.
import net from 'node:net';
import type ssh2 from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { sshLogin, startTestGateway } from '../helpers/gateway-fixtures.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

const FLOOD = 2_000;
const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Opens `count` TCP connections that never send a byte; resolves once each connected or failed. */
async function flood(port: number, count: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  for (let done = 0; done < count; done += 250) {
    await Promise.all(Array.from({ length: Math.min(250, count - done) }, () => new Promise<void>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      sockets.push(s);
      s.on('error', () => resolve());
      s.once('connect', () => resolve());
    })));
  }
  return sockets;
}

/** Logs in from 127.0.0.2 and asks for a forward, retrying like an agent's reconnect loop. */
async function agentFrom127002(port: number, fingerprint: string, privateKey: Buffer, deadlineMs: number): Promise<{ attempts: number; port: number }> {
  const deadline = Date.now() + deadlineMs;
  for (let attempts = 1; ; attempts++) {
    let client: ssh2.Client | undefined;
    try {
      const sock = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
      sock.on('error', () => {});
      client = await sshLogin(port, fingerprint, { username: 'device', privateKey, sock });
      const c = client;
      cleanups.push(() => c.end());
      const bound = await new Promise<number>((resolve, reject) => c.forwardIn('127.0.0.1', 0, (err, p) => (err ? reject(err) : resolve(p))));
      return { attempts, port: bound };
    } catch (err) {
      client?.end();
      if (Date.now() > deadline) throw new Error(`no forward within ${deadlineMs} ms after ${attempts} attempts: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('gateway pre-authentication limits', () => {
  it('2,000 idle connections from 127.0.0.1: at most 10 are held, and an agent from 127.0.0.2 gets its forward within 5 s', async () => {
    const gw = await startTestGateway();
    cleanups.push(() => gw.close());
    const key = gw.newKey('device');
    gw.writeAuthorizedKeys([key.publicLine]);
    expect(gw.gateway.status().limits).toEqual({ maxConnections: 1000, maxStartups: '10:30:100', perSourceMaxStartups: 10, loginGraceTimeoutMs: 20_000 });

    const sockets = await flood(gw.port, FLOOD);
    cleanups.push(() => { for (const s of sockets) s.destroy(); });
    await waitUntil(() => gw.gateway.status().totals.accepted + gw.gateway.status().totals.refused >= FLOOD, 10_000, 'the gateway to see every connection');
    const during = gw.gateway.status();
    expect(during.connections.filter((c) => c.remoteAddress === '127.0.0.1').length).toBeLessThanOrEqual(10);
    expect(during.totals.droppedStartups).toBeGreaterThanOrEqual(FLOOD - 10);
    expect(gw.logged(/connection from 127\.0\.0\.1:\d+ dropped before login: 10 unauthenticated connections from 127\.0\.0\.1 already \(perSourceMaxStartups 10\)/).length).toBeGreaterThanOrEqual(1);
    expect(gw.logs.filter((l) => /dropped before login/.test(l.msg)).length).toBeLessThan(10); // throttled

    const started = Date.now();
    const agent = await agentFrom127002(gw.port, gw.fingerprint, key.privateKey, 5_000);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(agent.port).toBeGreaterThan(1024);
    expect(gw.gateway.status().connections.find((c) => c.authenticated)).toMatchObject({ remoteAddress: '127.0.0.2', user: 'device' });
  });
});
