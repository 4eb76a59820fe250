// Reconnect pacing: exponential backoff with full jitter ("Exponential Backoff And Jitter",
// AWS architecture blog) so that a fleet that lost its gateway at the same instant does not
// come back in lock-step. The first ceiling is the seed's 5 s retry interval; a small floor
// (a tenth of it) keeps an unlucky draw from retrying at once.
import type { ReconnectConfig } from './session-config.js';

/** The delay before retry number `attempt` (1-based): uniform in [floor, ceiling]. */
export function backoffDelayMs(
  attempt: number,
  cfg: Pick<ReconnectConfig, 'retryIntervalMs' | 'maxRetryIntervalMs'>,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const ceiling = Math.max(0, Math.min(cfg.maxRetryIntervalMs, cfg.retryIntervalMs * 2 ** exponent));
  const floor = Math.min(cfg.retryIntervalMs / 10, ceiling);
  return Math.round(floor + random() * (ceiling - floor));
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
