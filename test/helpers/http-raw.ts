/**
 * Test helper: HTTP/1.1 on a raw TCP connection, so that tests see exactly the bytes on the
 * wire (status line, header names in their case and order, chunked framing, trailers) and can
 * send what a normal client never would (pipelined requests in one write, malformed requests,
 * oversized heads, Expect: 100-continue by hand). Loopback only.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';

export interface RawResponse {
  /** 'HTTP/1.1 200 OK' */
  statusLine: string;
  status: number;
  /** In wire order, names as sent. */
  headers: Array<[string, string]>;
  /** Status line + header lines + CRLF, as received. */
  head: Buffer;
  /** The payload, with chunked framing removed. */
  body: Buffer;
  /** Whether the body came chunked. */
  chunked: boolean;
  trailers: Array<[string, string]>;
}

export function header(res: RawResponse, name: string): string | undefined {
  return res.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

export class RawHttpConnection {
  private buffer = Buffer.alloc(0);
  private ended = false;
  private error: Error | undefined;
  private waiters: Array<() => void> = [];
  readonly socket: Socket;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      this.wake();
    });
    socket.on('end', () => { this.ended = true; this.wake(); });
    socket.on('close', () => { this.ended = true; this.wake(); });
    socket.on('error', (e) => { this.error = e; this.ended = true; this.wake(); });
  }

  static async open(port: number, host: '127.0.0.1' | '::1' = '127.0.0.1'): Promise<RawHttpConnection> {
    const socket = connect({ host, port, allowHalfOpen: true });
    await once(socket, 'connect');
    return new RawHttpConnection(socket);
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** True once the peer closed (or reset) the connection. */
  get closed(): boolean {
    return this.ended;
  }

  /** Resolves once the peer has closed the connection (EOF or reset). */
  async waitClosed(timeoutMs = 5_000): Promise<void> {
    await this.waitFor(() => this.ended, timeoutMs, 'the connection to close');
  }

  /** Bytes received and not yet consumed by readResponse(). */
  pending(): Buffer {
    return this.buffer;
  }

  /** Reads the next complete response; `head: true` when it answers a HEAD request. */
  async readResponse(opts: { head?: boolean; timeoutMs?: number } = {}): Promise<RawResponse> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    await this.waitFor(() => this.buffer.indexOf('\r\n\r\n') !== -1 || this.ended, timeoutMs, 'a response head');
    const headEnd = this.buffer.indexOf('\r\n\r\n');
    if (headEnd === -1) throw new Error(`connection ended without a response head; got ${JSON.stringify(this.buffer.toString('latin1'))}${this.error ? ` (${this.error.message})` : ''}`);
    const head = this.buffer.subarray(0, headEnd + 4);
    const lines = head.toString('latin1').split('\r\n').slice(0, -2);
    const statusLine = lines[0]!;
    const status = Number(statusLine.split(' ')[1]);
    const headers = lines.slice(1).map((l) => {
      const i = l.indexOf(':');
      return [l.slice(0, i), l.slice(i + 1).trim()] as [string, string];
    });
    this.buffer = this.buffer.subarray(headEnd + 4);
    const res: RawResponse = { statusLine, status, headers, head: Buffer.from(head), body: Buffer.alloc(0), chunked: false, trailers: [] };
    if (opts.head || status < 200 || status === 204 || status === 304) return res;
    const te = header(res, 'transfer-encoding');
    const cl = header(res, 'content-length');
    if (te && /chunked/i.test(te)) {
      res.chunked = true;
      const parts: Buffer[] = [];
      for (;;) {
        await this.waitFor(() => this.buffer.indexOf('\r\n') !== -1 || this.ended, timeoutMs, 'a chunk size');
        const lineEnd = this.buffer.indexOf('\r\n');
        if (lineEnd === -1) throw new Error('connection ended inside a chunked body');
        const size = parseInt(this.buffer.subarray(0, lineEnd).toString('latin1').split(';')[0]!, 16);
        if (size === 0) {
          this.buffer = this.buffer.subarray(lineEnd + 2);
          // trailers until an empty line
          for (;;) {
            await this.waitFor(() => this.buffer.indexOf('\r\n') !== -1 || this.ended, timeoutMs, 'trailers');
            const end = this.buffer.indexOf('\r\n');
            if (end === -1) throw new Error('connection ended inside trailers');
            const line = this.buffer.subarray(0, end).toString('latin1');
            this.buffer = this.buffer.subarray(end + 2);
            if (line === '') break;
            const i = line.indexOf(':');
            res.trailers.push([line.slice(0, i), line.slice(i + 1).trim()]);
          }
          break;
        }
        await this.waitFor(() => this.buffer.length >= lineEnd + 2 + size + 2 || this.ended, timeoutMs, 'chunk data');
        if (this.buffer.length < lineEnd + 2 + size + 2) throw new Error('connection ended inside a chunk');
        parts.push(Buffer.from(this.buffer.subarray(lineEnd + 2, lineEnd + 2 + size)));
        this.buffer = this.buffer.subarray(lineEnd + 2 + size + 2);
      }
      res.body = Buffer.concat(parts);
    } else if (cl !== undefined) {
      const n = Number(cl);
      await this.waitFor(() => this.buffer.length >= n || this.ended, timeoutMs, `${n} body bytes`);
      if (this.buffer.length < n) throw new Error(`connection ended after ${this.buffer.length} of ${n} body bytes`);
      res.body = Buffer.from(this.buffer.subarray(0, n));
      this.buffer = this.buffer.subarray(n);
    } else {
      await this.waitFor(() => this.ended, timeoutMs, 'the end of a close-delimited body');
      res.body = this.buffer;
      this.buffer = Buffer.alloc(0);
    }
    return res;
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; have ${JSON.stringify(this.buffer.subarray(0, 300).toString('latin1'))}`)), timeoutMs);
      const retry = () => {
        if (check()) {
          clearTimeout(timer);
          resolve();
        } else {
          this.waiters.push(retry);
        }
      };
      this.waiters.push(retry);
    });
  }
}

/** Sends one request on a fresh connection and reads one response. */
export async function rawRequest(port: number, request: string | Buffer, opts: { head?: boolean; timeoutMs?: number } = {}): Promise<RawResponse> {
  const conn = await RawHttpConnection.open(port);
  try {
    conn.send(request);
    return await conn.readResponse(opts);
  } finally {
    conn.close();
  }
}

/** Headers that legitimately differ between a direct answer and one relayed by a gateway. */
export const PER_CONNECTION_HEADERS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding']);

/** The parts of a response a gateway must not change: status line, end-to-end headers in order, body. */
export function comparable(res: RawResponse): { statusLine: string; headers: Array<[string, string]>; body: string; trailers: Array<[string, string]> } {
  return {
    statusLine: res.statusLine,
    headers: res.headers.filter(([n]) => !PER_CONNECTION_HEADERS.has(n.toLowerCase())),
    body: res.body.toString('base64'),
    trailers: res.trailers,
  };
}
