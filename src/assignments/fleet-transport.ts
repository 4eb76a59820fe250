// The fleet client's HTTP transport (fetching assignments, POSTing status reports) on
// node:http / node:https. It was undici, which cost the main thread of `edge-agent run`
// 7–10 MB of idle RSS (its module graph and llhttp's WebAssembly) for one request every poll
// interval; node:http is loaded there anyway (OTLP exporters, admin server).
//
// What it keeps from the undici dispatcher it replaces: the CA file replaces the system CAs for
// the endpoint (the certificate and host name are verified); a connect timeout covering TCP, the
// proxy's CONNECT answer and TLS; a response timeout until the headers and then between body
// chunks (error code RESPONSE_TIMEOUT); HTTP(S)_PROXY / NO_PROXY (fleet-proxy.ts); redirects are
// not followed; an AbortSignal ends the exchange. A connection per request (undici's 4 s
// keep-alive never outlived a poll interval either).
import http from 'node:http';
import net, { type Socket } from 'node:net';
import { FleetProxySettings, openProxyTunnel, type ProxyOverrides } from './fleet-proxy.js';

// Not `import tls from 'node:tls'`: Node builds an ES module facade of a builtin by reading every
// export, and tls.rootCertificates is a lazy getter: the 144 bundled CA certificates as PEM
// strings (214 KiB) would stay in `run`'s main thread for good. The CA store TLS verifies with is
// native either way.
const tls = process.getBuiltinModule('node:tls');

/** Error code of a response that did not come (headers) or stalled (body) within the response timeout. */
export const RESPONSE_TIMEOUT = 'EDGE_FLEET_RESPONSE_TIMEOUT';

export interface FleetTransportOptions {
  /** CA certificates to trust instead of the system CAs. */
  ca?: Buffer;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  proxy?: ProxyOverrides;
  /** Where HTTP(S)_PROXY / NO_PROXY are read. Default process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface FleetRequest {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  signal: AbortSignal;
}

export interface FleetResponse {
  statusCode: number;
  headers: http.IncomingHttpHeaders;
  /** Every value of every header, each as an array (a repeated X-Edge-Signature stays apart). */
  headersDistinct: Record<string, string[]>;
  body: http.IncomingMessage;
}

const coded = (code: string, message: string) => Object.assign(new Error(message), { code });
// Every part of an exchange gets this: an error a part emits after its promise settled (or that
// only ends it, as our own timeouts do) must not become an uncaught exception.
const ignore = () => undefined;

/** Reads and drops what is left of a body, at most `limit` bytes (then the connection is closed). */
export function discardBody(body: http.IncomingMessage, limit = 128 * 1024): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    body.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > limit) body.destroy();
    });
    body.once('end', resolve).once('close', resolve).once('error', () => resolve());
  });
}

type Part = { destroy(err?: Error): unknown; on(event: 'error', listener: () => void): unknown };

export class FleetTransport {
  private readonly proxies: FleetProxySettings;
  private readonly live = new Set<Part>();

  constructor(private readonly options: FleetTransportOptions) {
    this.proxies = new FleetProxySettings(options.proxy, options.env);
  }

  request(target: string, request: FleetRequest): Promise<FleetResponse> {
    const url = new URL(target);
    const secure = url.protocol === 'https:';
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(url.port) || (secure ? 443 : 80);
    const { connectTimeoutMs, responseTimeoutMs } = this.options;
    const parts: Part[] = [];
    let timer: NodeJS.Timeout | undefined;
    let failure: Error | undefined;
    const track = <T extends Part>(part: T): T => {
      part.on('error', ignore);
      parts.push(part);
      this.live.add(part);
      if (failure) part.destroy(failure); // made after a timeout or abort: ends at once
      return part;
    };
    const fail = (err: Error) => {
      failure ??= err;
      for (const p of parts) p.destroy(failure);
    };
    const onAbort = () => fail(coded('ABORT_ERR', 'the request was aborted'));
    const cleanup = () => {
      clearTimeout(timer);
      request.signal.removeEventListener('abort', onAbort);
      for (const p of parts) this.live.delete(p);
    };
    if (request.signal.aborted) return Promise.reject(coded('ABORT_ERR', 'the request was aborted'));
    // A header Node would refuse (a token with CR/LF, say) fails before any connection is made:
    // http.request() would throw only once the socket is up. The error names the header only.
    try {
      for (const [name, value] of Object.entries(request.headers)) {
        http.validateHeaderName(name);
        http.validateHeaderValue(name, value);
      }
    } catch (err) {
      return Promise.reject(err as Error);
    }
    request.signal.addEventListener('abort', onAbort, { once: true });
    timer = setTimeout(() => fail(coded('ETIMEDOUT', `connect timeout (${connectTimeoutMs} ms)`)), connectTimeoutMs);

    const connected = this.connect(url, secure, host, port, track).then((socket) => {
      if (failure) {
        socket.destroy();
        throw failure;
      }
      return socket;
    });
    return connected.then((socket) => new Promise<FleetResponse>((resolve, reject) => {
      clearTimeout(timer);
      timer = setTimeout(() => fail(coded(RESPONSE_TIMEOUT, `no answer within ${responseTimeoutMs} ms`)), responseTimeoutMs);
      let req: http.ClientRequest;
      try {
        req = track(http.request({
          host, port, method: request.method, path: `${url.pathname}${url.search}`,
          headers: { host: url.host, ...request.headers },
          createConnection: () => socket,
        }));
      } catch (err) {
        fail(err as Error); // the connected socket is tracked: it is destroyed, not left open
        cleanup();
        reject(err as Error);
        return;
      }
      req.on('error', (err) => {
        cleanup();
        reject(failure ?? err);
      });
      req.once('response', (res) => {
        clearTimeout(timer);
        track(res);
        // Between body chunks: at most the response timeout.
        socket.setTimeout(responseTimeoutMs, () => fail(coded(RESPONSE_TIMEOUT, `the answer stalled for ${responseTimeoutMs} ms`)));
        res.once('close', cleanup);
        resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, headersDistinct: res.headersDistinct as Record<string, string[]>, body: res });
      });
      req.end(request.body);
    }), (err: Error) => {
      cleanup();
      throw failure ?? err;
    });
  }

  /** Destroys every connection and exchange in flight. */
  async destroy(): Promise<void> {
    for (const part of this.live) part.destroy(coded('ABORT_ERR', 'the fleet client is closed'));
    this.live.clear();
  }

  /** A connected stream to the endpoint (through the proxy, TLS verified where https). */
  private async connect(url: URL, secure: boolean, host: string, port: number, track: <T extends Part>(p: T) => T): Promise<Socket> {
    const proxy = this.proxies.for(url.protocol, host, port);
    let raw: Socket | undefined;
    if (proxy) {
      raw = track(await openProxyTunnel(proxy, host, port, track));
      if (!secure) return raw;
    }
    const socket = secure
      ? tls.connect({ host, ...(raw ? { socket: raw } : { port }), ...(net.isIP(host) ? {} : { servername: host }), ...(this.options.ca ? { ca: this.options.ca } : {}) })
      : net.connect({ host, port });
    track(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        socket.off('error', reject);
        resolve();
      });
      socket.on('error', reject);
      socket.once('close', () => reject(new Error('the connection closed while connecting')));
    });
    return socket;
  }
}
