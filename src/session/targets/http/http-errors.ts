// Failure is an answer, never a hang: what the outside client gets when the agent cannot
// relay a request. Each failure has a status (502 the service refused / could not be reached /
// answered nonsense, 504 it took too long, 400 malformed request, 431 request head too large,
// 413 request body over the forward's limit, 503 the forward is at its concurrency limit,
// 405 CONNECT, 501 a transfer coding other than chunked), a
// short plain-text body that names the forward (never the internal target: that is for the log
// line), and whether the connection can carry further requests afterwards.
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ClientAbortedError, RequestBodyTooLargeError } from './request-body.js';
import { classifyErrno } from '../../../lifecycle/errno.js';

export type HttpFailureKind =
  | 'refused'
  | 'unreachable'
  | 'connect-timeout'
  | 'headers-timeout'
  | 'body-timeout'
  | 'tls'
  | 'bad-response'
  | 'service-closed'
  | 'bad-request'
  | 'head-too-large'
  | 'body-too-large'
  | 'overloaded'
  | 'not-supported'
  | 'client-aborted';

export interface HttpFailure {
  kind: HttpFailureKind;
  /** 0 = nothing can be answered (the client is gone). */
  status: number;
  /** One sentence for the client's body and the log. */
  reason: string;
  /** The underlying error code (ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT, HPE_…), for the log and span. */
  code: string;
}

interface Timeouts {
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  connectTimeoutMs: number;
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH|ERR_OSSL_)/;

/** What went wrong talking to the service, as an answer for the client. */
export function classifyUpstreamError(err: Error, timeouts: Timeouts): HttpFailure {
  if (err instanceof RequestBodyTooLargeError) {
    return { kind: 'body-too-large', status: 413, reason: `the request body is larger than this forward accepts (${err.limit} bytes)`, code: err.code };
  }
  if (err instanceof ClientAbortedError) return { kind: 'client-aborted', status: 0, reason: err.message, code: err.code };
  const code = errorCode(err);
  switch (classifyErrno(code)) {
    case 'timed-out':
      return { kind: 'connect-timeout', status: 504, reason: `the service did not accept a connection within ${timeouts.connectTimeoutMs} ms`, code };
    case 'refused':
      return { kind: 'refused', status: 502, reason: 'the service refused the connection (is it running?)', code };
    case 'no-such-file': // a unix-socket target that is not there
    case 'name-not-resolved':
    case 'unreachable':
    case 'permission':
    case 'address-unavailable':
      return { kind: 'unreachable', status: 502, reason: `the service could not be reached (${code})`, code };
    case 'reset':
      return { kind: 'service-closed', status: 502, reason: 'the service closed the connection without a complete answer', code };
    default:
      break;
  }
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'EDGE_HTTP_HEADERS_TIMEOUT':
      return { kind: 'headers-timeout', status: 504, reason: `the service did not answer within ${timeouts.headersTimeoutMs} ms`, code };
    case 'UND_ERR_BODY_TIMEOUT':
      return { kind: 'body-timeout', status: 504, reason: `the service stopped sending its response for ${timeouts.bodyTimeoutMs} ms`, code };
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return { kind: 'service-closed', status: 502, reason: 'the service closed the connection without a complete answer', code };
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
      return { kind: 'client-aborted', status: 0, reason: 'the request body did not match its Content-Length', code };
    case 'UND_ERR_ABORTED':
      return { kind: 'client-aborted', status: 0, reason: 'the request was aborted', code };
    default:
      if (TLS_CODES.test(code)) return { kind: 'tls', status: 502, reason: `the service's TLS certificate was not accepted (${code})`, code };
      if (code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_HEADERS_OVERFLOW' || code === 'UND_ERR_INFO' || code === 'UND_ERR_INVALID_ARG') {
        return { kind: 'bad-response', status: 502, reason: `the service sent an invalid response (${code})`, code };
      }
      return { kind: 'bad-response', status: 502, reason: `the request to the service failed (${code})`, code };
  }
}

/** A parse error from Node's HTTP server ('clientError'), or undefined for a plain socket error. */
export function classifyClientError(err: Error & { code?: string }): HttpFailure | undefined {
  const code = err.code ?? '';
  if (code === 'HPE_HEADER_OVERFLOW') {
    return { kind: 'head-too-large', status: 431, reason: 'the request head is larger than this forward accepts', code };
  }
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') {
    return { kind: 'head-too-large', status: 413, reason: 'the request carries too many chunk extensions', code };
  }
  if (code.startsWith('HPE_')) return { kind: 'bad-request', status: 400, reason: `malformed request (${code})`, code };
  return undefined;
}

export function badRequest(reason: string, code = 'EDGE_HTTP_BAD_REQUEST'): HttpFailure {
  return { kind: 'bad-request', status: 400, reason, code };
}

export function overloaded(limit: number): HttpFailure {
  return { kind: 'overloaded', status: 503, reason: `this forward is already serving ${limit} requests (http.maxConcurrentRequests)`, code: 'EDGE_HTTP_OVERLOADED' };
}

export function bodyTooLarge(limit: number): HttpFailure {
  return { kind: 'body-too-large', status: 413, reason: `the request body is larger than this forward accepts (${limit} bytes)`, code: 'EDGE_HTTP_BODY_TOO_LARGE' };
}

/** The plain-text body: status line words, the forward, the reason. */
export function errorBody(failure: HttpFailure, forwardId: string): string {
  return `${failure.status} ${STATUS_CODES[failure.status] ?? 'Error'}: forward "${forwardId}": ${failure.reason}.\n`;
}

/**
 * Answers on a ServerResponse that has sent nothing yet. `close` ends the connection after the
 * answer (when the rest of the request cannot be skipped safely).
 */
export function sendErrorResponse(res: ServerResponse, failure: HttpFailure, forwardId: string, close: boolean): void {
  const body = Buffer.from(errorBody(failure, forwardId));
  const headers: Array<[string, string]> = [
    ['Content-Type', 'text/plain; charset=utf-8'],
    ['Content-Length', String(body.length)],
    ['Cache-Control', 'no-store'],
  ];
  if (close) headers.push(['Connection', 'close']);
  if (failure.status === 503) headers.push(['Retry-After', '1']);
  res.writeHead(failure.status, headers.flat());
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** Writes a complete error response straight onto a connection Node's HTTP server let go of, then closes it. */
export function writeRawErrorResponse(socket: Duplex & { destroySoon?: () => void }, failure: HttpFailure, forwardId: string): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = errorBody(failure, forwardId);
  socket.write(
    `HTTP/1.1 ${failure.status} ${STATUS_CODES[failure.status] ?? 'Error'}\r\n` +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Cache-Control: no-store\r\n' +
    'Connection: close\r\n\r\n' + body,
  );
  if (socket.destroySoon) socket.destroySoon();
  else socket.end();
}

function errorCode(err: Error & { code?: unknown; errors?: unknown[]; cause?: unknown }): string {
  if (typeof err.code === 'string' && err.code !== '') return err.code;
  // Happy eyeballs (several addresses) fail with an AggregateError of the attempts.
  if (Array.isArray(err.errors) && err.errors.length > 0) {
    const first = err.errors[0] as Error & { code?: unknown };
    if (typeof first.code === 'string') return first.code;
  }
  if (err.cause instanceof Error) return errorCode(err.cause as Error & { code?: unknown });
  return err.name || 'Error';
}
