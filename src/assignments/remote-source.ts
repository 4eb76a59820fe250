// Polls the fleet endpoint (assignments.url) for assignment documents (node:http(s), fleet-transport.ts).
//
// - Conditional requests: the ETag of the last ACCEPTED document is sent as If-None-Match, so
//   an unchanged document costs a 304 and no body. (A rejected document's ETag is not kept: the
//   endpoint keeps sending it in full until it serves something acceptable.)
// - Jitter, so a fleet does not poll in lock-step: every wait is uniform in
//   [0.5, 1.5] × pollIntervalMs; the first poll waits uniform in [0, min(pollIntervalMs, 5 s)).
// - Errors (network, timeouts, 4xx/5xx) back off exponentially with jitter ("equal jitter":
//   uniform in [c/2, c], c = min(retryMaxMs, retryBaseMs × 2^(n−1))). A Retry-After header
//   (seconds or an HTTP date) is honoured: the next request waits at least that long (capped
//   at maxRetryAfterMs).
// - Bearer token from the environment variable named by assignments.tokenEnv, read at every
//   request, never logged. Custom CA file (replaces the system CAs for this endpoint).
//   Connect and response timeouts; a response body larger than maxBodyBytes is refused.
// - HTTP_PROXY / HTTPS_PROXY / NO_PROXY are honoured (fleet-proxy.ts, undici's EnvHttpProxyAgent
//   semantics; proxies are reached with CONNECT). Redirects are not followed (the bearer token must not travel to
//   another host): point assignments.url at the final URL.
// - A manual trigger (`refresh()`) fetches at once, whatever the schedule or a Retry-After says.
//
// One request at a time; results go to `onResult` in order. The source knows nothing about the
// documents themselves: the controller verifies, validates and applies them.
import { EdgeError, type ErrorCode } from '../errors.js';
import { describeEndpoint, redactCredentials } from '../grammar/redact.js';
import type { Logger } from '../log.js';
import { VERSION } from '../version.js';
import { createFleetTransport, FleetToken, type FleetClientTuning } from './fleet-http.js';
import { discardBody, RESPONSE_TIMEOUT, type FleetTransport } from './fleet-transport.js';
import { classifyErrno, connectErrorCode, connectFailureReason, errnoOf } from '../lifecycle/errno.js';
import { backoffDelay } from '../lifecycle/backoff.js';
import { MAX_TIMER_MS, systemClock, type Clock } from '../lifecycle/clock.js';

export type FetchTrigger = 'poll' | 'manual';

export type FetchResult =
  | { kind: 'document'; httpStatus: number; body: Buffer; etag: string | null; signature: string | string[] | undefined; contentType: string | null; durationMs: number }
  | { kind: 'not-modified'; httpStatus: 304; durationMs: number }
  | { kind: 'error'; errorKind: 'fetch' | 'timeout' | 'http'; error: EdgeError; httpStatus: number | null; retryAfterMs: number | null; durationMs: number };

export interface FetchCycle {
  trigger: FetchTrigger;
  /** Epoch ms the request started. */
  startedAt: number;
  result: FetchResult;
  /** What onResult answered (documents only). */
  accepted: boolean;
  /** Delay before the next scheduled poll, ms (null once closed). */
  nextDelayMs: number | null;
}

/** Library-level tuning (no config keys): timeouts, limits, backoff, randomness, proxy. */
export interface RemoteSourceTuning extends FleetClientTuning {
  /** Response timeout (headers, and the whole body). Default 30 000. */
  responseTimeoutMs?: number;
  /** Largest accepted document. Default 4 MiB. */
  maxBodyBytes?: number;
  /** First error backoff ceiling. Default min(pollIntervalMs, 5 000). */
  retryBaseMs?: number;
  /** Error backoff cap. Default max(pollIntervalMs, min(4 × pollIntervalMs, 300 000)). */
  retryMaxMs?: number;
  /** The first poll waits uniform in [0, this). Default min(pollIntervalMs, 5 000). */
  firstPollMaxDelayMs?: number;
  /** Retry-After values above this are capped. Default 3 600 000 (1 h). */
  maxRetryAfterMs?: number;
}

export interface RemoteSourceOptions extends RemoteSourceTuning {
  /** http(s) URL of the fleet endpoint. */
  url: string;
  pollIntervalMs: number;
  /** Name of the environment variable holding the bearer token ("" = none). */
  tokenEnv?: string;
  /** Where tokenEnv is looked up. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** PEM file of CA certificates to trust for the endpoint ("" = system CAs). */
  caFile?: string;
  /** Extra request headers (e.g. X-Edge-Agent-Id). */
  headers?: Record<string, string>;
  /** ETag to send with the first request (e.g. of a cached document). */
  etag?: string | null;
  log?: Logger;
  /**
   * Receives every result, one at a time, in order. For a document, resolve true to accept it
   * (its ETag is then sent as If-None-Match from now on). Throwing counts as not accepted.
   */
  onResult?(result: FetchResult, trigger: FetchTrigger): boolean | Promise<boolean>;
}

export interface RemoteSourceStats {
  requests: number;
  documents: number;
  notModified: number;
  errors: number;
  consecutiveErrors: number;
  /** Epoch ms of the last request start, or null. */
  lastRequestAt: number | null;
  /** Epoch ms of the next scheduled poll, or null (not started, in flight, closed). */
  nextPollAt: number | null;
  /** The ETag sent as If-None-Match, or null. */
  etag: string | null;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_RESPONSE_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
const DEFAULT_MAX_RETRY_AFTER_MS = 3_600_000;
const MAX_DELAY_MS = MAX_TIMER_MS;

/** One steady-state wait: uniform in [0.5, 1.5] × interval. */
export function jitteredIntervalMs(intervalMs: number, random: () => number = Math.random): number {
  return Math.min(MAX_DELAY_MS, Math.round(intervalMs * (0.5 + random())));
}

/** Wait after the `consecutiveErrors`-th error in a row (≥ 1): uniform in [c/2, c], c = min(max, base × 2^(n−1)). */
export function errorBackoffMs(consecutiveErrors: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  return backoffDelay(Math.max(1, consecutiveErrors), { baseMs, maxMs, jitter: 'equal' }, random);
}

/** Retry-After as a delay in ms: delta-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfterMs(value: string | readonly string[] | undefined | null, now: number = Date.now()): number | null {
  const v = typeof value === 'string' ? value : value?.[0];
  if (v === undefined || v === null) return null;
  const text = v.trim();
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  if (!/[A-Za-z]/.test(text)) return null;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** X-Edge-Signature as received: one value as a string, repeated headers as an array. */
function signatureHeader(values: string[] | undefined): string | string[] | undefined {
  return values === undefined ? undefined : values.length === 1 ? values[0] : values;
}

export class RemoteAssignmentSource {
  readonly endpoint: string;
  private readonly url: string;
  private readonly interval: number;
  private readonly connectTimeoutMs: number;
  private readonly responseTimeoutMs: number;
  private readonly maxBodyBytes: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly firstPollMaxDelayMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly random: () => number;
  private readonly transport: FleetTransport;
  private readonly statsValue: RemoteSourceStats;
  private timer: unknown;
  private readonly clock: Clock;
  private inflight: Promise<FetchCycle> | undefined;
  private queued: Promise<FetchCycle> | undefined;
  private abort: AbortController | undefined;
  private started = false;
  private closed = false;
  private readonly token: FleetToken;

  constructor(private readonly options: RemoteSourceOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', 'assignments.url: is not a valid URL (expected https://host/path).');
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `assignments.url: unsupported scheme "${parsed.protocol}" (expected https: or http:).`);
    }
    if (!Number.isInteger(options.pollIntervalMs) || options.pollIntervalMs < 1) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `assignments.pollIntervalMs: must be a positive integer (got ${options.pollIntervalMs}).`);
    }
    this.url = options.url;
    this.endpoint = describeEndpoint(options.url);
    this.interval = options.pollIntervalMs;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.responseTimeoutMs = options.responseTimeoutMs ?? DEFAULT_RESPONSE_TIMEOUT_MS;
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.retryBaseMs = options.retryBaseMs ?? Math.min(this.interval, 5_000);
    this.retryMaxMs = options.retryMaxMs ?? Math.max(this.interval, Math.min(4 * this.interval, 300_000));
    this.firstPollMaxDelayMs = options.firstPollMaxDelayMs ?? Math.min(this.interval, 5_000);
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
    this.random = options.random ?? Math.random;
    this.clock = options.clock ?? systemClock;

    this.transport = createFleetTransport({ caFile: options.caFile, connectTimeoutMs: this.connectTimeoutMs, responseTimeoutMs: this.responseTimeoutMs, proxy: options.proxy });
    this.token = new FleetToken({ tokenEnv: options.tokenEnv, env: options.env, log: options.log, what: 'assignments' });
    this.statsValue = { requests: 0, documents: 0, notModified: 0, errors: 0, consecutiveErrors: 0, lastRequestAt: null, nextPollAt: null, etag: options.etag ?? null };
  }

  get stats(): RemoteSourceStats {
    return { ...this.statsValue };
  }

  /** Replaces the ETag sent as If-None-Match (e.g. a cached document's, before the first poll). */
  setEtag(etag: string | null): void {
    this.statsValue.etag = etag;
  }

  /** Starts polling: the first poll after a random delay in [0, firstPollMaxDelayMs). Idempotent. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    if (!this.inflight) this.schedule(Math.floor(this.firstPollMaxDelayMs * this.random()));
  }

  /**
   * Fetches now (manual trigger). If a request is in flight, one more follows it (several
   * triggers meanwhile share it), so the answer always reflects the endpoint after the call.
   */
  refresh(): Promise<FetchCycle> {
    if (this.closed) return Promise.reject(new EdgeError('EDGE_ERR_CLOSED', 'The assignment source is closed.'));
    if (this.inflight) {
      this.queued ??= this.inflight.catch(() => undefined).then(() => {
        this.queued = undefined;
        return this.runCycle('manual');
      });
      return this.queued;
    }
    return this.runCycle('manual');
  }

  /** Stops polling, aborts a request in flight and closes the connections. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.statsValue.nextPollAt = null;
    this.abort?.abort();
    await this.inflight?.catch(() => undefined);
    await this.transport.destroy();
  }

  /** One request, without calling onResult or touching the schedule. */
  async fetchOnce(): Promise<FetchResult> {
    const started = Date.now();
    this.statsValue.requests += 1;
    this.statsValue.lastRequestAt = started;
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': `ssh-edge-agent/${VERSION}`,
      ...(this.options.headers ?? {}),
    };
    if (this.statsValue.etag) headers['if-none-match'] = this.statsValue.etag;
    const hadToken = this.token.authorize(headers, this.url, this.endpoint);

    const abort = new AbortController();
    this.abort = abort;
    let timedOut = false;
    // The transport's connect and response timeouts bound each wait; this bounds the whole exchange.
    const deadline = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, this.connectTimeoutMs + this.responseTimeoutMs);
    const done = (r: FetchResult): FetchResult => {
      if (r.kind === 'error') {
        this.statsValue.errors += 1;
        this.statsValue.consecutiveErrors += 1;
      } else {
        this.statsValue.consecutiveErrors = 0;
        if (r.kind === 'document') this.statsValue.documents += 1;
        else this.statsValue.notModified += 1;
      }
      return r;
    };
    try {
      const res = await this.transport.request(this.url, { method: 'GET', headers, signal: abort.signal });
      const httpStatus = res.statusCode;
      if (httpStatus === 304) {
        await discardBody(res.body);
        return done({ kind: 'not-modified', httpStatus: 304, durationMs: Date.now() - started });
      }
      if (httpStatus === 200) {
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > this.maxBodyBytes) {
          res.body.destroy();
          return done(this.httpError(httpStatus, `the document is ${declared} bytes, more than the ${this.maxBodyBytes} accepted`, null, started));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of res.body) {
          size += (chunk as Buffer).length;
          if (size > this.maxBodyBytes) {
            res.body.destroy();
            return done(this.httpError(httpStatus, `the document is more than the ${this.maxBodyBytes} bytes accepted`, null, started));
          }
          chunks.push(chunk as Buffer);
        }
        const etag = typeof res.headers.etag === 'string' && res.headers.etag !== '' ? res.headers.etag : null;
        const contentType = typeof res.headers['content-type'] === 'string' ? res.headers['content-type'] : null;
        return done({ kind: 'document', httpStatus, body: Buffer.concat(chunks), etag, signature: signatureHeader(res.headersDistinct['x-edge-signature']), contentType, durationMs: Date.now() - started });
      }
      const retryAfterMs = parseRetryAfterMs(res.headers['retry-after']);
      await discardBody(res.body);
      return done(this.httpError(httpStatus, this.statusReason(httpStatus, hadToken), retryAfterMs, started));
    } catch (err) {
      return done(this.networkError(err, timedOut, started));
    } finally {
      clearTimeout(deadline);
      if (this.abort === abort) this.abort = undefined;
    }
  }

  // ---------------------------------------------------------------- internals

  private schedule(delayMs: number): void {
    this.clock.clearTimeout(this.timer);
    if (this.closed || !this.started) {
      this.statsValue.nextPollAt = null;
      return;
    }
    const delay = Math.max(0, Math.min(MAX_DELAY_MS, delayMs));
    this.statsValue.nextPollAt = this.clock.now() + delay;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (!this.inflight) void this.runCycle('poll').catch(() => undefined);
    }, delay);
  }

  private runCycle(trigger: FetchTrigger): Promise<FetchCycle> {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.statsValue.nextPollAt = null;
    const cycle = (async (): Promise<FetchCycle> => {
      const startedAt = Date.now();
      const result = await this.fetchOnce();
      let accepted = false;
      if (!this.closed && this.options.onResult) {
        try {
          accepted = (await this.options.onResult(result, trigger)) === true;
        } catch (err) {
          this.options.log?.('error', `assignments: handling the answer from ${this.endpoint} failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      } else if (!this.options.onResult) {
        accepted = true;
      }
      if (accepted && result.kind === 'document') this.statsValue.etag = result.etag;
      const nextDelayMs = this.closed ? null : this.nextDelay(result);
      if (result.kind === 'error' && nextDelayMs !== null) {
        const when = this.started ? `; next attempt in ${(nextDelayMs / 1000).toFixed(1)} s` : '';
        this.options.log?.('warn', `${result.error.message.replace(/\.$/, '')}${when}`, { code: result.error.code });
      }
      return { trigger, startedAt, result, accepted, nextDelayMs };
    })();
    this.inflight = cycle;
    void cycle.then(
      (c) => {
        if (this.inflight === cycle) this.inflight = undefined;
        if (c.nextDelayMs !== null && !this.queued) this.schedule(c.nextDelayMs);
      },
      () => {
        if (this.inflight === cycle) this.inflight = undefined;
        if (!this.queued) this.schedule(jitteredIntervalMs(this.interval, this.random));
      },
    );
    return cycle;
  }

  private nextDelay(result: FetchResult): number {
    if (result.kind !== 'error') return jitteredIntervalMs(this.interval, this.random);
    const backoff = errorBackoffMs(this.statsValue.consecutiveErrors, this.retryBaseMs, this.retryMaxMs, this.random);
    if (result.retryAfterMs === null) return backoff;
    const honoured = Math.min(this.maxRetryAfterMs, result.retryAfterMs);
    // At least what the server asked for, plus a little jitter so a fleet does not return at once.
    return Math.max(backoff, Math.round(honoured + Math.min(5_000, honoured * 0.1) * this.random()));
  }

  private statusReason(status: number, hadToken: boolean): string {
    const tokenEnv = this.options.tokenEnv;
    if (status === 401 || status === 403) {
      return tokenEnv
        ? `check the bearer token in $${tokenEnv}${hadToken ? '' : ' (it is not set)'} (assignments.tokenEnv)`
        : 'the endpoint wants credentials: set assignments.tokenEnv to the name of a variable holding a bearer token';
    }
    if (status === 404) return 'check assignments.url';
    if (status >= 300 && status < 400) return 'redirects are not followed (a bearer token must not travel to another host): set assignments.url to the final URL';
    if (status === 429 || status === 503) return 'the endpoint asks to come back later';
    if (status >= 500) return 'a server error';
    return 'an unexpected status (expected 200 or 304)';
  }

  private httpError(status: number, reason: string, retryAfterMs: number | null, started: number): FetchResult {
    const after = retryAfterMs !== null ? `; Retry-After ${Math.round(retryAfterMs / 1000)} s` : '';
    const error = new EdgeError('EDGE_ERR_NETWORK', `assignments: ${this.endpoint} answered HTTP ${status}: ${reason}${after}.`, { details: { httpStatus: status } });
    return { kind: 'error', errorKind: 'http', error, httpStatus: status, retryAfterMs, durationMs: Date.now() - started };
  }

  private networkError(err: unknown, timedOut: boolean, started: number): FetchResult {
    const e = err as { message?: string; cause?: { message?: string } };
    const code = errnoOf(err);
    let edge: ErrorCode = 'EDGE_ERR_NETWORK';
    let kind: 'fetch' | 'timeout' = 'fetch';
    let why: string;
    const errno = classifyErrno(code);
    if (timedOut || code === RESPONSE_TIMEOUT) {
      kind = 'timeout';
      why = `no complete answer within ${this.responseTimeoutMs} ms (response timeout)`;
    } else if (errno === 'timed-out') {
      kind = 'timeout';
      edge = connectErrorCode(code);
      why = `could not connect within ${this.connectTimeoutMs} ms (connect timeout)`;
    } else if (errno === 'refused' || errno === 'name-not-resolved') {
      edge = connectErrorCode(code);
      why = connectFailureReason(err);
    } else if (this.closed) {
      why = 'the agent is stopping';
    } else {
      const message = e?.cause?.message ?? e?.message ?? String(err);
      why = `${redactCredentials(message)}${code ? ` (${code})` : ''}`;
    }
    const error = new EdgeError(edge, `assignments: fetching ${this.endpoint} failed: ${why}.`, { details: code ? { cause: code } : undefined });
    return { kind: 'error', errorKind: kind, error, httpStatus: null, retryAfterMs: null, durationMs: Date.now() - started };
  }
}
