// Report-back: POSTs the agent's status report (status-report.ts) to assignments.reportUrl —
// once at start, after every significant change (debounced), and every reportIntervalMs
// (jittered) — with the same bearer token, CA file and proxy settings as fetching assignments
// (fleet-http.ts).
//
// Bounded and harmless: one report in flight at a time; a change during a send is sent after
// it, built from the state at that moment (latest wins, nothing queues up); failures are
// counted, logged (the first of a run, then at most once a minute, and the recovery), and
// retried with exponential backoff capped at the interval. Nothing here touches a session.
import type { Meter } from '@opentelemetry/api';
import type { AgentStatus, ReportStatus } from '../agent-status.js';
import { EdgeError } from '../errors.js';
import type { Logger } from '../log.js';
import { VERSION } from '../version.js';
import { createFleetTransport, FleetToken, type FleetClientTuning } from '../assignments/fleet-http.js';
import { discardBody, RESPONSE_TIMEOUT, type FleetTransport } from '../assignments/fleet-transport.js';
import { errorBackoffMs, jitteredIntervalMs } from '../assignments/remote-source.js';
import { describeEndpoint } from '../grammar/redact.js';
import { systemClock, type Clock } from '../lifecycle/clock.js';
import { buildStatusReport, reportFingerprint, type StatusReport } from './status-report.js';
import { classifyErrno, connectErrorCode, connectFailureReason, errnoOf } from '../lifecycle/errno.js';
import { isoTime } from '../iso-time.js';

/** Library-level tuning (no config keys). */
export interface StatusReporterTuning extends FleetClientTuning {
  /** Wait after a change before sending, so a burst of changes makes one report. Default 1 000. */
  debounceMs?: number;
  /** First retry ceiling after a failure. Default min(intervalMs, 5 000). */
  retryBaseMs?: number;
  /** Retry cap. Default intervalMs. */
  retryMaxMs?: number;
  /** Response timeout. Default 30 000. */
  responseTimeoutMs?: number;
  /** Minimum time between two failure log lines. Default 60 000. */
  failureLogIntervalMs?: number;
}

export interface StatusReporterOptions extends StatusReporterTuning {
  url: string;
  intervalMs: number;
  tokenEnv?: string;
  caFile?: string;
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  /** The agent's /status. */
  status(): Promise<AgentStatus>;
  /** Where the sent/failed counters are created. */
  meter?: Meter;
}

/** The `report` part of /status. */
export type { ReportStatus } from '../agent-status.js';

type Reason = StatusReport['reason'];

export class StatusReporter {
  readonly endpoint: string;
  private readonly transport: FleetTransport;
  private readonly token: FleetToken;
  private readonly random: () => number;
  private readonly debounceMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly deadlineMs: number;
  private readonly failureLogIntervalMs: number;
  private readonly countSent: (n: number) => void;
  private readonly countFailed: (n: number) => void;
  private timer: unknown;
  private readonly clock: Clock;
  private due: { at: number; reason: Reason } | undefined;
  private inflight: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private changedDuringSend = false;
  private sequence = 0;
  private lastSentFingerprint: string | undefined;
  /** When the next interval report is due (epoch ms). */
  private intervalAt = 0;
  private lastFailureLogAt = Number.NEGATIVE_INFINITY;
  private unloggedFailures = 0;
  private closed = false;
  private readonly stats: Omit<ReportStatus, 'endpoint' | 'intervalMs' | 'nextAt'> = { sent: 0, failed: 0, consecutiveFailures: 0, lastSentAt: null, lastError: null };

  constructor(private readonly options: StatusReporterOptions) {
    this.endpoint = describeEndpoint(options.url);
    this.random = options.random ?? Math.random;
    this.clock = options.clock ?? systemClock;
    this.debounceMs = options.debounceMs ?? 1_000;
    this.retryBaseMs = options.retryBaseMs ?? Math.min(options.intervalMs, 5_000);
    this.retryMaxMs = options.retryMaxMs ?? options.intervalMs;
    this.failureLogIntervalMs = options.failureLogIntervalMs ?? 60_000;
    const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    const responseTimeoutMs = options.responseTimeoutMs ?? 30_000;
    this.deadlineMs = connectTimeoutMs + responseTimeoutMs;
    this.transport = createFleetTransport({ caFile: options.caFile, connectTimeoutMs, responseTimeoutMs, proxy: options.proxy });
    this.token = new FleetToken({ tokenEnv: options.tokenEnv, env: options.env, log: options.log, what: 'report' });
    const sent = options.meter?.createCounter('edge_agent_reports_sent_total', { description: 'Status reports the report endpoint accepted.' });
    const failed = options.meter?.createCounter('edge_agent_report_failures_total', { description: 'Status reports that failed (network error, timeout or non-2xx answer); retried with backoff.' });
    this.countSent = (n) => sent?.add(n);
    this.countFailed = (n) => failed?.add(n);
  }

  /** Sends the first report (after the debounce, so sessions have a moment to connect). */
  start(): void {
    this.options.log?.('info', `report: sending status to ${this.endpoint} on change and every ~${this.options.intervalMs} ms (jittered)`);
    this.schedule(this.debounceMs, 'start');
  }

  /** Something in the status may have changed: report it soon (debounced) if it did. */
  changed(): void {
    if (this.closed) return;
    if (this.inflight) {
      this.changedDuringSend = true;
      return;
    }
    // While failing, the scheduled retry carries the latest state anyway.
    if (this.stats.consecutiveFailures > 0) return;
    this.schedule(this.debounceMs, 'change');
  }

  status(): ReportStatus {
    return {
      endpoint: this.endpoint,
      intervalMs: this.options.intervalMs,
      ...this.stats,
      lastError: this.stats.lastError ? { ...this.stats.lastError } : null,
      nextAt: this.due && !this.closed ? isoTime(this.due.at) : null,
    };
  }

  /** Stops reporting, aborts a report in flight, closes the connections. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.clock.clearTimeout(this.timer);
    this.due = undefined;
    this.abort?.abort();
    await this.inflight?.catch(() => undefined);
    await this.transport.destroy();
  }

  // ---------------------------------------------------------------- internals

  /** Keeps the earliest of what is scheduled and this; a 'start' or retry keeps its reason. */
  private schedule(delayMs: number, reason: Reason, replace = false): void {
    if (this.closed) return;
    const at = this.clock.now() + delayMs;
    if (!replace && this.due && this.due.at <= at) return;
    this.clock.clearTimeout(this.timer);
    this.due = { at, reason: this.due && !replace && this.due.reason === 'start' ? 'start' : reason };
    this.timer = this.clock.setTimeout(() => {
      const due = this.due!;
      this.timer = undefined;
      this.due = undefined;
      this.inflight = this.send(due.reason).finally(() => { this.inflight = undefined; });
    }, Math.max(0, delayMs));
    (this.timer as { unref?: () => void }).unref?.(); // reports never keep the process alive
  }

  private async send(reason: Reason): Promise<void> {
    this.changedDuringSend = false;
    let report: StatusReport;
    try {
      report = buildStatusReport(await this.options.status(), { sequence: this.sequence + 1, reason });
    } catch (err) {
      this.options.log?.('error', `report: building the status report failed: ${err instanceof Error ? err.message : String(err)}`);
      this.schedule(jitteredIntervalMs(this.options.intervalMs, this.random), 'interval', true);
      return;
    }
    const fingerprint = reportFingerprint(report);
    if (reason === 'change' && fingerprint === this.lastSentFingerprint) {
      // Only counters moved: nothing the fleet needs before the interval report, which keeps
      // its time (a stream of such changes must not postpone it).
      this.schedule(Math.max(0, this.intervalAt - this.clock.now()), 'interval', true);
      if (this.changedDuringSend) this.schedule(this.debounceMs, 'change');
      return;
    }
    this.sequence = report.sequence;
    const error = await this.post(report);
    if (this.closed) return;
    if (!error) {
      if (this.stats.consecutiveFailures > 0) {
        this.options.log?.('info', `report: ${this.endpoint} accepts reports again (after ${this.stats.consecutiveFailures} failed attempt(s))`);
      }
      this.stats.sent += 1;
      this.stats.consecutiveFailures = 0;
      this.stats.lastSentAt = isoTime();
      this.lastSentFingerprint = fingerprint;
      this.unloggedFailures = 0;
      this.countSent(1);
      this.afterSend();
      return;
    }
    this.stats.failed += 1;
    this.stats.consecutiveFailures += 1;
    this.stats.lastError = { code: error.code, message: error.message, at: isoTime() };
    this.countFailed(1);
    const delay = errorBackoffMs(this.stats.consecutiveFailures, this.retryBaseMs, this.retryMaxMs, this.random);
    this.unloggedFailures += 1;
    const now = this.clock.now();
    if (this.stats.consecutiveFailures === 1 || now - this.lastFailureLogAt >= this.failureLogIntervalMs) {
      this.options.log?.('warn', `${error.message.replace(/\.$/, '')} (${this.unloggedFailures} failure(s) since the last report of this; next attempt in ${(delay / 1000).toFixed(1)} s; the tunnels are not affected)`, { code: error.code });
      this.lastFailureLogAt = now;
      this.unloggedFailures = 0;
    }
    this.schedule(delay, reason, true);
  }

  private afterSend(): void {
    const delay = jitteredIntervalMs(this.options.intervalMs, this.random);
    this.intervalAt = this.clock.now() + delay;
    this.schedule(delay, 'interval', true);
    if (this.changedDuringSend) this.schedule(this.debounceMs, 'change');
  }

  /** One POST; resolves with the error, or null when the endpoint answered 2xx. */
  private async post(report: StatusReport): Promise<EdgeError | null> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': `ssh-edge-agent/${VERSION}`,
      'x-edge-agent-id': report.agentId,
    };
    const hadToken = this.token.authorize(headers, this.options.url, this.endpoint);
    const abort = new AbortController();
    this.abort = abort;
    let timedOut = false;
    const deadline = setTimeout(() => { timedOut = true; abort.abort(); }, this.deadlineMs);
    try {
      const res = await this.transport.request(this.options.url, { method: 'POST', headers, body: JSON.stringify(report), signal: abort.signal });
      await discardBody(res.body);
      if (res.statusCode >= 200 && res.statusCode < 300) return null;
      const hint = res.statusCode === 401 || res.statusCode === 403
        ? (this.token.variable ? `: check the bearer token in $${this.token.variable}${hadToken ? '' : ' (it is not set)'}` : ': the endpoint wants credentials (assignments.tokenEnv)')
        : res.statusCode >= 300 && res.statusCode < 400 ? ': redirects are not followed; set assignments.reportUrl to the final URL' : '';
      return new EdgeError('EDGE_ERR_NETWORK', `report: ${this.endpoint} answered HTTP ${res.statusCode}${hint}.`, { details: { httpStatus: res.statusCode } });
    } catch (err) {
      const code = errnoOf(err);
      const errno = classifyErrno(code);
      const why = timedOut ? `no answer within ${this.deadlineMs} ms` : errno === 'refused' || errno === 'name-not-resolved' ? connectFailureReason(err) : this.closed ? 'the agent is stopping'
        : code === RESPONSE_TIMEOUT ? `${(err as Error).message} (response timeout)` : (code ?? (err instanceof Error ? err.message : String(err)));
      const edge = timedOut && errno !== 'refused' ? 'EDGE_ERR_CONNECT_TIMEOUT' : connectErrorCode(code);
      return new EdgeError(edge, `report: sending to ${this.endpoint} failed: ${why}.`);
    } finally {
      clearTimeout(deadline);
      if (this.abort === abort) this.abort = undefined;
    }
  }
}
