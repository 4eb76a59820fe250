// One request from an outside client, relayed to the service through the forward's pool and
// its response relayed back — streaming both ways with backpressure:
//   request body:  IncomingMessage → RequestBodyStream → undici → service socket; undici only
//                  reads as fast as the service takes bytes, the IncomingMessage pauses the
//                  channel when its buffer is full, and the SSH window does the rest;
//   response body: undici → ServerResponse → ChannelSocket → SSH channel; a full response
//                  (SSH window, SSH socket over its gate, a pipelined response waiting its turn)
//                  pauses undici, which stops reading the service's socket.
// `Expect: 100-continue` is answered when undici starts sending the request to the service,
// i.e. once a connection to it exists; a final answer without a 100 closes the connection as
// RFC 9110 §10.1.1 allows. Response trailers are relayed when the response goes out chunked.
// 1xx answers other than 101 are not relayed (undici reports them only in part).
// The response head goes out as soon as the service sent it, even with no body byte yet (SSE,
// long poll). A client that closes its side (EOF) while its answer is pending is taken as gone,
// as nginx does: the request to the service is aborted and the channel closed at once, instead of
// holding both until the service answers (up to bodyTimeoutMs).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from '@opentelemetry/api';
import type { Dispatcher } from 'undici';
import { maskQuery } from '../../../grammar/redact.js';
import type { ChannelSocket } from './channel-socket.js';
import { buildResponseHeaders, buildUpstreamHeaders, hasHeader } from './forwarded-headers.js';
import { badRequest, bodyTooLarge, classifyUpstreamError, overloaded, sendErrorResponse, type HttpFailure } from './http-errors.js';
import type { CompiledHttpSettings } from './http-settings.js';
import { countResponse, type HttpStats } from './http-stats.js';
import { headersDeadline } from './headers-timeout.js';
import { ClientAbortedError, RequestBodyStream } from './request-body.js';
import { startRequestSpan, TRACE_HEADERS, withRequestContext, type RequestTrace } from './trace-context.js';
import type { UpstreamLog, UpstreamPool } from './upstream-pool.js';

/** What a request needs to know about its forward. */
export interface ExchangeForward {
  readonly sessionId: string;
  readonly forwardId: string;
  readonly settings: CompiledHttpSettings;
  readonly connectTimeoutMs: number;
  readonly upstream: UpstreamPool;
  readonly stats: HttpStats;
  readonly log: UpstreamLog;
}

/** ... and about its connection. */
export interface ExchangeChannel {
  readonly socket: ChannelSocket;
  readonly channelId: number;
  readonly parentContext?: Context;
}

/** Pipelined requests one connection may have at the service before the agent stops reading it. */
export const MAX_IN_FLIGHT_PER_CONNECTION = 16;
/** A body this small is read and dropped after an early answer, keeping the connection usable. */
const DRAIN_LIMIT = 64 * 1024;
const TRACE_DROP: ReadonlySet<string> = new Set([...TRACE_HEADERS, 'expect', 'trailer', 'content-length']);

export interface PreparedRequest {
  path: string;
  headers: string[];
  trace: RequestTrace;
}

/** Request target, upstream headers and the request's span; or why the request cannot go. */
export function prepareUpstreamRequest(req: IncomingMessage, fwd: ExchangeForward, ch: ExchangeChannel): PreparedRequest | HttpFailure {
  const target = requestTarget(req.url ?? '');
  if ('status' in target) return target;
  const { settings, upstream } = fwd;
  const { headers, clientHost, hostCount } = buildUpstreamHeaders(req.rawHeaders, {
    originAddress: ch.socket.remoteAddress,
    proto: 'http',
    trustIncoming: settings.trustForwardedHeaders,
    hostRewrite: settings.hostHeader || target.host,
    drop: TRACE_DROP,
  });
  if (hostCount > 1) return badRequest('more than one Host header');
  if (hostCount === 0 && req.httpVersion === '1.1') return badRequest('an HTTP/1.1 request needs a Host header');
  const te = req.headers['transfer-encoding'];
  if (te !== undefined && te.trim().toLowerCase() !== 'chunked') {
    return { kind: 'not-supported', status: 501, reason: `transfer coding "${te.slice(0, 40)}" is not supported (only chunked)`, code: 'EDGE_HTTP_TRANSFER_CODING' };
  }
  // A request without Host (HTTP/1.0) gets the target's; undici would do the same.
  if (clientHost === undefined && !settings.hostHeader && !target.host) headers.unshift('host', upstream.defaultHost);
  const contentLength = req.headers['content-length'];
  if (contentLength !== undefined && req.headers['transfer-encoding'] === undefined) headers.push('content-length', contentLength);

  const trace = startRequestSpan({ incoming: req.headers, trustIncoming: settings.trustTraceparent, parent: ch.parentContext }, () => ({
    method: req.method ?? 'GET',
    urlFull: upstreamUrl(upstream.targetUrl, target.path),
    serverAddress: upstream.serverAddress,
    serverPort: upstream.serverPort,
    peerAddress: ch.socket.remoteAddress,
    peerPort: ch.socket.remotePort,
    attributes: {
      'edge_agent.session.id': fwd.sessionId,
      'edge_agent.forward.id': fwd.forwardId,
      'edge_agent.channel.id': ch.channelId,
    },
  }));
  for (let i = 0; i < trace.headers.length; i++) headers.push(trace.headers[i]!);
  return { path: target.path, headers, trace };
}

/** Serves one (non-upgrade) request. */
export function serveRequest(req: IncomingMessage, res: ServerResponse, fwd: ExchangeForward, ch: ExchangeChannel, expectContinue: boolean): void {
  const { stats, settings } = fwd;
  const socket = ch.socket;
  stats.requests += 1;
  const declaredLength = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  const hasBody = req.headers['transfer-encoding'] !== undefined || (declaredLength !== undefined && declaredLength > 0);
  let continueSent = false;
  let finished = false;
  let trace: RequestTrace | undefined;
  let failure: HttpFailure | undefined;

  // Counted from here until the response was handed to the connection (or the connection died).
  stats.active += 1;
  socket.inFlight += 1;
  if (socket.inFlight >= MAX_IN_FLIGHT_PER_CONNECTION) socket.holdInput(true);
  let counted = true;
  const uncount = () => {
    if (!counted) return;
    counted = false;
    stats.active -= 1;
    socket.inFlight -= 1;
    if (socket.inFlight < MAX_IN_FLIGHT_PER_CONNECTION) socket.holdInput(false);
  };
  // 'finish' and 'close' come once each: plain listeners, without once()'s wrapper per request.
  res.on('finish', () => {
    uncount();
    if (socket.draining && socket.inFlight === 0) socket.destroySoon();
  });
  const onClientEnd = () => {
    if (finished) return;
    abortUpstream(new ClientAbortedError('the client closed its connection before the response was complete'));
    socket.destroy();
  };
  socket.on('clientEnd', onClientEnd);
  res.on('close', () => {
    socket.off('clientEnd', onClientEnd);
    finished = true;
    uncount();
    if (!res.writableFinished) {
      // The client went away (or the connection was cut) before the answer was complete.
      abortUpstream(new ClientAbortedError('the client connection closed before the response was complete'));
      trace?.end(res.headersSent ? res.statusCode : undefined, failure ? undefined : { type: 'client_closed', message: 'client closed the connection' });
    } else {
      trace?.end(res.statusCode, failure ? { type: failure.code, message: failure.reason } : undefined);
    }
  });

  // undici's own (v1) handler interface: called directly, without the adapter (and its parsed
  // header objects, two per response) that the onRequestStart/onResponseStart interface costs.
  let abortDispatch: ((reason: Error) => void) | undefined;
  let resumeResponse: (() => void) | undefined;
  let responsePaused = false;
  let dispatchAborted = false;
  let bodyStarted = false;
  let abortReason: Error | undefined;
  let body: RequestBodyStream | undefined;
  const abortRequest = (reason: Error) => {
    if (!abortDispatch || dispatchAborted) return;
    dispatchAborted = true;
    abortDispatch(reason);
  };
  const abortUpstream = (reason: Error) => {
    deadline.stop();
    abortReason ??= reason;
    body?.destroy();
    abortRequest(reason);
  };
  const deadline = headersDeadline(settings.headersTimeoutMs, abortRequest);

  /** An answer from the agent itself. */
  const answer = (f: HttpFailure, err?: Error) => {
    failure = f;
    logFailure(fwd, req, socket, f, err);
    if (f.status === 0 || finished) return;
    if (res.headersSent) {
      // Mid-response: the only honest signal left is a cut connection.
      res.destroy();
      return;
    }
    stats.agentResponses += 1;
    countResponse(stats, f.status);
    sendErrorResponse(res, f, fwd.forwardId, socket.draining || !bodySkippable(f));
  };

  /** After an early answer, can the rest of the request body be skipped and the connection reused? */
  const bodySkippable = (f: HttpFailure): boolean => {
    if (f.kind === 'body-too-large' || f.kind === 'bad-request') return !hasBody;
    if (!hasBody || (body?.complete ?? false)) return true;
    if (expectContinue && !continueSent) return false; // the client holds the body back: close
    if (body !== undefined) return false; // partly forwarded: its remains are not worth reading
    if (declaredLength !== undefined && declaredLength <= DRAIN_LIMIT) {
      req.resume(); // read and drop the small rest; Node's parser then moves on to the next request
      return true;
    }
    return false;
  };

  if (stats.active > settings.maxConcurrentRequests) return answer(overloaded(settings.maxConcurrentRequests));
  if (settings.maxRequestBodyBytes > 0 && declaredLength !== undefined && declaredLength > settings.maxRequestBodyBytes) {
    return answer(bodyTooLarge(settings.maxRequestBodyBytes));
  }
  const prepared = prepareUpstreamRequest(req, fwd, ch);
  if ('status' in prepared) return answer(prepared);
  trace = prepared.trace;

  const sendContinue = () => {
    if (!continueSent && expectContinue && !res.headersSent && !finished) {
      continueSent = true;
      res.writeContinue();
    }
  };
  if (hasBody) {
    body = new RequestBodyStream(req, { maxBytes: settings.maxRequestBodyBytes, onFirstRead: sendContinue });
    body.on('error', () => {}); // undici reports it through onError
  } else {
    sendContinue(); // nothing to hold back; keeps the connection reusable
  }

  // Response trailers can only go out on a chunked response to an HTTP/1.1 client.
  const trailersPossible = req.httpVersion === '1.1' && req.method !== 'HEAD';
  let drainWatched = false;

  const handler: Dispatcher.DispatchHandler = {
    onConnect(abort) {
      abortDispatch = abort;
      if (abortReason) {
        abortRequest(abortReason);
        return;
      }
      // The clock runs once the whole request is out: now, or when the body has been sent.
      if (!body || body.readableEnded) deadline.start();
      else body.once('end', () => deadline.start());
    },
    onHeaders(statusCode, rawHeaders, resume, statusMessage) {
      if (statusCode < 200 || finished) return true;
      deadline.stop();
      resumeResponse = resume;
      const raw = rawHeaderList(rawHeaders, {});
      const chunked = trailersPossible && !hasHeader(raw, 'content-length') && statusCode !== 204 && statusCode !== 304;
      // An answer before the whole request body was sent (a service refusing an upload, say):
      // the rest of that body can no longer be told from the next request, so this response
      // is the connection's last.
      if (socket.draining || (hasBody && !(body?.complete ?? false))) res.shouldKeepAlive = false;
      try {
        res.writeHead(statusCode, statusMessage || undefined, buildResponseHeaders(raw, { keepTrailer: chunked }));
      } catch (err) {
        abortRequest(err as Error);
        return false;
      }
      countResponse(stats, statusCode);
      // Node sends a head with the first body byte; a service that streams (SSE) or holds the
      // body back must not keep the client waiting for it. Checked after this I/O turn, so a head
      // and body that arrived together still leave in one packet.
      flushHeadSoon(flushHead);
      return true;
    },
    onData(chunk) {
      bodyStarted = true;
      if (finished) return true;
      if (res.write(chunk)) return true;
      responsePaused = true;
      if (!drainWatched) {
        // only a response that outgrew its buffer ever waits for 'drain'
        drainWatched = true;
        res.on('drain', () => {
          // `resume` belongs to the service connection's parser, which moves on to other
          // requests: only a pause of this response's own may be lifted here.
          if (!responsePaused) return;
          responsePaused = false;
          resumeResponse?.();
        });
      }
      return false;
    },
    onComplete(trailers) {
      bodyStarted = true;
      if (finished) return;
      const rawTrailers = trailers ? rawHeaderList(trailers, {}) : [];
      if (rawTrailers.length > 0 && res.chunkedEncoding) {
        try {
          res.addTrailers(pairs(rawTrailers));
        } catch {
          // invalid trailer names/values from the service are dropped
        }
      }
      res.end();
    },
    onError(err) {
      deadline.stop();
      if (finished) return;
      answer(classifyUpstreamError(abortReason && err !== abortReason ? abortReason : err, timeouts(fwd)), err);
    },
  };
  const flushHead = () => {
    if (!bodyStarted && !finished && !res.writableEnded) res.flushHeaders();
  };

  try {
    withRequestContext(prepared.trace, () => fwd.upstream.dispatch({
      path: prepared.path,
      method: req.method ?? 'GET',
      headers: prepared.headers,
      body: body ?? null,
    }, handler));
  } catch (err) {
    // undici validates synchronously (path characters, header values, a closed pool)
    answer(badRequest(`the request cannot be sent on (${(err as Error).message})`, (err as { code?: string }).code), err as Error);
  }
}

// Response heads not yet followed by a body byte, flushed together after this I/O turn: one
// Immediate per turn instead of one per response.
const headFlushes: Array<() => void> = [];

function flushHeadSoon(flush: () => void): void {
  if (headFlushes.push(flush) === 1) setImmediate(flushHeads);
}

function flushHeads(): void {
  const due = headFlushes.splice(0);
  for (let i = 0; i < due.length; i++) due[i]!();
}

export function timeouts(fwd: ExchangeForward) {
  return { headersTimeoutMs: fwd.settings.headersTimeoutMs, bodyTimeoutMs: fwd.settings.bodyTimeoutMs, connectTimeoutMs: fwd.connectTimeoutMs };
}

export function logFailure(fwd: ExchangeForward, req: IncomingMessage, socket: ChannelSocket, f: HttpFailure, err?: Error): void {
  const what = `${req.method ?? '?'} ${safePath(req.url ?? '')}`;
  const answer = f.status === 0 ? 'no answer (client gone)' : `answered ${f.status}`;
  fwd.log(f.status >= 500 ? 'warn' : 'info',
    `session ${fwd.sessionId}: forward ${fwd.forwardId}: ${what} from ${socket.remoteAddress}:${socket.remotePort} -> ${fwd.upstream.targetUrl}: ${answer}: ${f.reason}`,
    { code: f.code, status: f.status, ...(err && err.message !== f.reason ? { error: err.message } : {}) });
}

/** The request line's target as a path for the service (origin-form). */
function requestTarget(url: string): { path: string; host?: string } | HttpFailure {
  if (url.startsWith('/')) return { path: url };
  if (/^https?:\/\//i.test(url)) {
    // absolute-form: the authority replaces Host (RFC 9112 §3.2.2)
    try {
      const parsed = new URL(url);
      return { path: `${parsed.pathname}${parsed.search}`, host: parsed.host };
    } catch {
      return badRequest('the request target is not a valid URL');
    }
  }
  return badRequest(`request target form "${url.slice(0, 40)}" is not supported (use a path starting with '/')`);
}

/** url.full for the span: the service's URL with query values redacted (they often carry secrets). */
function upstreamUrl(targetUrl: string, path: string): string {
  const q = path.indexOf('?');
  const base = targetUrl.startsWith('http+unix:') ? `${targetUrl}:` : targetUrl;
  if (q === -1) return `${base}${path}`;
  return `${base}${path.slice(0, q)}?${maskQuery(path.slice(q + 1), 'REDACTED')}`;
}

/** A path for log lines: no query (secrets), bounded length. */
function safePath(url: string): string {
  const path = url.split('?')[0]!;
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
}

/** undici's raw header list when it has one (keeps case, order, repeats), else the parsed object. */
export function rawHeaderList(raw: Dispatcher.DispatchController['rawHeaders'], parsed: Record<string, string | string[] | undefined>): string[] {
  if (Array.isArray(raw)) return raw.map((v) => (typeof v === 'string' ? v : v.toString('latin1')));
  const out: string[] = [];
  for (const [name, value] of Object.entries(parsed)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, value);
  }
  return out;
}

function pairs(raw: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}
