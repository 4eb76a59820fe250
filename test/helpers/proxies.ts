/**
 * Test helpers: minimal but real proxies on 127.0.0.1 for "reach the SSH host through a
 * proxy" tests.
 *
 *   startHttpConnectProxy()   HTTP CONNECT (RFC 9110 §9.3.6); optional Basic auth (407),
 *                             a deny rule (403), 502 when the target refuses
 *   startSocks5Proxy()        SOCKS5 CONNECT (RFC 1928) with "no auth" or username/password
 *                             (RFC 1929); a deny rule ("not allowed by ruleset"), "connection
 *                             refused" when the target refuses
 *
 * Both record every request (target as the client sent it, credentials seen) and count the
 * tunnels they opened, so a test can prove the SSH session really went through them.
 */
import net from 'node:net';

export interface ProxyRequest {
  /** host:port as the client asked for it. */
  target: string;
  host: string;
  port: number;
  /** username:password the client presented, if any. */
  credentials?: string;
  /** What the proxy answered: 'ok', 'denied', 'auth', 'refused'. */
  outcome: 'ok' | 'denied' | 'auth' | 'refused';
}

export interface TestProxy {
  readonly port: number;
  readonly url: string;
  readonly requests: ProxyRequest[];
  /** Tunnels established (outcome 'ok'). */
  readonly tunnels: number;
  close(): Promise<void>;
}

export interface ProxyOptions {
  /** Required credentials; absent = none asked for. */
  auth?: { username: string; password: string };
  /** Refuse (403 / SOCKS ruleset) requests for which this returns true. */
  deny?: (host: string, port: number) => boolean;
  /**
   * HTTP only: send the 200 answer and the target's first bytes (the SSH banner) in one write,
   * as a proxy may: the client must not lose what follows the answer's head.
   */
  coalesce?: boolean;
}

function track(server: net.Server) {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
    add: (s: net.Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    },
  };
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

function splice(a: net.Socket, b: net.Socket): void {
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
  a.pipe(b);
  b.pipe(a);
}

export async function startHttpConnectProxy(opts: ProxyOptions = {}): Promise<TestProxy> {
  const requests: ProxyRequest[] = [];
  let tunnels = 0;
  const server = net.createServer((client) => {
    client.on('error', () => {});
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onData);
      client.pause();
      const rest = head.subarray(end + 4);
      const lines = head.subarray(0, end).toString('latin1').split('\r\n');
      const m = /^CONNECT (\S+) HTTP\/1\.[01]$/.exec(lines[0] ?? '');
      if (!m) {
        client.end('HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const target = m[1]!;
      const colon = target.lastIndexOf(':');
      const host = target.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
      const port = Number(target.slice(colon + 1));
      const authHeader = lines.find((l) => /^proxy-authorization:/i.test(l));
      const basic = authHeader ? /basic\s+(\S+)/i.exec(authHeader)?.[1] : undefined;
      const credentials = basic ? Buffer.from(basic, 'base64').toString('utf8') : undefined;
      const record = (outcome: ProxyRequest['outcome']) => requests.push({ target, host, port, ...(credentials !== undefined ? { credentials } : {}), outcome });
      if (opts.auth && credentials !== `${opts.auth.username}:${opts.auth.password}`) {
        record('auth');
        client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      if (opts.deny?.(host, port)) {
        record('denied');
        client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const upstream = net.connect({ host, port });
      t.add(upstream);
      upstream.once('error', () => {
        record('refused');
        client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
      });
      upstream.once('connect', () => {
        upstream.removeAllListeners('error');
        record('ok');
        tunnels += 1;
        const head = 'HTTP/1.1 200 Connection Established\r\nProxy-Agent: test-proxy\r\n\r\n';
        if (rest.length) upstream.write(rest);
        if (!opts.coalesce) {
          client.write(head);
          splice(client, upstream);
          client.resume();
          return;
        }
        upstream.once('data', (first: Buffer) => {
          upstream.pause();
          client.write(Buffer.concat([Buffer.from(head), first]));
          splice(client, upstream);
          upstream.resume();
          client.resume();
        });
      });
    };
    client.on('data', onData);
  });
  const t = track(server);
  const port = await listen(server);
  return {
    port,
    url: `http://${opts.auth ? `${encodeURIComponent(opts.auth.username)}:${encodeURIComponent(opts.auth.password)}@` : ''}127.0.0.1:${port}`,
    requests,
    get tunnels() { return tunnels; },
    close: t.close,
  };
}

export async function startSocks5Proxy(opts: ProxyOptions = {}): Promise<TestProxy> {
  const requests: ProxyRequest[] = [];
  let tunnels = 0;
  const server = net.createServer((client) => {
    client.on('error', () => {});
    let buf = Buffer.alloc(0);
    let stage: 'greeting' | 'auth' | 'request' = 'greeting';
    let credentials: string | undefined;
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (stage === 'greeting') {
          if (buf.length < 2 || buf.length < 2 + buf[1]!) return;
          const methods = [...buf.subarray(2, 2 + buf[1]!)];
          buf = buf.subarray(2 + buf[1]!);
          const want = opts.auth ? 2 : 0;
          if (!methods.includes(want)) {
            requests.push({ target: '', host: '', port: 0, outcome: 'auth' });
            client.end(Buffer.from([5, 0xff]));
            return;
          }
          client.write(Buffer.from([5, want]));
          stage = want === 2 ? 'auth' : 'request';
        } else if (stage === 'auth') {
          if (buf.length < 2) return;
          const ulen = buf[1]!;
          if (buf.length < 3 + ulen) return;
          const plen = buf[2 + ulen]!;
          if (buf.length < 3 + ulen + plen) return;
          const user = buf.subarray(2, 2 + ulen).toString();
          const pass = buf.subarray(3 + ulen, 3 + ulen + plen).toString();
          buf = buf.subarray(3 + ulen + plen);
          credentials = `${user}:${pass}`;
          if (user !== opts.auth!.username || pass !== opts.auth!.password) {
            requests.push({ target: '', host: '', port: 0, credentials, outcome: 'auth' });
            client.end(Buffer.from([1, 1]));
            return;
          }
          client.write(Buffer.from([1, 0]));
          stage = 'request';
        } else {
          if (buf.length < 5) return;
          const atyp = buf[3]!;
          const addrLen = atyp === 1 ? 4 : atyp === 4 ? 16 : 1 + buf[4]!;
          if (buf.length < 4 + addrLen + 2) return;
          let host: string;
          if (atyp === 1) host = [...buf.subarray(4, 8)].join('.');
          else if (atyp === 3) host = buf.subarray(5, 5 + buf[4]!).toString();
          else host = [...Array(8).keys()].map((i) => buf.readUInt16BE(4 + i * 2).toString(16)).join(':');
          const port = buf.readUInt16BE(4 + addrLen);
          const rest = buf.subarray(4 + addrLen + 2);
          client.off('data', onData);
          client.pause();
          const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
          const record = (outcome: ProxyRequest['outcome']) => requests.push({ target, host, port, ...(credentials !== undefined ? { credentials } : {}), outcome });
          const reply = (code: number) => Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
          if (opts.deny?.(host, port)) {
            record('denied');
            client.end(reply(2));
            return;
          }
          const upstream = net.connect({ host, port });
          t.add(upstream);
          upstream.once('error', () => {
            record('refused');
            client.end(reply(5));
          });
          upstream.once('connect', () => {
            upstream.removeAllListeners('error');
            record('ok');
            tunnels += 1;
            client.write(reply(0));
            if (rest.length) upstream.write(rest);
            splice(client, upstream);
            client.resume();
          });
          return;
        }
      }
    };
    client.on('data', onData);
  });
  const t = track(server);
  const port = await listen(server);
  return {
    port,
    url: `socks5://${opts.auth ? `${encodeURIComponent(opts.auth.username)}:${encodeURIComponent(opts.auth.password)}@` : ''}127.0.0.1:${port}`,
    requests,
    get tunnels() { return tunnels; },
    close: t.close,
  };
}
