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
