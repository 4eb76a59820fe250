// The lifecycle every forward of a session shares — a remote forward (-R) the SSH host listens
// for, and a local (-L) or dynamic (-D) listener on the device: its state, retrying a refused
// request or a failed listen with the shared Backoff paced by the session's reconnect settings,
// giving up when those settings say so, failing the whole session under exitOnForwardFailure,
// and the channel and byte counters its status reports. Where the forward listens, and how its
// channels are served, is the job of remote-forwards.ts and device/local-forwarding.ts.
import { EdgeError } from '../errors.js';
import { Backoff } from '../lifecycle/backoff.js';
import type { Clock } from '../lifecycle/clock.js';
import { reconnectPolicy } from './backoff.js';
import type { ReconnectConfig } from './session-config.js';

/** pending (not asked for / not listening yet), up, retrying (retry scheduled), refused (gave up), stopped. */
export type ForwardState = 'pending' | 'up' | 'retrying' | 'refused' | 'stopped';

/** What a forward's lifecycle needs from its session. */
export interface ForwardLifecycleHost {
  /** The session's reconnect settings, read at each retry (an update may change them). */
  reconnect(): ReconnectConfig;
  exitOnForwardFailure(): boolean;
  log(level: 'error' | 'warn' | 'info' | 'debug', message: string, fields?: Record<string, unknown>): void;
  /** exitOnForwardFailure: the session fails with this error. */
  fatal(error: EdgeError): void;
  /** The forward changed state (report its status, wake waiters). */
  changed(): void;
  /** Time for the retry timers (default: the system clock). */
  clock?: Clock;
}

/** How one kind of forward reports a failure. */
export interface FailureReport {
  /**
   * Announces the retry before it is scheduled (the session's reconnectAttempt event); returns
   * false when the retry was cancelled there. Not called when the reconnect settings give up.
   */
  announce?(retry: { attempt: number; delayMs: number }): boolean;
  /** Level of the log line of the first retry in a row (later ones: warn). Default warn. */
  firstRetryLevel?: 'error' | 'warn';
}

export interface ChannelCounters {
  open: number;
  total: number;
  rejected: number;
}

/** Live byte counters of an open channel, from the forward's point of view. */
export interface LiveBytes {
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export class ForwardLifecycle {
  state: ForwardState = 'pending';
  lastError: EdgeError | null = null;
  /** Failures in a row since the forward was last up (`retry.attempt`) and the pending retry. */
  readonly retry: Backoff;
  openChannels = 0;
  totalChannels = 0;
  rejectedChannels = 0;
  /** Bytes of channels that have closed; live channels are added by bytes(). */
  bytesIn = 0;
  bytesOut = 0;
  readonly liveStats = new Set<LiveBytes>();

  constructor(protected readonly lifecycle: ForwardLifecycleHost) {
    this.retry = new Backoff(() => reconnectPolicy(lifecycle.reconnect()), lifecycle.clock ? { clock: lifecycle.clock } : {});
  }

  setState(state: ForwardState): void {
    if (this.state === state) return;
    this.state = state;
    this.lifecycle.changed();
  }

  /** Requested or listening: the retries in a row start over. */
  up(): void {
    this.retry.reset();
    this.lastError = null;
    this.setState('up');
  }

  /** Not wanted any more (removed, session closing): no retry. */
  stop(): void {
    this.retry.cancel();
    this.setState('stopped');
  }

  /**
   * The forward could not be set up (`error` says why, operator-grade): fail the session under
   * exitOnForwardFailure, give up when the reconnect settings (mode never, maxRetries) or the
   * announcement say so, else run `retry` after the next backoff delay.
   */
  failed(error: EdgeError, retry: () => void, report: FailureReport = {}): void {
    this.lastError = error;
    const delayMs = this.retry.next();
    const attempt = this.retry.attempt;
    const reconnect = this.lifecycle.reconnect();
    const exhausted = reconnect.mode === 'never' || (reconnect.maxRetries >= 0 && attempt > reconnect.maxRetries);
    const cancelled = !exhausted && report.announce !== undefined && !report.announce({ attempt, delayMs });
    const fields = { code: error.code };
    if (this.lifecycle.exitOnForwardFailure()) {
      this.setState('refused');
      this.lifecycle.log('error', `${error.message} exitOnForwardFailure is set: the session fails.`, fields);
      this.lifecycle.fatal(new EdgeError(error.code, `${error.message} (exitOnForwardFailure)`, { details: error.details, retryable: false }));
      return;
    }
    if (exhausted || cancelled) {
      this.setState('refused');
      this.lifecycle.log('error', `${error.message} Giving up (${cancelled ? 'retry cancelled by a reconnectAttempt listener' : 'reconnect settings'}).`, fields);
      return;
    }
    this.setState('retrying');
    this.lifecycle.log(attempt === 1 ? report.firstRetryLevel ?? 'warn' : 'warn', `${error.message} Retrying in ${delayMs} ms.`, fields);
    this.retry.schedule(delayMs, retry);
  }

  channels(): ChannelCounters {
    return { open: this.openChannels, total: this.totalChannels, rejected: this.rejectedChannels };
  }

  /** Bytes of closed channels plus those of the open ones so far. */
  bytes(): { bytesIn: number; bytesOut: number } {
    let bytesIn = this.bytesIn;
    let bytesOut = this.bytesOut;
    for (const s of this.liveStats) {
      bytesIn += s.bytesIn;
      bytesOut += s.bytesOut;
    }
    return { bytesIn, bytesOut };
  }

  /** lastError as status reports it. */
  lastErrorStatus(): { code: string; message: string } | null {
    return this.lastError ? { code: this.lastError.code, message: this.lastError.message } : null;
  }
}
