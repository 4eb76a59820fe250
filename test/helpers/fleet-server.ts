// Test helper: a real local HTTP(S) server playing the fleet endpoint (loopback only). It
// serves an assignment document with an ETag (answering 304 to a matching If-None-Match) and,
// when given a key, an X-Edge-Signature header; or any other answer a test sets (error
// statuses, garbage, a hang). Every request is recorded with its arrival time and headers.
import { createHash, type KeyObject } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { signAssignmentBody } from '../../src/assignments/signature.js';

export interface FleetRequest {
  /** Epoch ms of arrival. */
  at: number;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** What was answered (status code, or 'hang'). */
  answered: number | 'hang' | 'reset';
}

export type FleetAnswer =
  | { status: number; headers?: Record<string, string>; body?: Buffer | string }
  | 'hang'
  | 'reset';

export interface ServeOptions {
  /** Sign with the server's key (default: when the server has one). */
  sign?: boolean;
  /** Sign with this key instead. */
  signWith?: KeyObject;
  /** Send this X-Edge-Signature value instead of computing one. */
  signature?: string;
  /** Send an ETag and answer 304 to a matching If-None-Match (default true). */
  etag?: boolean;
  /** Serve these exact bytes instead of JSON.stringify(doc). */
  raw?: Buffer | string;
}

export interface FleetServer {
  readonly url: string;
  readonly port: number;
  readonly requests: FleetRequest[];
  /** The ETag of the document being served (null when none). */
  readonly etag: string | null;
  /** Serve this document from now on. */
  serve(doc: unknown, options?: ServeOptions): void;
  /** Answer every request with `handler` from now on. */
  respond(handler: (req: http.IncomingMessage) => FleetAnswer): void;
  /** Resolves once at least `count` requests arrived in total. */
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface FleetServerOptions {
  /** Signs served documents. */
  signingKey?: KeyObject;
  /** Serve HTTPS with this key and certificate (PEM). */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Listen on this port (e.g. to come back where a closed server was). Default: any free port. */
  port?: number;
  /** URL path. Default /v1/devices/device-test/assignments. */
  path?: string;
}

export async function startFleetServer(options: FleetServerOptions = {}): Promise<FleetServer> {
  const requests: FleetRequest[] = [];
  const sockets = new Set<Socket>();
  const waiters = new Set<() => void>();
  let handler: (req: http.IncomingMessage) => FleetAnswer = () => ({ status: 404, body: 'nothing served yet\n' });
  let etag: string | null = null;

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const answer = handler(req);
    requests.push({ at: Date.now(), method: req.method ?? '', url: req.url ?? '', headers: req.headers, answered: typeof answer === 'string' ? answer : answer.status });
    for (const w of waiters) w();
    req.resume();
    if (answer === 'hang') return;
    if (answer === 'reset') {
      req.socket.destroy();
      return;
    }
    res.writeHead(answer.status, answer.headers ?? {});
    res.end(answer.body);
  };
  const server = options.tls ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, onRequest) : http.createServer(onRequest);
  server.on(options.tls ? 'secureConnection' : 'connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const path = options.path ?? '/v1/devices/device-test/assignments';
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}${path}`;

  return {
    url,
    port,
    requests,
    get etag() {
      return etag;
    },
    serve(doc, opts = {}) {
      const body = opts.raw !== undefined ? Buffer.from(opts.raw) : Buffer.from(JSON.stringify(doc, null, 2));
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const tag = opts.etag === false ? null : `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
      if (tag) headers.etag = tag;
      const key = opts.signWith ?? (opts.sign !== false ? options.signingKey : undefined);
      if (opts.signature !== undefined) headers['x-edge-signature'] = opts.signature;
      else if (key) headers['x-edge-signature'] = signAssignmentBody(body, key);
      etag = tag;
      handler = (req) => (tag && req.headers['if-none-match'] === tag ? { status: 304, headers: { etag: tag } } : { status: 200, headers, body });
    },
    respond(h) {
      etag = null;
      handler = h;
    },
    waitForRequests(count, timeoutMs = 15_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (requests.length >= count) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`fleet server: ${requests.length}/${count} requests after ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
