// `Upgrade` requests (WebSocket and any other protocol): the request goes to the service through
// the pool with undici's upgrade mechanism (the `upgrade` dispatch option that
// `Dispatcher.upgrade()` is built on — used directly so that a service that declines, say with
// 401 or 426, has its own answer relayed instead of an error). On `101 Switching Protocols` the
// 101 head is written to the client and the connection becomes a raw byte pipe to the service's
// socket in both directions, with the same rules as src/net/channel-pipe.ts: backpressure each way
// (a full side pauses the other), half-close each way (EOF → end()), and once the service's
// socket is gone the client's side is finished and closed. A declined upgrade is answered with
// `Connection: close` (Node's HTTP server has let go of the connection by then).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { ChannelSocket } from './channel-socket.js';
import { stripHopByHop } from './forwarded-headers.js';
import { badRequest, classifyUpstreamError, overloaded, writeRawErrorResponse, type HttpFailure } from './http-errors.js';
import { logFailure, prepareUpstreamRequest, rawHeaderList, timeouts, type ExchangeChannel, type ExchangeForward } from './http-exchange.js';
import { headersDeadline } from './headers-timeout.js';
import { countResponse } from './http-stats.js';
import { withRequestContext } from './trace-context.js';

const KEEP_FOR_101: ReadonlySet<string> = new Set(['connection', 'upgrade']);

export function serveUpgrade(req: IncomingMessage, socket: ChannelSocket, head: Buffer, fwd: ExchangeForward, ch: ExchangeChannel): void {
  const { stats, settings } = fwd;
  stats.requests += 1;
  stats.active += 1;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    stats.active -= 1;
  };
  socket.once('close', release);

  const answer = (f: HttpFailure, err?: Error) => {
    logFailure(fwd, req, socket, f, err);
    release();
    if (f.status === 0) {
      socket.destroy();
      return;
    }
    stats.agentResponses += 1;
    countResponse(stats, f.status);
    writeRawErrorResponse(socket, f, fwd.forwardId);
  };

  if (stats.active > settings.maxConcurrentRequests) return answer(overloaded(settings.maxConcurrentRequests));
  const declared = Number(req.headers['content-length'] ?? 0);
  if (req.headers['transfer-encoding'] !== undefined || declared > 0) return answer(badRequest('an Upgrade request with a body is not supported'));
  const prepared = prepareUpstreamRequest(req, fwd, ch);
  if ('status' in prepared) return answer(prepared);
  const { trace } = prepared;

  let controller: Dispatcher.DispatchController | undefined;
  let responded = false;
  let clientGone = false;
  const deadline = headersDeadline(settings.headersTimeoutMs, (timeout) => {
    if (controller && !controller.aborted) controller.abort(timeout);
  });
  const onClientClose = () => {
    deadline.stop();
    clientGone = true;
    if (controller && !controller.aborted) controller.abort(new Error('the client connection closed'));
    if (!responded) trace.end(undefined, { type: 'client_closed', message: 'client closed the connection' });
  };
  socket.once('close', onClientClose);
  socket.on('drain', () => controller?.resume());

  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(c) {
      controller = c;
      if (clientGone) c.abort(new Error('the client connection closed'));
      else deadline.start();
    },
    onRequestUpgrade(c, statusCode, headers, upstream) {
      deadline.stop();
      socket.off('close', onClientClose);
      responded = true;
      release();
      if (clientGone || socket.destroyed) {
        upstream.destroy();
        return;
      }
      const raw = stripHopByHop(rawHeaderList(c.rawHeaders, headers), { keep: KEEP_FOR_101 });
      socket.write(responseHead(statusCode, 'Switching Protocols', raw));
      countResponse(stats, statusCode);
      stats.upgrades += 1;
      trace.end(statusCode);
      if (head.length > 0) upstream.write(head);
      pipeUpgraded(socket, upstream);
    },
    onResponseStart(c, statusCode, headers, statusMessage) {
      // The service declined the upgrade and answered like any request.
      if (statusCode < 200 || clientGone) return;
      deadline.stop();
      responded = true;
      const raw = stripHopByHop(rawHeaderList(c.rawHeaders, headers));
      raw.push('Connection', 'close');
      socket.write(responseHead(statusCode, statusMessage || 'Unknown', raw));
      countResponse(stats, statusCode);
      trace.end(statusCode);
    },
    onResponseData(c, chunk) {
      if (clientGone) return;
      if (!socket.write(chunk)) c.pause();
    },
    onResponseEnd() {
      release();
      socket.destroySoon();
    },
    onResponseError(_c, err) {
      deadline.stop();
      release();
      if (clientGone) return;
      if (responded) {
        socket.destroy();
        return;
      }
      const f = classifyUpstreamError(err, timeouts(fwd));
      trace.end(f.status || undefined, { type: f.code, message: f.reason });
      answer(f, err);
    },
  };

  try {
    withRequestContext(trace, () => fwd.upstream.dispatch({
      path: prepared.path,
      method: req.method ?? 'GET',
      headers: prepared.headers,
      upgrade: req.headers.upgrade ?? 'websocket',
      body: null,
    }, handler));
  } catch (err) {
    trace.end(400, { type: 'invalid_request', message: (err as Error).message });
    answer(badRequest(`the request cannot be sent on (${(err as Error).message})`), err as Error);
  }
}

function responseHead(status: number, message: string, raw: string[]): string {
  let head = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return `${head}\r\n`;
}

/**
 * Raw bytes both ways between the client's connection and the service's upgraded socket, with
 * backpressure and half-close in each direction; when either side is gone the other follows.
 */
export function pipeUpgraded(client: ChannelSocket, upstream: Duplex): void {
  client.on('data', (chunk: Buffer) => {
    if (!upstream.write(chunk)) client.pause();
  });
  upstream.on('drain', () => client.resume());
  client.on('end', () => {
    if (!upstream.destroyed) upstream.end();
  });

  upstream.on('data', (chunk: Buffer) => {
    if (client.destroyed) return;
    if (!client.write(chunk)) upstream.pause();
  });
  client.on('drain', () => upstream.resume());
  upstream.on('end', () => {
    if (!client.destroyed && !client.writableEnded) client.end();
  });

  upstream.on('error', () => client.destroyWithReason('target-error'));
  client.on('error', () => upstream.destroy());
  // The service's socket is gone: let the client have what was queued, then close.
  upstream.on('close', () => client.destroySoon());
  client.on('close', () => {
    if (!upstream.destroyed) upstream.destroy();
  });
  client.resume();
  upstream.resume();
}
