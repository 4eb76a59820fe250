// The gateway's shutdown drain is event-driven: close(drainMs) ends as soon as the last
// forwarded connection closes, and at the drain deadline otherwise — on the gateway's clock,
// here a manual one, so neither case waits on wall time.
import net from 'node:net';
import type ssh2 from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { sshLogin, startTestGateway, type TestGateway } from '../helpers/gateway-fixtures.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A gateway on a manual clock with one forwarded connection open through a raw ssh2 agent. */
async function gatewayWithOpenChannel() {
  const clock = new ManualClock();
  const gw: TestGateway = await startTestGateway({ clock });
  cleanups.push(() => gw.close());
  const key = gw.newKey('device');
  gw.writeAuthorizedKeys([key.publicLine]);
  const agent = await sshLogin(gw.port, gw.fingerprint, { username: 'device', privateKey: key.privateKey });
  agent.on('error', () => {});
  cleanups.push(() => agent.end());
  const channels: ssh2.ClientChannel[] = [];
  agent.on('tcp connection', (_info, accept) => channels.push(accept()));
  const port = await new Promise<number>((resolve, reject) => agent.forwardIn('127.0.0.1', 0, (err, p) => (err ? reject(err) : resolve(p))));
  const outside = net.connect({ host: '127.0.0.1', port });
  outside.on('error', () => {});
  cleanups.push(() => outside.destroy());
  await waitUntil(() => channels.length === 1 && gw.gateway.status().totals.channels === 1, 5_000, 'the forwarded channel');
  return { gw, clock, channel: channels[0]! };
}

/** Lets pending I/O and promise callbacks run (no timers): a drain that polls would still be waiting. */
async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

describe('gateway drain', () => {
  it('ends when the last forwarded connection closes, with the clock standing still', async () => {
    const { gw, clock, channel } = await gatewayWithOpenChannel();
    let closed = false;
    const closing = gw.gateway.close(60_000).then(() => { closed = true; });
    await settle();
    expect(closed).toBe(false);
    channel.end(); // the agent ends the forwarded connection
    await closing;
    expect(clock.now()).toBe(0);
  });

  it('ends at the drain deadline when a connection stays open', async () => {
    const { gw, clock } = await gatewayWithOpenChannel();
    let closed = false;
    const closing = gw.gateway.close(60_000).then(() => { closed = true; });
    await settle();
    clock.advance(59_999);
    await settle();
    expect(closed).toBe(false);
    clock.advance(1);
    // Only the clients' disconnects are left (I/O, milliseconds — but 15 s of wall time allowed,
    // for a loaded 2-core machine); a drain timed by wall time would still have a minute to go.
    await Promise.race([closing, new Promise((r) => setTimeout(r, 15_000))]);
    expect(closed).toBe(true);
    expect(gw.logged(/letting 1 open connections finish \(up to 60000 ms\)/)).toHaveLength(1);
  });

  it('destroy() during a drain ends it at once', async () => {
    const { gw } = await gatewayWithOpenChannel();
    const closing = gw.gateway.close(60_000);
    await settle();
    await gw.gateway.destroy();
    await closing;
  });
});
