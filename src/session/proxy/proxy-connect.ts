// Reaching the SSH host through a proxy (a device behind a corporate firewall): HTTP CONNECT,
// SOCKS5 (with optional username/password) and SOCKS4/4a. A session's `proxy` is '' (direct),
// a proxy URL, or 'env' (HTTPS_PROXY, then ALL_PROXY; hosts in NO_PROXY are reached directly).
//
//   http://[user:pass@]host[:port]     HTTP CONNECT (port default 80); Basic auth with user:pass
//   socks5://[user:pass@]host[:port]   SOCKS5, the SSH host name resolved by the agent (port default 1080)
//   socks5h://[user:pass@]host[:port]  SOCKS5, the name resolved by the proxy
//   socks4://[user@]host[:port]        SOCKS4, resolved by the agent (IPv4 only)
//   socks4a://[user@]host[:port]       SOCKS4a, resolved by the proxy
//
// The proxy setting's grammar (parsing, masking, NO_PROXY) is src/grammar/proxy-url.ts.
// Credentials are never shown: every message, status field and span carries maskProxyUrl()'s
// form (`http://***:***@proxy:3128`). Failures say who refused: the proxy could not be reached
// (EDGE_ERR_PROXY_UNREACHABLE), it rejected our credentials (…_AUTH_FAILED), it refused by its
// own policy (…_REFUSED), the SSH host refused or was unreachable from the proxy
// (…_TARGET_REFUSED), or it spoke something else (…_PROTOCOL).
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { EdgeError, type ErrorCode } from '../../errors.js';
import { VERSION } from '../../version.js';
import type { ProxyEnv } from '../session-config.js';
import { checkHost, formatHost } from '../../grammar/host-name.js';
import { noProxyMatches, parseProxyUrl, type ProxySpec } from '../../grammar/proxy-url.js';
import { connectFailureReason } from '../../lifecycle/errno.js';

export interface ProxyRoute {
  proxy: ProxySpec | null;
  /** Why there is no proxy, or where it came from. */
  via: 'direct' | 'config' | 'env' | 'no-proxy';
  /** For status and logs: the masked proxy URL, 'direct', or 'direct (NO_PROXY)'. */
  description: string;
}

/** The variables `proxy: "env"` reads (lower case first, as curl does). */
export function proxyEnvFrom(env: NodeJS.ProcessEnv): ProxyEnv {
  const pick = (...names: string[]) => names.map((n) => env[n]).find((v) => v !== undefined && v.trim() !== '');
  const out: ProxyEnv = {};
  const https = pick('https_proxy', 'HTTPS_PROXY');
  const all = pick('all_proxy', 'ALL_PROXY');
  const no = pick('no_proxy', 'NO_PROXY');
  if (https !== undefined) out.httpsProxy = https.trim();
  if (all !== undefined) out.allProxy = all.trim();
  if (no !== undefined) out.noProxy = no.trim();
  return out;
}

/** How to reach host:port for a session's proxy setting. Throws EDGE_ERR_INVALID_CONFIG for a bad proxy URL. */
export function resolveProxyRoute(cfg: { proxy: string; proxyEnv?: ProxyEnv }, host: string, port: number, env: NodeJS.ProcessEnv = process.env): ProxyRoute {
  if (cfg.proxy === '') return { proxy: null, via: 'direct', description: 'direct' };
  if (cfg.proxy !== 'env') {
    const proxy = parseProxyUrl(cfg.proxy);
    return { proxy, via: 'config', description: proxy.display };
  }
  const vars = cfg.proxyEnv ?? proxyEnvFrom(env);
  const value = vars.httpsProxy ?? vars.allProxy;
  if (value === undefined) return { proxy: null, via: 'direct', description: 'direct (no HTTPS_PROXY or ALL_PROXY set)' };
  if (vars.noProxy !== undefined && noProxyMatches(vars.noProxy, host, port)) {
    return { proxy: null, via: 'no-proxy', description: 'direct (NO_PROXY)' };
  }
  const proxy = parseProxyUrl(value, vars.httpsProxy !== undefined ? 'HTTPS_PROXY' : 'ALL_PROXY');
  return { proxy, via: 'env', description: proxy.display };
}

export interface ProxyConnectOptions {
  /** Covers the TCP connection to the proxy and its answer to the CONNECT request. */
  timeoutMs: number;
  signal: AbortSignal;
}

/** Opens a TCP stream to host:port through `proxy`; the returned socket carries the SSH bytes. */
export async function connectThroughProxy(proxy: ProxySpec, host: string, port: number, opts: ProxyConnectOptions): Promise<net.Socket> {
  const target = `${formatHost(host)}:${port}`;
  const via = `proxy ${proxy.display}`;
  const error = (code: ErrorCode, message: string, cause?: unknown) =>
    new EdgeError(code, message, { details: { proxy: proxy.display, host, port }, ...(cause !== undefined ? { cause } : {}) });

  const socket = net.connect({ host: proxy.host, port: proxy.port, noDelay: true });
  let phase: 'connect' | 'handshake' = 'connect';
  const cleanups: Array<() => void> = [];
  try {
    return await new Promise<net.Socket>((resolve, reject) => {
      let settled = false;
      const finish = (err: EdgeError | null) => {
        if (settled) return;
        settled = true;
        for (const c of cleanups) c();
        if (err) {
          socket.destroy();
          reject(err);
        } else {
          resolve(socket);
        }
      };
      const timer = setTimeout(() => finish(phase === 'connect'
        ? error('EDGE_ERR_PROXY_UNREACHABLE', `TCP connection to ${via} did not complete within ${opts.timeoutMs} ms (connectTimeoutMs); the SSH host ${target} was not contacted.`)
        : error('EDGE_ERR_CONNECT_TIMEOUT', `${via} did not answer the request to connect to SSH host ${target} within ${opts.timeoutMs} ms (connectTimeoutMs).`)), opts.timeoutMs);
      const onAbort = () => finish(new EdgeError('EDGE_ERR_CLOSED', 'The session was closed while connecting.'));
      const onError = (err: NodeJS.ErrnoException) => finish(phase === 'connect'
        ? error('EDGE_ERR_PROXY_UNREACHABLE', `Cannot reach ${via}: ${connectFailureReason(err)}; the SSH host ${target} was not contacted. Check the proxy setting (or HTTPS_PROXY/ALL_PROXY).`, err)
        : error('EDGE_ERR_PROXY_PROTOCOL', `${via} failed while connecting to SSH host ${target}: ${connectFailureReason(err)}.`, err));
      const onClose = () => finish(error('EDGE_ERR_PROXY_REFUSED', `${via} closed the connection without answering the request to connect to SSH host ${target}.`));
      cleanups.push(() => clearTimeout(timer), () => opts.signal.removeEventListener('abort', onAbort), () => socket.off('error', onError), () => socket.off('close', onClose));
      if (opts.signal.aborted) return onAbort();
      opts.signal.addEventListener('abort', onAbort, { once: true });
      socket.on('error', onError);
      socket.once('connect', () => {
        phase = 'handshake';
        socket.once('close', onClose);
        const handshake = proxy.kind === 'http' ? httpConnect(socket, proxy, host, port, target, via, error)
          : proxy.kind.startsWith('socks5') ? socks5Connect(socket, proxy, host, port, target, via, error)
            : socks4Connect(socket, proxy, host, port, target, via, error);
        handshake.then(() => finish(null), (err: EdgeError) => finish(err));
      });
    });
  } finally {
    for (const c of cleanups) c();
  }
}

type MakeError = (code: ErrorCode, message: string, cause?: unknown) => EdgeError;

/** Reads from the socket until `complete(buffer)` returns a length; unshifts what follows. */
function readUntil(socket: net.Socket, complete: (buf: Buffer) => number | null, limit: number, onTooLong: () => EdgeError): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      let n: number | null;
      try {
        n = complete(buf);
      } catch (err) {
        socket.off('data', onData);
        return reject(err);
      }
      if (n === null) {
        if (buf.length > limit) {
          socket.off('data', onData);
          reject(onTooLong());
        }
        return;
      }
      socket.off('data', onData);
      socket.pause();
      if (buf.length > n) socket.unshift(buf.subarray(n));
      resolve(buf.subarray(0, n));
    };
    socket.on('data', onData);
    socket.resume();
  });
}

async function httpConnect(socket: net.Socket, proxy: ProxySpec, host: string, port: number, target: string, via: string, error: MakeError): Promise<void> {
  const lines = [`CONNECT ${target} HTTP/1.1`, `Host: ${target}`, `User-Agent: ssh-edge-agent/${VERSION}`];
  if (proxy.username !== undefined) {
    lines.push(`Proxy-Authorization: Basic ${Buffer.from(`${proxy.username}:${proxy.password ?? ''}`).toString('base64')}`);
  }
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  const head = await readUntil(socket, (buf) => {
    const end = buf.indexOf('\r\n\r\n');
    return end < 0 ? null : end + 4;
  }, 16 * 1024, () => error('EDGE_ERR_PROXY_PROTOCOL', `${via} sent an over-long answer to CONNECT ${target}.`));
  const statusLine = head.toString('latin1').split('\r\n')[0] ?? '';
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!m) throw error('EDGE_ERR_PROXY_PROTOCOL', `${via} answered CONNECT ${target} with "${statusLine.slice(0, 80)}", which is not an HTTP response (is it really an HTTP proxy?).`);
  const status = Number(m[1]);
  const reason = (m[2] ?? '').trim();
  const said = `HTTP ${status}${reason ? ` ${reason}` : ''}`;
  if (status >= 200 && status < 300) return;
  if (status === 407) {
    throw error('EDGE_ERR_PROXY_AUTH_FAILED', proxy.username === undefined
      ? `${via} requires authentication (${said}); put the credentials in the proxy URL (http://user:password@host:port).`
      : `${via} rejected the proxy credentials (${said}).`);
  }
  if (status === 502 || status === 503 || status === 504) {
    throw error('EDGE_ERR_PROXY_TARGET_REFUSED', `${via} could not connect to SSH host ${target} (${said}): the SSH host refused the connection or is unreachable from the proxy.`);
  }
  throw error('EDGE_ERR_PROXY_REFUSED', `${via} refused to connect to SSH host ${target} (${said}); the proxy's policy may not allow CONNECT to that host or port.`);
}

async function socks5Connect(socket: net.Socket, proxy: ProxySpec, host: string, port: number, target: string, via: string, error: MakeError): Promise<void> {
  const methods = proxy.username !== undefined ? [0x00, 0x02] : [0x00];
  socket.write(Buffer.from([5, methods.length, ...methods]));
  const choice = await readUntil(socket, (b) => (b.length >= 2 ? 2 : null), 2, () => error('EDGE_ERR_PROXY_PROTOCOL', `${via} sent an invalid SOCKS5 method reply.`));
  if (choice[0] !== 5) throw error('EDGE_ERR_PROXY_PROTOCOL', `${via} did not answer as a SOCKS5 proxy (version byte ${choice[0]}).`);
  if (choice[1] === 0xff) {
    throw error('EDGE_ERR_PROXY_AUTH_FAILED', proxy.username === undefined
      ? `${via} accepts none of the offered SOCKS5 methods: it requires authentication; put the credentials in the proxy URL (socks5://user:password@host:port).`
      : `${via} accepts neither "no authentication" nor username/password.`);
  }
  if (choice[1] === 0x02) {
    if (proxy.username === undefined) throw error('EDGE_ERR_PROXY_AUTH_FAILED', `${via} asked for username/password authentication, but the proxy URL has none.`);
    const u = Buffer.from(proxy.username);
    const p = Buffer.from(proxy.password ?? '');
    socket.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
    const auth = await readUntil(socket, (b) => (b.length >= 2 ? 2 : null), 2, () => error('EDGE_ERR_PROXY_PROTOCOL', `${via} sent an invalid SOCKS5 authentication reply.`));
    if (auth[1] !== 0) throw error('EDGE_ERR_PROXY_AUTH_FAILED', `${via} rejected the proxy username/password.`);
  } else if (choice[1] !== 0x00) {
    throw error('EDGE_ERR_PROXY_PROTOCOL', `${via} chose SOCKS5 method ${choice[1]}, which was not offered.`);
  }
  let address: Buffer;
  const family = net.isIP(host);
  let dest = host;
  if (family === 0 && proxy.kind === 'socks5') dest = await resolveLocally(host, target, via, false, error);
  const destFamily = net.isIP(dest);
  if (destFamily === 4) address = Buffer.from([1, ...dest.split('.').map(Number)]);
  else if (destFamily === 6) address = Buffer.concat([Buffer.from([4]), ipv6Bytes(dest)]);
  else {
    const name = Buffer.from(dest);
    if (name.length > 255) throw error('EDGE_ERR_INVALID_CONFIG', `SSH host name ${host} is too long for SOCKS5.`);
    address = Buffer.concat([Buffer.from([3, name.length]), name]);
  }
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  socket.write(Buffer.concat([Buffer.from([5, 1, 0]), address, portBytes]));
  const reply = await readUntil(socket, (b) => {
    if (b.length < 5) return null;
    const atyp = b[3];
    const len = atyp === 1 ? 10 : atyp === 4 ? 22 : atyp === 3 ? 7 + b[4]! : -1;
    if (len < 0) {
      if (b[1] !== 0) return 5; // failure replies from some proxies carry no valid address
      throw error('EDGE_ERR_PROXY_PROTOCOL', `${via} sent a SOCKS5 reply with address type ${atyp}.`);
    }
    return b.length >= len ? len : null;
  }, 262, () => error('EDGE_ERR_PROXY_PROTOCOL', `${via} sent an invalid SOCKS5 reply.`));
  if (reply[0] !== 5) throw error('EDGE_ERR_PROXY_PROTOCOL', `${via} sent a SOCKS5 reply with version byte ${reply[0]}.`);
  const rep = reply[1]!;
  if (rep === 0) return;
  const text = SOCKS5_REPLY_TEXT[rep] ?? `reply code ${rep}`;
  if (rep === 0x02 || rep === 0x01) throw error('EDGE_ERR_PROXY_REFUSED', `${via} refused to connect to SSH host ${target} (SOCKS5: ${text}).`);
  if (rep >= 0x03 && rep <= 0x06) throw error('EDGE_ERR_PROXY_TARGET_REFUSED', `${via} could not connect to SSH host ${target} (SOCKS5: ${text}): the SSH host refused the connection or is unreachable from the proxy.`);
  throw error('EDGE_ERR_PROXY_PROTOCOL', `${via} did not accept the CONNECT request for ${target} (SOCKS5: ${text}).`);
}

const SOCKS5_REPLY_TEXT: Record<number, string> = {
  1: 'general SOCKS server failure',
  2: 'connection not allowed by ruleset',
  3: 'network unreachable',
  4: 'host unreachable',
  5: 'connection refused',
  6: 'TTL expired',
  7: 'command not supported',
  8: 'address type not supported',
};

async function socks4Connect(socket: net.Socket, proxy: ProxySpec, host: string, port: number, target: string, via: string, error: MakeError): Promise<void> {
  let ip = host;
  let domain: Buffer | null = null;
  if (net.isIPv6(host)) throw error('EDGE_ERR_INVALID_CONFIG', `SOCKS4 cannot reach the IPv6 SSH host ${target}; use a socks5:// proxy.`);
  if (!net.isIPv4(host)) {
    if (proxy.kind === 'socks4a') {
      ip = '0.0.0.1';
      domain = Buffer.concat([Buffer.from(host), Buffer.from([0])]);
    } else {
      ip = await resolveLocally(host, target, via, true, error);
    }
  }
  const head = Buffer.alloc(8);
  head[0] = 4;
  head[1] = 1;
  head.writeUInt16BE(port, 2);
  ip.split('.').forEach((o, i) => { head[4 + i] = Number(o); });
  socket.write(Buffer.concat([head, Buffer.from(proxy.username ?? ''), Buffer.from([0]), ...(domain ? [domain] : [])]));
  const reply = await readUntil(socket, (b) => (b.length >= 8 ? 8 : null), 8, () => error('EDGE_ERR_PROXY_PROTOCOL', `${via} sent an invalid SOCKS4 reply.`));
  if (reply[0] !== 0) throw error('EDGE_ERR_PROXY_PROTOCOL', `${via} did not answer as a SOCKS4 proxy (version byte ${reply[0]}).`);
  if (reply[1] === 0x5a) return;
  if (reply[1] === 0x5c || reply[1] === 0x5d) throw error('EDGE_ERR_PROXY_AUTH_FAILED', `${via} rejected the request for ${target}: it could not confirm the user id with identd (SOCKS4 code ${reply[1]}).`);
  throw error('EDGE_ERR_PROXY_REFUSED', `${via} rejected the request to connect to SSH host ${target} (SOCKS4 "request rejected or failed": SOCKS4 does not say whether the proxy or the SSH host refused).`);
}

async function resolveLocally(host: string, target: string, via: string, v4Only: boolean, error: MakeError): Promise<string> {
  try {
    const { address } = await lookup(host, v4Only ? { family: 4 } : {});
    return address;
  } catch (err) {
    throw error('EDGE_ERR_HOST_NOT_FOUND', `SSH host name in ${target} did not resolve on the agent (${(err as NodeJS.ErrnoException).code ?? String(err)}), needed for ${via}; use socks5h:// or socks4a:// to let the proxy resolve it.`, err);
  }
}

function ipv6Bytes(address: string): Buffer {
  const full = checkHost(address).host ?? address;
  const [headText, tailText] = full.includes('::') ? full.split('::') : [full, undefined];
  const head = headText ? headText.split(':') : [];
  const tail = tailText ? tailText.split(':') : [];
  const groups = tailText === undefined ? head : [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
