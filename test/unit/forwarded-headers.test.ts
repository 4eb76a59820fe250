import { describe, expect, it } from 'vitest';
import {
  buildResponseHeaders,
  buildUpstreamHeaders,
  connectionTokens,
  forwardedElement,
  forwardedValue,
  hasHeader,
  headerValues,
  stripHopByHop,
} from '../../src/session/targets/http/forwarded-headers.js';

/** The value(s) of a field in a flat raw list, for assertions. */
const get = (raw: string[], name: string) => headerValues(raw, name);
const names = (raw: string[]) => raw.filter((_, i) => i % 2 === 0);

describe('hop-by-hop fields (RFC 9110 §7.6.1)', () => {
  it('removes the fixed list whatever their case', () => {
    const raw = [
      'Host', 'app', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'TE', 'trailers',
      'Transfer-Encoding', 'chunked', 'Upgrade', 'websocket', 'Proxy-Connection', 'keep-alive', 'Accept', '*/*',
    ];
    expect(stripHopByHop(raw)).toEqual(['Host', 'app', 'Accept', '*/*']);
  });

  it('removes every field the Connection header names, across repeated Connection headers', () => {
    const raw = ['Connection', 'close, X-Secret', 'connection', ' x-other ,', 'X-Secret', '1', 'x-other', '2', 'X-Kept', '3'];
    expect(connectionTokens(raw)).toEqual(new Set(['close', 'x-secret', 'x-other']));
    expect(stripHopByHop(raw)).toEqual(['X-Kept', '3']);
  });

  it('never lets Connection remove Host', () => {
    expect(stripHopByHop(['Host', 'app', 'Connection', 'Host'])).toEqual(['Host', 'app']);
  });

  it('keeps hop-by-hop fields it is asked to keep (a 101 keeps Connection and Upgrade)', () => {
    const raw = ['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Keep-Alive', 'x', 'Sec-WebSocket-Accept', 'abc'];
    expect(stripHopByHop(raw, { keep: new Set(['connection', 'upgrade']) })).toEqual(['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', 'abc']);
  });

  it('keeps names in their case, order and repeats', () => {
    const raw = ['Set-Cookie', 'a=1', 'X-B', '2', 'set-cookie', 'b=2'];
    expect(stripHopByHop(raw)).toEqual(raw);
  });

  it('response headers: Trailer is kept only when trailers will be relayed', () => {
    const raw = ['Content-Type', 'text/plain', 'Trailer', 'X-Sum', 'Transfer-Encoding', 'chunked'];
    expect(buildResponseHeaders(raw, { keepTrailer: true })).toEqual(['Content-Type', 'text/plain', 'Trailer', 'X-Sum']);
    expect(buildResponseHeaders(raw, { keepTrailer: false })).toEqual(['Content-Type', 'text/plain']);
  });
});

describe('forwarding fields', () => {
  const untrusted = { originAddress: '198.51.100.7', proto: 'http' as const, trustIncoming: false };

  it('counts the Host fields the client sent (the exchange refuses more than one)', () => {
    expect(buildUpstreamHeaders(['Accept', '*/*'], untrusted).hostCount).toBe(0);
    const two = buildUpstreamHeaders(['Host', 'a', 'host', 'b'], untrusted);
    expect([two.hostCount, two.clientHost]).toEqual([2, 'a']);
  });

  it('sets X-Forwarded-For/-Proto/-Host and Forwarded from the channel origin', () => {
    const { headers, clientHost } = buildUpstreamHeaders(['Host', 'app.example', 'Accept', '*/*'], untrusted);
    expect(clientHost).toBe('app.example');
    expect(get(headers, 'x-forwarded-for')).toEqual(['198.51.100.7']);
    expect(get(headers, 'x-forwarded-proto')).toEqual(['http']);
    expect(get(headers, 'x-forwarded-host')).toEqual(['app.example']);
    expect(get(headers, 'forwarded')).toEqual(['for=198.51.100.7;host=app.example;proto=http']);
    expect(names(headers).slice(0, 2)).toEqual(['Host', 'Accept']); // the client's fields first, in order
  });

  it('drops what an untrusted client claims instead of appending to it', () => {
    const raw = ['Host', 'app', 'X-Forwarded-For', '10.0.0.1', 'x-forwarded-for', '10.0.0.2', 'X-Forwarded-Proto', 'https',
      'X-Forwarded-Host', 'evil.example', 'Forwarded', 'for=10.0.0.1'];
    const { headers } = buildUpstreamHeaders(raw, untrusted);
    expect(get(headers, 'x-forwarded-for')).toEqual(['198.51.100.7']);
    expect(get(headers, 'x-forwarded-proto')).toEqual(['http']);
    expect(get(headers, 'x-forwarded-host')).toEqual(['app']);
    expect(get(headers, 'forwarded')).toEqual(['for=198.51.100.7;host=app;proto=http']);
  });

  it('appends to a trusted chain (repeated headers joined in order)', () => {
    const raw = ['Host', 'app', 'X-Forwarded-For', '203.0.113.1', 'X-Forwarded-For', '203.0.113.2, 203.0.113.3', 'X-Forwarded-Proto', 'https',
      'X-Forwarded-Host', 'public.example', 'Forwarded', 'for=203.0.113.1;proto=https'];
    const { headers } = buildUpstreamHeaders(raw, { ...untrusted, trustIncoming: true });
    expect(get(headers, 'x-forwarded-for')).toEqual(['203.0.113.1, 203.0.113.2, 203.0.113.3, 198.51.100.7']);
    expect(get(headers, 'x-forwarded-proto')).toEqual(['https']);
    expect(get(headers, 'x-forwarded-host')).toEqual(['public.example']);
    expect(get(headers, 'forwarded')).toEqual(['for=203.0.113.1;proto=https, for=198.51.100.7;host=app;proto=http']);
  });

  it('a trusting forward without incoming fields behaves like an untrusting one', () => {
    const { headers } = buildUpstreamHeaders(['Host', 'app'], { ...untrusted, trustIncoming: true });
    expect(get(headers, 'x-forwarded-for')).toEqual(['198.51.100.7']);
    expect(get(headers, 'x-forwarded-proto')).toEqual(['http']);
  });

  it('quotes IPv6 origins and hosts with a port in Forwarded (RFC 7239 §6)', () => {
    expect(forwardedElement('2001:db8::17', 'app.example:8080', 'http')).toBe('for="[2001:db8::17]";host="app.example:8080";proto=http');
    const { headers } = buildUpstreamHeaders(['Host', '[::1]:8080'], { ...untrusted, originAddress: '2001:db8::17' });
    expect(get(headers, 'x-forwarded-for')).toEqual(['2001:db8::17']);
    expect(get(headers, 'forwarded')).toEqual(['for="[2001:db8::17]";host="[::1]:8080";proto=http']);
  });

  it('reports an origin that is not an IP address as unknown', () => {
    const { headers } = buildUpstreamHeaders(['Host', 'app'], { ...untrusted, originAddress: 'not-an-ip' });
    expect(get(headers, 'x-forwarded-for')).toEqual(['unknown']);
    expect(get(headers, 'forwarded')).toEqual(['for=unknown;host=app;proto=http']);
  });

  it('each request gets the element of its own origin, Host and scheme (the last one is reused only when all three match)', () => {
    const seq: Array<[string, string | undefined, string, string]> = [
      ['198.51.100.7', 'a.example', 'http', 'for=198.51.100.7;host=a.example;proto=http'],
      ['198.51.100.7', 'a.example', 'http', 'for=198.51.100.7;host=a.example;proto=http'],
      ['198.51.100.7', 'b.example', 'http', 'for=198.51.100.7;host=b.example;proto=http'],
      ['198.51.100.8', 'b.example', 'http', 'for=198.51.100.8;host=b.example;proto=http'],
      ['198.51.100.8', 'b.example', 'https', 'for=198.51.100.8;host=b.example;proto=https'],
      ['198.51.100.8', undefined, 'https', 'for=198.51.100.8;proto=https'],
      ['198.51.100.8', 'b.example', 'https', 'for=198.51.100.8;host=b.example;proto=https'],
    ];
    for (const [origin, host, proto, want] of seq) expect(forwardedElement(origin, host, proto)).toBe(want);
    const first = buildUpstreamHeaders(['Host', 'one'], untrusted).headers;
    const second = buildUpstreamHeaders(['Host', 'two'], untrusted).headers;
    expect(get(first, 'forwarded')).toEqual(['for=198.51.100.7;host=one;proto=http']);
    expect(get(second, 'forwarded')).toEqual(['for=198.51.100.7;host=two;proto=http']);
  });

  it('hasHeader finds a field whatever its case, without matching a longer or shorter name', () => {
    expect(hasHeader(['Content-Length', '3'], 'content-length')).toBe(true);
    expect(hasHeader(['content-lengthx', '3', 'Content-Lengt', '3'], 'content-length')).toBe(false);
    expect(hasHeader([], 'content-length')).toBe(false);
  });

  it('escapes quoted-string values', () => {
    expect(forwardedValue('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(forwardedValue('plain.token')).toBe('plain.token');
  });

  it('preserves Host by default and rewrites it when configured (X-Forwarded-Host keeps the client\'s)', () => {
    const kept = buildUpstreamHeaders(['host', 'public.example'], untrusted).headers;
    expect(get(kept, 'host')).toEqual(['public.example']);
    const rewritten = buildUpstreamHeaders(['host', 'public.example'], { ...untrusted, hostRewrite: 'internal:8080' }).headers;
    expect(get(rewritten, 'host')).toEqual(['internal:8080']);
    expect(get(rewritten, 'x-forwarded-host')).toEqual(['public.example']);
    const added = buildUpstreamHeaders([], { ...untrusted, hostRewrite: 'internal' }).headers;
    expect(get(added, 'host')).toEqual(['internal']);
    expect(get(added, 'x-forwarded-host')).toEqual([]);
  });

  it('removes hop-by-hop fields and the extra names it is told to drop', () => {
    const raw = ['Host', 'app', 'Connection', 'X-Hop', 'X-Hop', '1', 'traceparent', '00-…', 'Expect', '100-continue', 'X-End', '2'];
    const { headers } = buildUpstreamHeaders(raw, { ...untrusted, drop: new Set(['traceparent', 'expect']) });
    expect(names(headers)).toEqual(['Host', 'X-End', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded']);
  });

  it('a client cannot strip the agent\'s own fields by naming them in Connection', () => {
    const { headers } = buildUpstreamHeaders(['Host', 'app', 'Connection', 'X-Forwarded-For, Forwarded'], untrusted);
    expect(get(headers, 'x-forwarded-for')).toEqual(['198.51.100.7']);
    expect(get(headers, 'forwarded')).toHaveLength(1);
  });
});
