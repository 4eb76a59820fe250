// Which proxy the fleet client goes through, and the CONNECT tunnel to the endpoint through it.
// The semantics are undici's EnvHttpProxyAgent's, which the fleet client used before:
// HTTP_PROXY (http_proxy first) for http:// endpoints, HTTPS_PROXY for https:// ones (falling
// back to HTTP_PROXY), both read once when the client is made; NO_PROXY read at every request
// (curl's rules, src/grammar/proxy-url.ts). The proxy is an http:// or https:// URL (a bare
// host:port means http://), credentials in it go as Proxy-Authorization: Basic. Both kinds of
// endpoint are reached through a CONNECT tunnel, as undici did; the caller puts TLS on top.
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { EdgeError } from '../errors.js';
import { formatHost } from '../grammar/host-name.js';
import { maskProxyUrl, noProxyMatches } from '../grammar/proxy-url.js';

export type ProxyOverrides = { httpProxy?: string; httpsProxy?: string; noProxy?: string };

export interface FleetProxy {
  url: URL;
  /** `Basic …` from the URL's credentials, or undefined. */
  authorization: string | undefined;
  /** The URL with credentials masked. */
  display: string;
}

function parseFleetProxy(value: string, key: string): FleetProxy {
  const display = maskProxyUrl(value);
  const bad = (why: string) => new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: "${display}" ${why} (expected http://[user:pass@]host:port or https://…).`, { details: { key } });
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    throw bad('is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(`has an unsupported scheme "${url.protocol}"`);
  let authorization: string | undefined;
  try {
    if (url.username) authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  } catch {
    throw bad('has badly percent-encoded credentials');
  }
  return { url, authorization, display };
}

/** The proxy settings of one fleet client (environment read now, NO_PROXY at every request). */
export class FleetProxySettings {
  private readonly http: FleetProxy | undefined;
  private readonly https: FleetProxy | undefined;

  constructor(private readonly overrides: ProxyOverrides = {}, private readonly env: NodeJS.ProcessEnv = process.env) {
    const httpValue = overrides.httpProxy ?? env.http_proxy ?? env.HTTP_PROXY;
    this.http = httpValue ? parseFleetProxy(httpValue, overrides.httpProxy !== undefined ? 'proxy.httpProxy' : 'HTTP_PROXY') : undefined;
    const httpsValue = overrides.httpsProxy ?? env.https_proxy ?? env.HTTPS_PROXY;
    this.https = httpsValue ? parseFleetProxy(httpsValue, overrides.httpsProxy !== undefined ? 'proxy.httpsProxy' : 'HTTPS_PROXY') : this.http;
  }

  /** The proxy for an endpoint, or undefined to connect directly. */
  for(protocol: string, host: string, port: number): FleetProxy | undefined {
    const proxy = protocol === 'https:' ? this.https : this.http;
    if (!proxy) return undefined;
    const noProxy = this.overrides.noProxy ?? this.env.no_proxy ?? this.env.NO_PROXY ?? '';
    return noProxy !== '' && noProxyMatches(noProxy, host, port) ? undefined : proxy;
  }
}

/**
 * Opens a tunnel to host:port through `proxy` (CONNECT); resolves with the socket once the proxy
 * answered 2xx. `track` receives the request so the caller can destroy it (timeouts, abort).
 */
export function openProxyTunnel(proxy: FleetProxy, host: string, port: number, track: (req: http.ClientRequest) => void): Promise<Socket> {
  const authority = `${formatHost(host)}:${port}`;
  const headers: Record<string, string> = { host: authority };
  if (proxy.authorization) headers['proxy-authorization'] = proxy.authorization;
  const options = { host: proxy.url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(proxy.url.port) || (proxy.url.protocol === 'https:' ? 443 : 80), method: 'CONNECT', path: authority, headers, agent: false as const };
  return new Promise((resolve, reject) => {
    const req = proxy.url.protocol === 'https:' ? https.request(options) : http.request(options);
    track(req);
    req.once('connect', (res: http.IncomingMessage, socket: Socket, head: Buffer) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        socket.destroy();
        reject(Object.assign(new Error(`the proxy ${proxy.display} answered HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''} to CONNECT ${authority}${status === 407 ? ' (check the credentials in the proxy URL)' : ''}`), { code: 'EPROXYREFUSED' }));
        return;
      }
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.on('error', reject);
    req.once('close', () => reject(new Error(`the proxy ${proxy.display} closed the connection without answering CONNECT ${authority}`)));
    req.end();
  });
}
