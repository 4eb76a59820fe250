// Reconnect pacing of a session, its forwards and its listeners, in the session's terms
// (ReconnectConfig): the shared backoff (src/lifecycle/backoff.ts) with full jitter, the first
// ceiling being the seed's 5 s retry interval; plus the slower pace after credential failures
// and the shorter cap for a busy gateway.
import type { BackoffPolicy } from '../lifecycle/backoff.js';
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
  return Math.round(cfg.authRetryIntervalMs * (1 + 0.25 * random()));
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
 * The settings for the next delay after `error`: a gateway that accepted the TCP connection and
 * closed it before identifying itself is alive but busy (sshd past MaxStartups after a restart),
 * so its retries stop doubling at 4 × retryIntervalMs (20 s by default) instead of
 * maxRetryIntervalMs: the fleet keeps spreading out, but nobody sleeps a full minute while the
 * gateway has long been idle (the tail that kept 1000 agents out for ~100 s in npm run fleet-sim).
 */
export function backoffSettingsAfter<T extends Pick<ReconnectConfig, 'retryIntervalMs' | 'maxRetryIntervalMs'>>(cfg: T, error: { details?: Record<string, unknown> }): T {
  if (error.details?.serverBusy !== true) return cfg;
  return { ...cfg, maxRetryIntervalMs: Math.max(cfg.retryIntervalMs, Math.min(cfg.maxRetryIntervalMs, 4 * cfg.retryIntervalMs)) };
}
