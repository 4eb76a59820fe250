// A gateway that accepts the TCP connection and closes it before identifying itself — what sshd
// does past MaxStartups right after a restart — is alive but busy: the agent says so, and its
// retries come at a steady pace, uniform in [retryIntervalMs / 2, 2 × retryIntervalMs], instead of
// doubling toward maxRetryIntervalMs, so a fleet that was turned away keeps arriving while the
// gateway works through its queue and does not sleep a full minute while it is idle.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TunnelSession, type ReconnectAttemptInfo } from '../../src/session/tunnel-session.js';
import { startSshd } from '../helpers/sshd.js';
import { startSession, waitUntil } from '../helpers/tunnel-fixtures.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function listen(onConnection: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer(onConnection);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

async function attemptsAgainst(port: number, count: number): Promise<ReconnectAttemptInfo[]> {
  const session = new TunnelSession({
    host: '127.0.0.1', port, auth: { username: 'u', password: 'x' }, hostKeys: { insecureAcceptAny: true },
    reconnect: { mode: 'always', retryIntervalMs: 40, maxRetryIntervalMs: 60_000 },
  });
  session.on('log', () => {});
  cleanups.push(() => session.close(100));
  const attempts: ReconnectAttemptInfo[] = [];
  session.on('reconnectAttempt', (a) => attempts.push(a));
  session.start();
  await waitUntil(() => attempts.length >= count, 20_000, `${count} reconnect attempts`);
  session.destroy();
  return attempts;
}

describe('a busy gateway (closes before identifying itself)', () => {
  it('is reported as busy, and its retries stay in [retryIntervalMs / 2, 2 × retryIntervalMs]', async () => {
    const port = await listen((s) => s.destroy()); // accept, then drop: sshd past MaxStartups
    const attempts = await attemptsAgainst(port, 8);
    expect(attempts[0]!.lastError.message).toContain('before identifying itself (busy');
    expect(attempts[0]!.lastError.details).toMatchObject({ serverBusy: true });
    // doubling would reach a ceiling of 40 ms × 2^7 = 5120 ms by attempt 8; full jitter would
    // draw from 4 ms up
    for (const a of attempts) {
      expect(a.delayMs).toBeGreaterThanOrEqual(20);
      expect(a.delayMs).toBeLessThanOrEqual(80);
    }
    expect(attempts[7]!.retryCount).toBe(8); // still counted against maxRetries
  });

  it('a gateway that identifies itself and then closes is not "busy": the usual doubling applies', async () => {
    const port = await listen((s) => { s.write('SSH-2.0-OpenSSH_9.9 test\r\n'); setTimeout(() => s.destroy(), 20); });
    const attempts = await attemptsAgainst(port, 3);
    expect(attempts[0]!.lastError.details?.serverBusy).toBeUndefined();
    expect(attempts[0]!.lastError.message).not.toContain('busy');
  });

  it('a gateway host that refuses right after a lost session is restarting: its first 3 retries are paced as busy', async () => {
    const sshd = await startSshd();
    cleanups.push(() => sshd.dispose());
    const { session } = await startSession(sshd, [], { reconnect: { mode: 'always', retryIntervalMs: 40, maxRetryIntervalMs: 60_000 } });
    cleanups.push(() => session.close(100));
    const attempts: ReconnectAttemptInfo[] = [];
    session.on('reconnectAttempt', (a) => attempts.push(a));
    await sshd.kill(); // and not restarted: every retry is refused
    await waitUntil(() => attempts.length >= 5, 20_000, '5 reconnect attempts');
    session.destroy();
    // the loss itself: the usual first draw (full jitter up to retryIntervalMs)
    expect(attempts[0]!.delayMs).toBeLessThanOrEqual(40);
    // refused 1–3 times since the loss: busy pace, [20, 80] ms (doubling would reach 4–320 ms)
    for (const a of attempts.slice(1, 4)) {
      expect(a.lastError.code).toBe('EDGE_ERR_CONNECT_REFUSED');
      expect(a.delayMs).toBeGreaterThanOrEqual(20);
      expect(a.delayMs).toBeLessThanOrEqual(80);
    }
  });
});
