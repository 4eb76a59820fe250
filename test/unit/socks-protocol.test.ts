// The pure parts of dynamic forwards and proxies: SOCKS4/4a/5 server-side parsing, the SOCKS
// handshake over a socket, the proxy route for `proxy: "env"`, and the config validation of
// localForwards / dynamicForwards / proxy against the local policy. Destination patterns,
// loopback binds, proxy URLs and NO_PROXY: test/unit/grammar-*.test.ts.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseSessions } from '../../config/validate-sessions.js';
import { maskConfig } from '../../config/mask.js';
import { resolveProxyRoute } from '../../src/session/proxy/proxy-connect.js';
import { createDestinationAllowList } from '../../src/grammar/destination-allow-list.js';
import { isLoopbackBind } from '../../src/grammar/bind.js';
import { maskProxyUrl, noProxyMatches, parseProxyUrl } from '../../src/session/proxy/proxy-connect.js';
import {
  chooseSocks5Method, failureReply, parseSocks4Request, parseSocks5Greeting, parseSocks5Request, parseSocks5UserPass,
  socks4Reply, socks5Reply, socksVersion, SocksError, successReply,
} from '../../src/session/device/socks-protocol.js';
import { socksHandshake } from '../../src/session/device/socks-server.js';
import { thrown } from '../helpers/thrown.js';

const b = (...bytes: Array<number | string | number[]>) => Buffer.concat(bytes.map((x) => (typeof x === 'string' ? Buffer.from(x) : Buffer.from(Array.isArray(x) ? x : [x]))));

const socksError = (fn: () => unknown): SocksError => thrown(fn, SocksError);

describe('SOCKS parsing', () => {
  it('the first byte tells SOCKS5 from SOCKS4; anything else is refused (an HTTP client is named)', () => {
    expect(socksVersion(Buffer.alloc(0))).toBeNull();
    expect(socksVersion(b(5))).toBe(5);
    expect(socksVersion(b(4))).toBe(4);
    expect(socksError(() => socksVersion(b('GET / HTTP/1.1'))).message).toContain('HTTP client');
  });

  it('SOCKS5 greeting: incomplete → null, methods listed, zero methods refused', () => {
    expect(parseSocks5Greeting(b(5))).toBeNull();
    expect(parseSocks5Greeting(b(5, 2, 0))).toBeNull();
    expect(parseSocks5Greeting(b(5, 2, 0, 2, 99))).toEqual({ value: { methods: [0, 2] }, length: 4 });
    expect(socksError(() => parseSocks5Greeting(b(5, 0))).reply).toEqual(b(5, 0xff));
    expect(chooseSocks5Method([0, 2], false)).toBe(0);
    expect(chooseSocks5Method([0, 2], true)).toBe(2);
    expect(chooseSocks5Method([0], true)).toBeNull();
    expect(chooseSocks5Method([2], false)).toBeNull();
  });

  it('RFC 1929 username/password', () => {
    expect(parseSocks5UserPass(b(1, 3, 'dev'))).toBeNull();
    expect(parseSocks5UserPass(b(1, 3, 'dev', 2, 'pw', 'rest'))).toEqual({ value: { username: 'dev', password: 'pw' }, length: 8 });
    expect(parseSocks5UserPass(b(1, 0, 0))).toEqual({ value: { username: '', password: '' }, length: 3 });
    expect(socksError(() => parseSocks5UserPass(b(5, 1, 'a', 1, 'b'))).reply).toEqual(b(1, 1));
  });

  it('SOCKS5 CONNECT for IPv4, IPv6 and a name; other commands and address types get their reply codes', () => {
    expect(parseSocks5Request(b(5, 1, 0, 1, [127, 0, 0, 1]))).toBeNull();
    expect(parseSocks5Request(b(5, 1, 0, 1, [127, 0, 0, 1], [0x1f, 0x90]))).toEqual({ value: { version: 5, host: '127.0.0.1', port: 8080, addressType: 'ipv4' }, length: 10 });
    const v6 = b(5, 1, 0, 4, [...Array(15).fill(0), 1], [0, 22]);
    expect(parseSocks5Request(v6)!.value).toEqual({ version: 5, host: '::1', port: 22, addressType: 'ipv6' });
    expect(parseSocks5Request(b(5, 1, 0, 3, 9, 'LocalHost', [0, 80], 'GET'))).toEqual({ value: { version: 5, host: 'localhost', port: 80, addressType: 'domain' }, length: 16 });
    expect(parseSocks5Request(b(5, 1, 0, 3, 12, 'example.com.', [1, 187]))!.value.host).toBe('example.com');
    expect(socksError(() => parseSocks5Request(b(5, 2, 0, 1, [1, 2, 3, 4], [0, 80]))).reply).toEqual(socks5Reply(7));
    expect(socksError(() => parseSocks5Request(b(5, 3, 0, 1, [1, 2, 3, 4], [0, 80]))).message).toContain('UDP ASSOCIATE');
    expect(socksError(() => parseSocks5Request(b(5, 1, 0, 9, [1, 2, 3, 4], [0, 80]))).reply).toEqual(socks5Reply(8));
    expect(socksError(() => parseSocks5Request(b(5, 1, 0, 3, 0, [0, 80]))).message).toContain('empty');
    expect(socksError(() => parseSocks5Request(b(5, 1, 0, 3, 5, 'a b c', [0, 80]))).message).toContain('bad destination host name');
    expect(socksError(() => parseSocks5Request(b(5, 1, 0, 1, [1, 2, 3, 4], [0, 0]))).message).toContain('port 0');
  });

  it('SOCKS4 and SOCKS4a', () => {
    expect(parseSocks4Request(b(4, 1, [0, 80], [10, 0, 0, 1], 'user'))).toBeNull();
    expect(parseSocks4Request(b(4, 1, [0, 80], [10, 0, 0, 1], 'user', 0, 'x'))).toEqual({ value: { version: 4, host: '10.0.0.1', port: 80, addressType: 'ipv4', userId: 'user' }, length: 13 });
    expect(parseSocks4Request(b(4, 1, [0, 80], [0, 0, 0, 1], 0, 'db.lan'))).toBeNull();
    expect(parseSocks4Request(b(4, 1, [0, 80], [0, 0, 0, 1], 0, 'DB.lan', 0))).toEqual({ value: { version: 4, host: 'db.lan', port: 80, addressType: 'domain', userId: '' }, length: 16 });
    expect(socksError(() => parseSocks4Request(b(4, 2, [0, 80], [1, 2, 3, 4], 0))).reply).toEqual(socks4Reply(false));
    expect(socksError(() => parseSocks4Request(b(4, 1, [0, 80], [1, 2, 3, 4], 'x'.repeat(300)))).message).toContain('longer than 255');
  });

  it('replies', () => {
    expect(successReply(5)).toEqual(b(5, 0, 0, 1, 0, 0, 0, 0, 0, 0));
    expect(successReply(4)).toEqual(b(0, 0x5a, 0, 0, 0, 0, 0, 0));
    expect(failureReply(5, 'denied')[1]).toBe(2);
    expect(failureReply(5, 'refused')[1]).toBe(5);
    expect(failureReply(5, 'unreachable')[1]).toBe(4);
    expect(failureReply(5, 'general')[1]).toBe(1);
    expect(failureReply(4, 'denied')).toEqual(socks4Reply(false));
  });
});

describe('socksHandshake over a socket', () => {
  async function pair(): Promise<{ client: net.Socket; server: net.Socket; close(): void }> {
    const srv = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const accepted = new Promise<net.Socket>((r) => srv.once('connection', r));
    const client = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
    const server = await accepted;
    return { client, server, close: () => { client.destroy(); server.destroy(); srv.close(); } };
  }
  const read = (s: net.Socket, n: number) => new Promise<Buffer>((resolve) => {
    let buf = Buffer.alloc(0);
    const on = (d: Buffer) => { buf = Buffer.concat([buf, d]); if (buf.length >= n) { s.off('data', on); resolve(buf); } };
    s.on('data', on);
  });

  it('SOCKS5 with username/password, byte by byte, with early data kept for the channel', async () => {
    const p = await pair();
    try {
      const hs = socksHandshake(p.server, { auth: { username: 'dev', password: 'pw' }, timeoutMs: 5_000 });
      for (const byte of b(5, 1, 2)) p.client.write(Buffer.from([byte]));
      expect(await read(p.client, 2)).toEqual(b(5, 2));
      p.client.write(b(1, 3, 'dev', 2, 'pw'));
      expect(await read(p.client, 2)).toEqual(b(1, 0));
      p.client.write(b(5, 1, 0, 3, 4, 'host', [0, 80], 'EARLY'));
      const result = await hs;
      expect(result.request).toMatchObject({ version: 5, host: 'host', port: 80 });
      expect(result.username).toBe('dev');
      expect(result.rest.toString()).toBe('EARLY');
    } finally {
      p.close();
    }
  });

  it('wrong password → RFC 1929 failure reply and an auth error; SOCKS4 refused when a password is required', async () => {
    const p = await pair();
    try {
      const hs = socksHandshake(p.server, { auth: { username: 'dev', password: 'pw' }, timeoutMs: 5_000 });
      p.client.write(b(5, 1, 2));
      await read(p.client, 2);
      p.client.write(b(1, 3, 'dev', 3, 'bad'));
      const err = await hs.catch((e: SocksError) => e);
      expect(err).toBeInstanceOf(SocksError);
      expect((err as SocksError).kind).toBe('auth');
      expect(await read(p.client, 2)).toEqual(b(1, 1));
    } finally {
      p.close();
    }
    const q = await pair();
    try {
      const hs = socksHandshake(q.server, { auth: { username: 'dev', password: 'pw' }, timeoutMs: 5_000 });
      q.client.write(b(4, 1, [0, 80], [1, 2, 3, 4], 0));
      expect(((await hs.catch((e: SocksError) => e)) as SocksError).message).toContain('SOCKS4 has no password');
      expect(await read(q.client, 8)).toEqual(socks4Reply(false));
    } finally {
      q.close();
    }
  });

  it('a client that never finishes times out', async () => {
    const p = await pair();
    try {
      const hs = socksHandshake(p.server, { timeoutMs: 100 });
      p.client.write(b(5, 1));
      expect(((await hs.catch((e: SocksError) => e)) as SocksError).message).toContain('did not finish within 100 ms');
    } finally {
      p.close();
    }
  });
});

describe('NO_PROXY and proxy "env"', () => {
  it('route: HTTPS_PROXY first, then ALL_PROXY (lower case wins), NO_PROXY bypass, nothing set = direct', () => {
    const route = (env: NodeJS.ProcessEnv, host = 'gw.example.com') => resolveProxyRoute({ proxy: 'env' }, host, 22, env);
    expect(route({ HTTPS_PROXY: 'http://a:1', ALL_PROXY: 'socks5://b:2' }).proxy).toMatchObject({ kind: 'http', host: 'a' });
    expect(route({ https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:1' }).proxy).toMatchObject({ host: 'lower' });
    expect(route({ ALL_PROXY: 'socks5h://b:2' }).proxy).toMatchObject({ kind: 'socks5h', host: 'b' });
    expect(route({ HTTPS_PROXY: 'http://a:1', NO_PROXY: 'example.com' })).toEqual({ proxy: null, via: 'no-proxy', description: 'direct (NO_PROXY)' });
    expect(route({})).toMatchObject({ proxy: null, via: 'direct' });
    expect(resolveProxyRoute({ proxy: '' }, 'h', 22, { HTTPS_PROXY: 'http://a:1' })).toMatchObject({ proxy: null, via: 'direct' });
    expect(resolveProxyRoute({ proxy: 'http://u:p@x:1' }, 'h', 22, {}).description).toBe('http://***:***@x:1');
    // proxyEnv (resolved in the main thread) wins over the thread's environment
    expect(resolveProxyRoute({ proxy: 'env', proxyEnv: { allProxy: 'socks5://c:3' } }, 'h', 22, { HTTPS_PROXY: 'http://a:1' }).proxy).toMatchObject({ host: 'c' });
    expect(() => route({ HTTPS_PROXY: 'gopher://x:1' })).toThrow(/HTTPS_PROXY/);
  });
});

describe('config: localForwards, dynamicForwards, proxy', () => {
  const ctx = { credentials: { k: { agent: true } }, policy: { allowedTargets: ['127.0.0.1:*'], allowedBindAddresses: ['localhost'] } };
  const session = (extra: Record<string, unknown>) => [{ id: 's', host: 'gw', username: 'u', credential: 'k', hostKeys: { insecureAcceptAny: true }, ...extra }];

  it('fills defaults (allowDestinations empty = deny all, loopback, no relay, 10 s session wait)', () => {
    const { sessions, errors } = parseSessions(session({ localForwards: [{ id: 'l', port: 0, host: 'db', hostPort: 5432 }], dynamicForwards: [{ id: 'd', port: 1080 }] }), ctx);
    expect(errors).toEqual([]);
    expect(sessions[0]).toMatchObject({
      proxy: '', exitOnForwardFailure: false,
      localForwards: [{ id: 'l', bind: 'localhost', port: 0, host: 'db', hostPort: 5432, allowRelay: false, maxChannels: 1024, idleTimeoutMs: 0, sessionWaitMs: 10000, openTimeoutMs: 15000 }],
      dynamicForwards: [{ id: 'd', bind: 'localhost', port: 1080, allowDestinations: [], allowRelay: false }],
    });
  });

  it('reports every problem with its path: relay without allowRelay, policy, patterns, auth pairs, duplicate ids and listeners, proxy', () => {
    const { errors } = parseSessions(session({
      forwards: [{ id: 'x', port: 0, target: 'tcp://127.0.0.1:1' }],
      proxy: 'https://me:pw-secret@proxy:1',
      localForwards: [
        { id: 'x', port: 1, host: 'db', hostPort: 1 },
        { id: 'lan', bind: '0.0.0.0', port: 2, host: 'db', hostPort: 1 },
        { id: 'relay', bind: '0.0.0.0', allowRelay: true, port: 3, host: 'db', hostPort: 1 },
        { id: 'badhost', port: 4, host: 'a b', hostPort: 1 },
      ],
      dynamicForwards: [
        { id: 'd', port: 1, allowDestinations: ['nope'] },
        { id: 'd2', port: 5, username: 'u' },
      ],
    }), ctx);
    expect(errors).toEqual(expect.arrayContaining([
      expect.stringMatching(/^sessions\[0\]\.localForwards\[0\]\.id: duplicate forward id "x" \(also sessions\[0\]\.forwards\[0\]\.id\)/),
      expect.stringMatching(/^sessions\[0\]\.localForwards\[1\]\.allowRelay: bind address "0\.0\.0\.0" is not loopback/),
      expect.stringMatching(/^sessions\[0\]\.localForwards\[1\]\.bind: device bind address "0\.0\.0\.0" is not allowed by the local policy\.allowedLocalBindAddresses/),
      expect.stringMatching(/^sessions\[0\]\.localForwards\[2\]\.bind: device bind address "0\.0\.0\.0" is not allowed/),
      expect.stringMatching(/^sessions\[0\]\.localForwards\[3\]\.host: /),
      expect.stringMatching(/^sessions\[0\]\.dynamicForwards\[0\]\.port: localhost:1 is already a listener of sessions\[0\]\.localForwards\[0\]/),
      expect.stringMatching(/^sessions\[0\]\.dynamicForwards\[0\]\.allowDestinations\[0\]: invalid destination pattern "nope"/),
      expect.stringMatching(/^sessions\[0\]\.dynamicForwards\[1\]\.passwordEnv: SOCKS authentication needs both/),
      expect.stringMatching(/^sessions\[0\]\.proxy: "https:\/\/\*\*\*:\*\*\*@proxy:1" is an https:\/\/ proxy/),
    ]));
    expect(errors.join('\n')).not.toContain('pw-secret');
    expect(errors.some((e) => e.startsWith('sessions[0].localForwards[2].allowRelay'))).toBe(false);
  });

  it('policy.allowedLocalBindAddresses lets the owner allow a relay bind', () => {
    const { errors } = parseSessions(session({ localForwards: [{ id: 'relay', bind: '0.0.0.0', allowRelay: true, port: 3, host: 'db', hostPort: 1 }] }), { ...ctx, policy: { ...ctx.policy, allowedLocalBindAddresses: ['0.0.0.0'] } });
    expect(errors).toEqual([]);
  });

  it('maskConfig masks session proxy credentials', () => {
    const masked = maskConfig({ sessions: [{ id: 's', proxy: 'socks5://u:topsecret@h:1' }] }) as { sessions: Array<{ proxy: string }> };
    expect(masked.sessions[0]!.proxy).toBe('socks5://***:***@h:1');
  });
});
