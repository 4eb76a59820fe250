// Feeds SSH channels into one Node `http.Server` per forward, as connections: Node's own
// HTTP/1.1 parser reads each channel (keep-alive, pipelining with in-order responses,
// `Connection: close`, chunked and fixed bodies, HEAD, `Expect: 100-continue`), and every parsed
// request is relayed by http-exchange.ts (upgrades by upgrade-tunnel.ts). The server never
// listens: `server.emit('connection', socket)` is its documented way of taking a connection
// from elsewhere, and the socket is a ChannelSocket (channel-socket.ts).
//
// A request Node cannot parse is answered here — 400, 431 (head over http.maxRequestHeaderBytes),
// 413 (chunk extensions) — with the forward named in the body, and the connection is closed
// afterwards (the parser's place in the byte stream is lost).
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Context } from '@opentelemetry/api';
import type { ChannelSocket } from './channel-socket.js';
import { classifyClientError, writeRawErrorResponse, type HttpFailure } from './http-errors.js';
import { serveRequest, type ExchangeChannel, type ExchangeForward } from './http-exchange.js';
import { countResponse } from './http-stats.js';
import { serveUpgrade } from './upgrade-tunnel.js';

export interface ServedChannel {
  channelId: number;
  parentContext?: Context;
}

export class HttpChannelServer {
  private readonly server: http.Server;
  private readonly channels = new WeakMap<Duplex, ExchangeChannel>();

  constructor(private readonly fwd: ExchangeForward) {
    const { settings } = fwd;
    this.server = http.createServer({
      maxHeaderSize: settings.maxRequestHeaderBytes,
      // Checked by the exchange, so that the 400 names the forward like every other answer.
      requireHostHeader: false,
    });
    // Keep-alive connections idle for this long are closed (0 = never).
    this.server.keepAliveTimeout = settings.keepAliveTimeoutMs;
    this.server.timeout = 0;
    // A client that half-closes after its request still gets the answer (Node would otherwise
    // end the connection at the client's EOF). Public since Node's first http module, though
    // not in @types/node.
    (this.server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;

    this.server.on('request', (req, res) => this.withChannel(req.socket, (ch) => serveRequest(req, res, fwd, ch, false)));
    this.server.on('checkContinue', (req, res) => this.withChannel(req.socket, (ch) => serveRequest(req, res, fwd, ch, true)));
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.withChannel(socket, (ch) => serveUpgrade(req, ch.socket, head, fwd, ch)));
    this.server.on('connect', (req: http.IncomingMessage, socket: Duplex) => {
      this.withChannel(socket, (ch) => this.refuse(ch.socket, {
        kind: 'not-supported', status: 405, code: 'EDGE_HTTP_CONNECT', reason: 'CONNECT is not supported: this is a gateway to one service, not a proxy',
      }, req.method));
    });
    this.server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
      this.withChannel(socket, (ch) => {
        const failure = classifyClientError(err);
        if (!failure) {
          ch.socket.destroy(); // a connection-level error, nothing to answer
          return;
        }
        this.refuse(ch.socket, failure);
      }, () => socket.destroy());
    });
  }

  /** Starts serving HTTP on a channel. */
  serve(socket: ChannelSocket, channel: ServedChannel): void {
    this.channels.set(socket, { socket, channelId: channel.channelId, parentContext: channel.parentContext });
    this.server.emit('connection', socket);
  }

  private withChannel(socket: Duplex, fn: (ch: ExchangeChannel) => void, otherwise?: () => void): void {
    const ch = this.channels.get(socket);
    if (ch) fn(ch);
    else otherwise?.();
  }

  /** An answer for a request that never became a request (or a method the agent will not relay). */
  private refuse(socket: ChannelSocket, failure: HttpFailure, method?: string): void {
    const { stats, log, sessionId, forwardId } = this.fwd;
    stats.requests += 1;
    log('info', `session ${sessionId}: forward ${forwardId}: ${method ? `${method} request` : 'request'} from ${socket.remoteAddress}:${socket.remotePort}: answered ${failure.status}: ${failure.reason}`, { code: failure.code, status: failure.status });
    if (socket.inFlight > 0) {
      // Earlier pipelined answers are still on their way: an error written now would land in
      // the middle of them. Cutting the connection is the only clean signal left.
      socket.destroy();
      return;
    }
    stats.agentResponses += 1;
    countResponse(stats, failure.status);
    writeRawErrorResponse(socket, failure, forwardId);
  }
}
