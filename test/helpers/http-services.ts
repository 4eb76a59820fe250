/**
 * Test helper: a real HTTP service (node:http on 127.0.0.1, port 0, or a unix socket) with the
 * routes the HTTP-target tests need, and a WebSocket echo endpoint (ws). It records every
 * request it sees (method, url, headers, peer) and counts its TCP connections.
 *
 *   GET  /hello[?…]   fixed-length text, a custom header and two Set-Cookie headers
 *   GET  /chunked     chunked body written in several pieces
 *   POST /echo        echoes the body (fixed length if the request had one, else streamed chunked)
 *   GET  /headers     JSON: the request's headers and raw headers
 *   POST /early       401 at once, without reading the body
 *   GET  /stall       never answers (until the service closes)
 *   GET  /trailers    chunked body with a trailer
 *   GET  /big?bytes=N N deterministic pseudo-random bytes (streamed, backpressure respected)
 *   POST /sink        reads the body; JSON {bytes, crc32}
 *   GET  /ws          WebSocket echo
 *   GET  /no-upgrade  an Upgrade request the service declines: 403 with a body
 */
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { crc32 } from 'node:zlib';
import { WebSocketServer } from 'ws';
import { pseudoRandomChunks } from './tcp-services.js';

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  remoteAddress: string | undefined;
}

export interface HttpService {
  readonly port: number;
  /** The unix socket path when listening on one. */
  readonly socketPath?: string;
  readonly server: http.Server;
  readonly seen: SeenRequest[];
  /** TCP (or unix) connections accepted so far. */
  readonly connections: number;
  /** crc32 and size of the last /big response fully sent. */
  lastDownload?: { bytes: number; crc32: number };
  close(): Promise<void>;
}

/** crc32 over a stream of chunks (zlib.crc32, fast enough for gigabytes). */
export function crc32Update(crc: number, chunk: Buffer): number {
  return crc32(chunk, crc);
}

export async function startHttpService(opts: { socketPath?: string; tls?: { key: string; cert: string } } = {}): Promise<HttpService> {
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const stalled = new Set<http.ServerResponse>();

  const handler: http.RequestListener = (req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, remoteAddress: req.socket.remoteAddress });
    const url = new URL(req.url ?? '/', 'http://service');
    switch (url.pathname) {
      case '/hello': {
        const body = `hello world ${url.search}\n`;
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        res.setHeader('X-Custom', 'a b c');
        res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; Path=/']);
        res.setHeader('Content-Length', Buffer.byteLength(body));
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      case '/chunked': {
        res.setHeader('Content-Type', 'application/octet-stream');
        let i = 0;
        const next = () => {
          if (i === 5) { res.end(); return; }
          res.write(Buffer.alloc(1000 + i, 97 + i));
          i += 1;
          setImmediate(next);
        };
        next();
        return;
      }
      case '/echo': {
        res.setHeader('Content-Type', req.headers['content-type'] ?? 'application/octet-stream');
        if (req.headers['content-length'] === undefined) {
          req.pipe(res); // streamed back as it comes: chunked
          return;
        }
        const parts: Buffer[] = [];
        req.on('data', (c: Buffer) => parts.push(c));
        req.on('end', () => {
          const body = Buffer.concat(parts);
          res.setHeader('Content-Length', body.length);
          res.end(body);
        });
        return;
      }
      case '/headers': {
        req.resume();
        const body = JSON.stringify({ headers: req.headers, rawHeaders: req.rawHeaders });
        res.setHeader('Content-Type', 'application/json');
        res.end(body);
        return;
      }
      case '/early':
        // answers an upload without reading it
        res.writeHead(401, { 'Content-Type': 'text/plain', 'Content-Length': '3' });
        res.end('no\n');
        return;
      case '/stall':
        req.resume();
        stalled.add(res);
        return;
      case '/trailers':
        res.writeHead(200, { 'Content-Type': 'text/plain', Trailer: 'X-Checksum' });
        res.write('abc');
        res.write('def');
        res.addTrailers({ 'X-Checksum': '1234' });
        res.end();
        return;
      case '/big': {
        const bytes = Number(url.searchParams.get('bytes'));
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes) });
        const chunks = pseudoRandomChunks(bytes, 7, 256 * 1024);
        let crc = 0;
        let sent = 0;
        const pump = () => {
          for (;;) {
            const next = chunks.next();
            if (next.done) {
              service.lastDownload = { bytes: sent, crc32: crc };
              res.end();
              return;
            }
            crc = crc32(next.value, crc);
            sent += next.value.length;
            if (!res.write(next.value)) {
              res.once('drain', pump);
              return;
            }
          }
        };
        res.on('close', () => res.off('drain', pump));
        pump();
        return;
      }
      case '/sink': {
        let bytes = 0;
        let crc = 0;
        req.on('data', (c: Buffer) => {
          bytes += c.length;
          crc = crc32(c, crc);
        });
        req.on('end', () => {
          res.setHeader('Content-Type', 'application/json');
          res.end(JSON.stringify({ bytes, crc32: crc }));
        });
        return;
      }
      default:
        res.statusCode = 404;
        res.end('not found\n');
    }
  };
  const server: http.Server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : http.createServer(handler);
  server.on(opts.tls ? 'secureConnection' : 'connection', (s: Socket) => {
    connections += 1;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, remoteAddress: req.socket.remoteAddress });
    if (req.url === '/ws') {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
      return;
    }
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Why: nope\r\nContent-Length: 7\r\n\r\ndenied\n');
  });

  if (opts.socketPath) server.listen(opts.socketPath);
  else server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = opts.socketPath ? 0 : (server.address() as AddressInfo).port;

  const service: HttpService = {
    port,
    socketPath: opts.socketPath,
    server,
    seen,
    get connections() {
      return connections;
    },
    async close() {
      for (const r of stalled) r.destroy();
      for (const c of wss.clients) c.terminate();
      wss.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return service;
}
