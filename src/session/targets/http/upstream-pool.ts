// One undici Pool per HTTP target, shared by every channel of the forward: warm keep-alive
// connections to the service, at most `maxConnections` of them, `pipelining` requests each.
//
//   http://host:port      plain TCP
//   https://host:port     TLS, verified against Node's roots or the forward's caFile; the name
//                         checked (and sent as SNI) is always the target's host — never the
//                         client's Host header, which the agent passes through unchanged.
//                         `insecureSkipVerify` turns verification off and is logged as a warning.
//   http+unix:/path       HTTP over a unix socket (undici `socketPath`)
import net from 'node:net';
import { buildConnector, Pool, type Dispatcher } from 'undici';
import type { ParsedTarget } from '../../../grammar/targets.js';
import type { CompiledHttpSettings } from './http-settings.js';

export type UpstreamLog = (level: 'error' | 'warn' | 'info' | 'debug', message: string, fields?: Record<string, unknown>) => void;

export interface UpstreamPoolOptions {
  forwardId: string;
  settings: CompiledHttpSettings;
  connectTimeoutMs: number;
  log: UpstreamLog;
}

export class UpstreamPool {
  /** Origin the pool dials ('http://localhost' for unix sockets). */
  readonly origin: string;
  /** Where requests go, for logs and the span's url.full: the target URL. */
  readonly targetUrl: string;
  /** server.address / server.port of the span. */
  readonly serverAddress: string;
  readonly serverPort: number | undefined;
  /** Host header for a request that came without one (HTTP/1.0). */
  readonly defaultHost: string;
  /** The TLS server name requests are pinned to (see file header); undefined for plain HTTP. */
  readonly servername: string | undefined;
  private readonly pool: Pool;
  private closing: Promise<void> | undefined;

  constructor(target: ParsedTarget, options: UpstreamPoolOptions) {
    const { settings } = options;
    this.targetUrl = target.url;
    const common: Pool.Options = {
      connections: settings.maxConnections,
      pipelining: settings.pipelining,
      // headersTimeoutMs is enforced by the exchange (headers-timeout.ts); undici's own check
      // (half-second resolution) stays off so that it cannot fire early.
      headersTimeout: 0,
      bodyTimeout: settings.bodyTimeoutMs,
      strictContentLength: true,
    };
    if (target.kind === 'unix') {
      this.origin = 'http://localhost';
      this.serverAddress = target.path;
      this.serverPort = undefined;
      this.defaultHost = 'localhost';
      this.servername = undefined;
      this.pool = new Pool(this.origin, { ...common, socketPath: target.path, connect: { timeout: options.connectTimeoutMs } });
      return;
    }
    if (target.kind !== 'http' && target.kind !== 'https') throw new Error(`not an HTTP target: ${target.url}`);
    this.origin = target.url;
    this.serverAddress = target.host;
    this.serverPort = target.port;
    this.defaultHost = new URL(target.url).host;
    if (target.kind === 'http') {
      this.servername = undefined;
      this.pool = new Pool(this.origin, { ...common, connect: { timeout: options.connectTimeoutMs } });
      return;
    }
    // Requests carry `servername` (undici would otherwise take it from each request's Host
    // header, and drop warm connections whenever it changes); the connector pins what is
    // actually sent as SNI and verified: the target's host name (none for an IP address).
    this.servername = target.host;
    const sni = net.isIP(target.host) ? undefined : target.host;
    if (settings.insecureSkipVerify) {
      options.log('warn', `forward ${options.forwardId}: the TLS certificate of ${target.url} is NOT verified (http.insecureSkipVerify); anyone able to intercept the connection to the service can impersonate it.`);
    }
    const connector = buildConnector({
      timeout: options.connectTimeoutMs,
      rejectUnauthorized: !settings.insecureSkipVerify,
      ...(settings.ca ? { ca: settings.ca } : {}),
      ...(sni ? { servername: sni } : {}),
    });
    const pinned: buildConnector.connector = (opts, callback) => connector({ ...opts, servername: sni }, callback);
    this.pool = new Pool(this.origin, { ...common, connect: pinned });
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    // `servername` is a request option undici honours but does not declare in its types.
    const withName: Dispatcher.DispatchOptions & { servername?: string } = this.servername === undefined ? options : { ...options, servername: this.servername };
    return this.pool.dispatch(withName, handler);
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Lets requests in flight finish, then closes every connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.pool.close().catch(() => {});
    return this.closing;
  }

  /** Aborts everything now. */
  destroy(): Promise<void> {
    this.closing = this.pool.destroy().catch(() => {});
    return this.closing;
  }
}

