// The session's reconnect loop runs on the shared Backoff: with an injected manual clock and
// random source, each retry waits exactly the formula's delay (doubling to the cap), nothing
// happens a millisecond before it is due, and a session that stayed up for stableAfterMs (on
// that clock) starts over at retry 1.
// Against ssh2's in-process server (helpers/ssh2-test-server.ts), no wall time spent waiting.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { generateEd25519 } from '../../src/gateway/host-key.js';
import { TunnelSession, type ReconnectAttemptInfo } from '../../src/session/tunnel-session.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { startTestServer } from '../helpers/ssh2-test-server.js';
import { freePort } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Lets pending I/O and promise callbacks run (no timers). */
async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

describe('session reconnect pacing (manual clock)', () => {
  it('retries at 1, 2, 4, 8, 8 s (full jitter at its top), on time to the millisecond; a stable run starts over at retry 1', async () => {
    const key = generateEd25519();
    const server = await startTestServer({ authorizedKey: key.public });
    cleanups.push(() => server.close());
    const port = await freePort(); // nothing listens there yet: every attempt is refused
    const clock = new ManualClock();
    const session = new TunnelSession({
      id: 'pacing', host: '127.0.0.1', port,
      auth: { username: 'device', privateKeys: [{ key: Buffer.from(key.private), source: 'test' }] },
      hostKeys: { fingerprints: [server.fingerprint] },
      reconnect: { mode: 'always', retryIntervalMs: 1_000, maxRetryIntervalMs: 8_000, stableAfterMs: 60_000 },
    }, { backoff: { clock, random: () => 1 } });
    cleanups.push(() => session.destroy());
    const attempts: ReconnectAttemptInfo[] = [];
    session.on('reconnectAttempt', (a) => attempts.push(a));
    session.start();

    for (const [i, expected] of [1_000, 2_000, 4_000, 8_000, 8_000].entries()) {
      await waitUntil(() => attempts.length === i + 1 && session.state === 'backoff', 5_000, `failure ${i + 1}`);
      expect(attempts[i]).toMatchObject({ retryCount: i + 1, delayMs: expected });
      clock.advance(expected - 1);
      await settle();
      expect(session.status().attempt, `no attempt before the ${expected} ms are over`).toBe(i + 1);
      clock.advance(1);
      await waitUntil(() => session.status().attempt === i + 2, 5_000, `attempt ${i + 2}`);
    }

    // The gateway appears on that port: the attempt after the next backoff connects.
    await waitUntil(() => attempts.length === 6 && session.state === 'backoff', 5_000, 'failure 6');
    const sockets = new Set<net.Socket>();
    const track = (sock: net.Socket) => { sockets.add(sock); sock.on('close', () => sockets.delete(sock)); };
    const relay = net.createServer((inbound) => {
      const outbound = net.connect(server.port, '127.0.0.1');
      track(inbound);
      track(outbound);
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('error', () => {}).on('close', () => outbound.destroy());
      outbound.on('error', () => {}).on('close', () => inbound.destroy());
    });
    await new Promise<void>((r) => relay.listen(port, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise((r) => { for (const sock of sockets) sock.destroy(); relay.close(r); }));
    clock.advance(8_000);
    await session.waitUntilConnected();

    // Lost after a short run: still flapping, so the count goes on (retry 7, at the cap).
    const dropAll = () => { for (const sock of sockets) sock.destroy(); };
    dropAll();
    await waitUntil(() => attempts.length === 7, 5_000, 'the retry after a short run');
    expect(attempts[6]).toMatchObject({ retryCount: 7, delayMs: 8_000 });
    clock.advance(8_000);
    await session.waitUntilConnected();

    // Up for reconnect.stableAfterMs on the session's clock, then lost: back at retry 1 (1 s).
    clock.advance(60_000);
    dropAll();
    await waitUntil(() => attempts.length === 8, 5_000, 'the retry after a stable run');
    expect(attempts[7]).toMatchObject({ retryCount: 1, delayMs: 1_000 });
  });
});
