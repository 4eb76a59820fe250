// The one forward lifecycle (src/session/forward-lifecycle.ts) as both kinds of forward live it:
// a remote forward (-R) the SSH host refuses (in-process ssh2 server) and a local listener (-L)
// whose port is taken (a real TCP server). Both retry on the shared Backoff driven by a manual
// clock, give up after reconnect.maxRetries, come up when the cause goes away, and fail the
// session under exitOnForwardFailure — the same way, from the same code.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EdgeError } from '../../src/errors.js';
import { backoffDelay } from '../../src/lifecycle/backoff.js';
import { LocalForwarding } from '../../src/session/device/local-forwarding.js';
import type { ForwardState } from '../../src/session/forward-lifecycle.js';
import { RemoteForwards } from '../../src/session/remote-forwards.js';
import { localForwardWithDefaults, sessionWithDefaults, type ReconnectConfig } from '../../src/session/session-config.js';
import { HttpForwardCache } from '../../src/session/targets/http-forward-cache.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { connectSsh2Pair } from '../helpers/ssh2-pair.js';

const RECONNECT: ReconnectConfig = { mode: 'always', retryIntervalMs: 1_000, maxRetryIntervalMs: 4_000, maxRetries: 3, stableAfterMs: 60_000, authRetryIntervalMs: 60_000 };

/** One forward under test, whichever kind: how many tries it made, its state, what it logged. */
interface Subject {
  tries(): number;
  state(): ForwardState;
  lastErrorCode(): string | null;
  logs: Array<{ level: string; message: string }>;
  fatal: EdgeError[];
  /** Removes the cause: the next try succeeds. */
  allow(): Promise<void>;
  close(): Promise<void>;
}

interface Setup {
  clock: ManualClock;
  reconnect: ReconnectConfig;
  exitOnForwardFailure: boolean;
}

/** A remote forward whose tcpip-forward requests the SSH host refuses until allow(). */
async function remoteSubject({ clock, reconnect, exitOnForwardFailure }: Setup): Promise<Subject> {
  let refuse = true;
  let tries = 0;
  const pair = await connectSsh2Pair({
    onConnection: (conn) => conn.on('request', (accept, reject, name) => {
      if (name !== 'tcpip-forward') return reject?.();
      tries += 1;
      if (refuse) reject?.();
      else accept?.(8080);
    }),
  });
  const logs: Subject['logs'] = [];
  const fatal: EdgeError[] = [];
  const config = sessionWithDefaults({
    id: 's1', host: '127.0.0.1', auth: { username: 'x' }, reconnect, exitOnForwardFailure,
    forwards: [{ id: 'web', bind: '127.0.0.1', port: 8080, target: 'tcp://127.0.0.1:1' }],
  });
  const log = (level: string, message: string) => { logs.push({ level, message }); };
  const conn = { client: pair.client } as never; // the one live connection (compared by identity)
  const remote = new RemoteForwards({
    config,
    httpForwards: new HttpForwardCache('s1', log),
    events: new EventEmitter(),
    connection: () => conn,
    proxyRoute: () => null,
    wake: () => {},
    fail: (error) => { fatal.push(error); },
    log,
    clock,
  });
  const fwd = remote.add(config.forwards[0]!);
  remote.request(fwd);
  return {
    tries: () => tries,
    state: () => fwd.state,
    lastErrorCode: () => fwd.lastError?.code ?? null,
    logs, fatal,
    allow: async () => { refuse = false; },
    close: async () => { remote.stopAll(); pair.close(); },
  };
}

/** A local (-L) listener on a port a real TCP server holds until allow(). */
async function localSubject({ clock, reconnect, exitOnForwardFailure }: Setup): Promise<Subject> {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as net.AddressInfo).port;
  const logs: Subject['logs'] = [];
  const fatal: EdgeError[] = [];
  let state: ForwardState = 'pending';
  let lastErrorCode: string | null = null;
  const local = new LocalForwarding({
    sessionId: 's1',
    reconnect: () => reconnect,
    exitOnForwardFailure: () => exitOnForwardFailure,
    nextChannelId: () => 1,
    channelOpen: () => {},
    channelClose: () => {},
    channelRejected: () => {},
    status: (s) => { state = s.state; lastErrorCode = s.lastError?.code ?? null; },
    log: (level, message) => { logs.push({ level, message }); },
    fatal: (error) => { fatal.push(error); },
    clock,
  }, [localForwardWithDefaults({ id: 'db', bind: '127.0.0.1', port, host: '127.0.0.1', hostPort: 1 }, 0)], []);
  local.start();
  return {
    tries: () => logs.filter((l) => /cannot listen|listening on/.test(l.message)).length,
    state: () => state,
    lastErrorCode: () => lastErrorCode,
    logs, fatal,
    allow: () => new Promise<void>((r) => blocker.close(() => r())),
    close: async () => { local.destroy('destroyed'); blocker.close(); },
  };
}

const KINDS = [
  { kind: 'remote forward (-R), refused by the SSH host', make: remoteSubject, code: 'EDGE_ERR_FORWARD_REFUSED', firstLevel: 'warn' },
  { kind: 'local listener (-L), port taken', make: localSubject, code: 'EDGE_ERR_LOCAL_LISTEN_FAILED', firstLevel: 'error' },
] as const;

/** The delay of the last "Retrying in N ms." line. */
function lastDelay(s: Subject): number {
  const m = /Retrying in (\d+) ms\.$/.exec(s.logs.filter((l) => l.message.includes('Retrying in')).at(-1)?.message ?? '');
  expect(m, 'a "Retrying in" log line').not.toBeNull();
  return Number(m![1]);
}

let subject: Subject | undefined;
afterEach(async () => {
  await subject?.close();
  subject = undefined;
});

describe.each(KINDS)('forward lifecycle: $kind', ({ make, code, firstLevel }) => {
  it('retries on the Backoff of the manual clock, each delay within its step, and gives up after maxRetries', async () => {
    const clock = new ManualClock();
    const s = subject = await make({ clock, reconnect: RECONNECT, exitOnForwardFailure: false });
    for (let retry = 1; retry <= RECONNECT.maxRetries; retry += 1) {
      await vi.waitFor(() => expect(s.state()).toBe('retrying'));
      expect(s.tries()).toBe(retry);
      expect(s.lastErrorCode()).toBe(code);
      const delayMs = lastDelay(s);
      // The step's bounds (full jitter): backoffDelay with the lowest and the highest draw.
      const policy = { baseMs: RECONNECT.retryIntervalMs, maxMs: RECONNECT.maxRetryIntervalMs, jitter: 'full' } as const;
      expect(delayMs).toBeGreaterThanOrEqual(backoffDelay(retry, policy, () => 0));
      expect(delayMs).toBeLessThanOrEqual(backoffDelay(retry, policy, () => 1));
      expect(s.logs.filter((l) => l.message.includes('Retrying in')).at(-1)!.level).toBe(retry === 1 ? firstLevel : 'warn');
      // Nothing happens before the delay has passed on the clock...
      clock.advance(delayMs - 1);
      await new Promise((r) => setTimeout(r, 50));
      expect(s.tries()).toBe(retry);
      // ...and the next try starts when it has.
      clock.advance(1);
      await vi.waitFor(() => expect(s.tries()).toBe(retry + 1));
    }
    await vi.waitFor(() => expect(s.state()).toBe('refused'));
    expect(s.logs.at(-1)).toMatchObject({ level: 'error', message: expect.stringContaining('Giving up (reconnect settings).') });
    expect(clock.pendingTimers).toBe(0);
    expect(s.fatal).toEqual([]);
  });

  it('comes up on the retry after the cause is gone: lastError cleared, no retry pending', async () => {
    const clock = new ManualClock();
    const s = subject = await make({ clock, reconnect: RECONNECT, exitOnForwardFailure: false });
    await vi.waitFor(() => expect(s.state()).toBe('retrying'));
    clock.advance(lastDelay(s));
    await vi.waitFor(() => expect(s.tries()).toBe(2));
    await vi.waitFor(() => expect(s.state()).toBe('retrying'));
    await s.allow();
    clock.advance(lastDelay(s));
    await vi.waitFor(() => expect(s.state()).toBe('up'));
    expect(s.lastErrorCode()).toBeNull();
    expect(clock.pendingTimers).toBe(0);
  });

  it('with exitOnForwardFailure the first failure fails the session (not retryable) and nothing is retried', async () => {
    const clock = new ManualClock();
    const s = subject = await make({ clock, reconnect: RECONNECT, exitOnForwardFailure: true });
    await vi.waitFor(() => expect(s.fatal).toHaveLength(1));
    expect(s.state()).toBe('refused');
    expect(s.fatal[0]).toMatchObject({ code, retryable: false, message: expect.stringContaining('(exitOnForwardFailure)') });
    expect(clock.pendingTimers).toBe(0);
  });
});
