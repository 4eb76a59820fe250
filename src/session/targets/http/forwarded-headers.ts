// Request and response headers on their way through the agent (a gateway in RFC 9110 terms).
//
// Hop-by-hop fields (RFC 9110 §7.6.1) belong to one connection and are removed in both
// directions: Connection, every field Connection names, Proxy-Connection, Keep-Alive, TE,
// Transfer-Encoding and Upgrade (an upgrade is passed on explicitly, see upgrade handling).
// Upstream, the agent then says who the request came from:
//   X-Forwarded-For    the channel's origin address as the SSH host reported it; a chain the
//                      client sent is kept (and ours appended) only when the forward trusts it
//   X-Forwarded-Proto  "http" (what reached the SSH host's port), or the trusted incoming value
//   X-Forwarded-Host   the client's Host, or the trusted incoming value
//   Forwarded          RFC 7239: for=<origin>;host=<host>;proto=http, appended to a trusted
//                      incoming list, replacing an untrusted one
// Untrusted incoming values are dropped, not appended to, so that a client cannot make the
// service believe it came from somewhere else. Host is preserved unless the forward rewrites it.
//
// Headers travel as Node's raw flat lists ([name, value, name, value, …]) so that names keep
// their case and order and repeated fields stay separate.
import net from 'node:net';

/** Always hop-by-hop (RFC 9110 §7.6.1), whatever Connection says. */
export const HOP_BY_HOP = new Set(['connection', 'proxy-connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade']);

const FORWARDING_FIELDS = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded']);

/** The field names a message's Connection header(s) list (lower case). */
export function connectionTokens(rawHeaders: readonly string[]): Set<string> {
  const tokens = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() !== 'connection') continue;
    for (const token of rawHeaders[i + 1]!.split(',')) {
      const name = token.trim().toLowerCase();
      if (name) tokens.add(name);
    }
  }
  return tokens;
}

export interface StripOptions {
  /** Extra field names (lower case) to drop as well. */
  drop?: ReadonlySet<string>;
  /** Hop-by-hop names (lower case) to keep anyway, e.g. connection/upgrade on a 101. */
  keep?: ReadonlySet<string>;
}

/** Removes hop-by-hop fields (fixed list plus those Connection names). Never removes Host. */
export function stripHopByHop(rawHeaders: readonly string[], options: StripOptions = {}): string[] {
  const named = connectionTokens(rawHeaders);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    const hop = HOP_BY_HOP.has(lower) || (named.has(lower) && lower !== 'host');
    if ((hop && !options.keep?.has(lower)) || options.drop?.has(lower)) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  return out;
}

/** All values of a field (case-insensitive), in order. */
export function headerValues(rawHeaders: readonly string[], name: string): string[] {
  const lower = name.toLowerCase();
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === lower) values.push(rawHeaders[i + 1]!);
  }
  return values;
}

export interface ForwardingContext {
  /** The outside client's address as the SSH host reported it. */
  originAddress: string;
  /** The scheme the client used to reach the SSH host's port (channels carry plain HTTP). */
  proto: 'http' | 'https';
  /** Keep and extend X-Forwarded-* / Forwarded the client sent. */
  trustIncoming: boolean;
  /** Host header value to send instead of the client's; '' or undefined = keep the client's. */
  hostRewrite?: string;
  /** Fields to drop besides the hop-by-hop ones (lower case), e.g. those the agent sets itself. */
  drop?: ReadonlySet<string>;
}

export interface UpstreamHeaders {
  /** Flat raw list for the upstream request. */
  headers: string[];
  /** The client's Host (first one), if it sent one. */
  clientHost: string | undefined;
}

/**
 * The header list to send to the service for a request whose raw headers are `rawHeaders`:
 * hop-by-hop fields removed, forwarding fields set, Host kept or rewritten.
 */
export function buildUpstreamHeaders(rawHeaders: readonly string[], ctx: ForwardingContext): UpstreamHeaders {
  const drop = new Set<string>([...FORWARDING_FIELDS, ...(ctx.drop ?? [])]);
  const stripped = stripHopByHop(rawHeaders, { drop });
  const clientHost = headerValues(rawHeaders, 'host')[0];

  const headers: string[] = [];
  for (let i = 0; i < stripped.length; i += 2) {
    if (stripped[i]!.toLowerCase() === 'host' && ctx.hostRewrite) {
      headers.push(stripped[i]!, ctx.hostRewrite);
    } else {
      headers.push(stripped[i]!, stripped[i + 1]!);
    }
  }
  if (ctx.hostRewrite && clientHost === undefined) headers.push('host', ctx.hostRewrite);

  const forwardedFor = forwardedForValue(ctx.originAddress);
  const incoming = ctx.trustIncoming
    ? {
      xff: joinValues(headerValues(rawHeaders, 'x-forwarded-for')),
      proto: joinValues(headerValues(rawHeaders, 'x-forwarded-proto')),
      host: joinValues(headerValues(rawHeaders, 'x-forwarded-host')),
      forwarded: joinValues(headerValues(rawHeaders, 'forwarded')),
    }
    : { xff: '', proto: '', host: '', forwarded: '' };

  headers.push('x-forwarded-for', incoming.xff ? `${incoming.xff}, ${forwardedFor}` : forwardedFor);
  headers.push('x-forwarded-proto', incoming.proto || ctx.proto);
  const forwardedHost = incoming.host || clientHost;
  if (forwardedHost) headers.push('x-forwarded-host', forwardedHost);
  const element = forwardedElement(ctx.originAddress, clientHost, ctx.proto);
  headers.push('forwarded', incoming.forwarded ? `${incoming.forwarded}, ${element}` : element);
  return { headers, clientHost };
}

/** The X-Forwarded-For entry for an origin address: the address, or "unknown" if it is not one. */
export function forwardedForValue(originAddress: string): string {
  return net.isIP(originAddress) ? originAddress : 'unknown';
}

/** One RFC 7239 forwarded-element: for=…;host=…;proto=… */
export function forwardedElement(originAddress: string, host: string | undefined, proto: string): string {
  const family = net.isIP(originAddress);
  const node = family === 4 ? originAddress : family === 6 ? `"[${originAddress}]"` : 'unknown';
  const parts = [`for=${node}`];
  if (host) parts.push(`host=${forwardedValue(host)}`);
  parts.push(`proto=${proto}`);
  return parts.join(';');
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A Forwarded parameter value: a token as is, anything else as a quoted-string. */
export function forwardedValue(value: string): string {
  if (TOKEN.test(value)) return value;
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

function joinValues(values: string[]): string {
  return values.map((v) => v.trim()).filter((v) => v !== '').join(', ');
}

export interface ResponseHeaderOptions {
  /** Keep a Trailer field (only when the response goes out chunked and trailers are relayed). */
  keepTrailer: boolean;
}

/** The service's response headers as the client gets them: hop-by-hop fields removed. */
export function buildResponseHeaders(rawHeaders: readonly string[], options: ResponseHeaderOptions): string[] {
  return stripHopByHop(rawHeaders, { drop: options.keepTrailer ? undefined : new Set(['trailer']) });
}
