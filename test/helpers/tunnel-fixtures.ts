// Builds session configurations pointed at a test sshd, with short timers so reconnect and
// keepalive behaviour shows within a test's time budget.
import { readFileSync } from 'node:fs';
import type { SessionConfigInput, ForwardConfigInput } from '../../src/session/session-config.js';
import { TunnelSession } from '../../src/session/tunnel-session.js';
import type { SshdHandle } from './sshd.js';

export function sessionConfigFor(sshd: SshdHandle, overrides: Partial<SessionConfigInput> = {}): SessionConfigInput {
  return {
    id: 'test',
    host: sshd.host,
    port: sshd.port,
    auth: { username: sshd.username, privateKeys: [{ key: readFileSync(sshd.userKeyPath), source: sshd.userKeyPath }] },
    hostKeys: { knownHostsFile: sshd.knownHostsPath },
    keepalive: { intervalMs: 5_000, countMax: 3 },
    reconnect: { mode: 'always', retryIntervalMs: 200, maxRetryIntervalMs: 1_000 },
    ...overrides,
  };
}

/** Starts a session with the given forwards and waits until all are up; returns remote ports by id. */
export async function startSession(sshd: SshdHandle, forwards: ForwardConfigInput[], overrides: Partial<SessionConfigInput> = {}) {
  const session = new TunnelSession(sessionConfigFor(sshd, { forwards, ...overrides }));
  const logs: string[] = [];
  session.on('log', (level, message) => logs.push(`${level} ${message}`));
  session.start();
  await session.waitUntilConnected();
  const ports: Record<string, number> = {};
  for (const fwd of session.config.forwards) ports[fwd.id] = await session.waitForForward(fwd.id);
  return { session, ports, logs };
}

/** Polls until `check` returns a truthy value or the timeout passes. */
export async function waitUntil<T>(check: () => T | Promise<T>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
