// Reconnect pacing of a session, its forwards and its listeners, in the session's terms
// (ReconnectConfig): the shared backoff (src/lifecycle/backoff.ts) with full jitter, the first
// ceiling being the seed's 5 s retry interval; plus the slower pace after credential failures
// and the shorter cap for a busy gateway.
import { EdgeError } from '../errors.js';
import { backoffDelay, type BackoffPolicy } from '../lifecycle/backoff.js';
import { classifyErrno } from '../lifecycle/errno.js';
import type { ReconnectConfig } from './session-config.js';

/** The shared backoff policy for these reconnect settings. */
export function reconnectPolicy(cfg: Pick<ReconnectConfig, 'retryIntervalMs' | 'maxRetryIntervalMs'>): BackoffPolicy {
  return { baseMs: cfg.retryIntervalMs, maxMs: cfg.maxRetryIntervalMs, jitter: 'full' };
}

/**
 * The delay before retrying after an authentication or host key failure: never sooner than
 * `authRetryIntervalMs` (a key rollout takes minutes, and a gateway should not see a fleet
 * hammering it with bad keys), plus up to 25 % jitter so a fleet does not retry in lock-step.
 */
export function credentialRetryDelayMs(cfg: Pick<ReconnectConfig, 'authRetryIntervalMs'>, random: () => number = Math.random): number {
  return backoffDelay(1, { baseMs: cfg.authRetryIntervalMs, maxMs: cfg.authRetryIntervalMs, jitter: [1, 1.25] }, random);
}

const CREDENTIAL_FAILURES = new Set(['EDGE_ERR_AUTH_FAILED', 'EDGE_ERR_HOST_KEY_MISMATCH', 'EDGE_ERR_HOST_KEY_UNKNOWN', 'EDGE_ERR_HOST_KEY_REVOKED', 'EDGE_ERR_KEY_INVALID', 'EDGE_ERR_KEY_PASSPHRASE']);

/**
 * Failures that only a changed file can fix (authorized_keys on the server, our key, our
 * known_hosts): not retryable in general, but retried at `authRetryIntervalMs` by a session in
 * reconnect mode `always`, because the tunnel may be the only way to reach the device.
 */
export function isCredentialFailure(error: { code: string }): boolean {
  return CREDENTIAL_FAILURES.has(error.code);
}

/**
 * Whether a session stops reconnecting after `error`, and with which error (undefined: retry).
 * Authentication and host key failures are retried (slowly) once the session may retry at all
 * without having connected, or has connected before: see isCredentialFailure. `retries`: those
 * already made in a row.
 */
export function reconnectGiveUp(error: EdgeError, reconnect: Pick<ReconnectConfig, 'mode' | 'maxRetries'>, at: { sessionId: string; everConnected: boolean; retries: number }): EdgeError | undefined {
  const retryCredentials = isCredentialFailure(error) && (reconnect.mode === 'always' || (reconnect.mode === 'after-connect' && at.everConnected));
  if (!error.retryable && !retryCredentials) return error;
  if (reconnect.mode === 'never') return error;
  if (reconnect.mode === 'after-connect' && !at.everConnected) return error;
  if (reconnect.maxRetries >= 0 && at.retries >= reconnect.maxRetries) {
    return new EdgeError('EDGE_ERR_RECONNECT_LIMIT', `Session ${at.sessionId} gave up after ${at.retries} reconnect attempts (reconnect.maxRetries = ${reconnect.maxRetries}); last error: ${error.message}`, { details: { lastError: error.code } });
  }
  return undefined;
}

/** Retries after a lost session during which a refused or reset connection counts as busy. */
export const RESTART_GRACE_RETRIES = 3;

/**
 * Whether the gateway is alive but busy, or coming back: it accepted the TCP connection and closed
 * it before identifying itself (sshd past MaxStartups), or — within the first
 * RESTART_GRACE_RETRIES attempts after a session that was up was lost — it refused or reset the
 * connection (the gateway host is restarting: the whole fleet lost it at the same moment). Later
 * refusals get the usual doubling backoff: a gateway that stays away is not polled every few seconds.
 */
export function isGatewayBusy(error: { code: string; details?: Record<string, unknown> }, failuresSinceLoss = Infinity): boolean {
  if (error.details?.serverBusy === true) return true;
  if (failuresSinceLoss < 1 || failuresSinceLoss > RESTART_GRACE_RETRIES) return false; // 0: the loss itself
  return error.code === 'EDGE_ERR_CONNECT_REFUSED' || classifyErrno(error.details?.errno as string | undefined) === 'reset';
}

/**
 * The delay before retrying a busy gateway (sshd past MaxStartups after a restart): uniform in
 * [retryIntervalMs / 2, 2 × retryIntervalMs] (2.5–10 s by default) at every retry, never doubling.
 * The gateway is alive and working through a queue, so agents it turned away keep arriving at a
 * steady rate instead of drifting to ever longer, sparser draws (the tail that kept 1000 agents
 * out for > 60 s in npm run fleet-sim with a doubling cap of 20 s).
 */
export function busyRetryDelayMs(cfg: Pick<ReconnectConfig, 'retryIntervalMs'>, random: () => number = Math.random): number {
  return backoffDelay(1, { baseMs: cfg.retryIntervalMs, maxMs: cfg.retryIntervalMs, jitter: [0.5, 2] }, random);
}
