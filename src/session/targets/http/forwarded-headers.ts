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
    if (isName(rawHeaders[i]!, 'connection')) addTokens(tokens, rawHeaders[i + 1]!);
  }
  return tokens;
}

function addTokens(tokens: Set<string>, value: string): void {
  for (const token of value.split(',')) {
    const name = token.trim().toLowerCase();
    if (name) tokens.add(name);
  }
}

/** Case-insensitive name test against a lower-case name, without allocating for a mismatch. */
function isName(name: string, lower: string): boolean {
  return name.length === lower.length && (name === lower || name.toLowerCase() === lower);
}

/** Connection tokens, or undefined (no allocation) for the common message without Connection. */
function namedByConnection(rawHeaders: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (isName(rawHeaders[i]!, 'connection')) addTokens(tokens ??= new Set(), rawHeaders[i + 1]!);
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
  const named = namedByConnection(rawHeaders);
  const { keep, drop } = options;
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    const hop = HOP_BY_HOP.has(lower) || (named !== undefined && named.has(lower) && lower !== 'host');
    if ((hop && !keep?.has(lower)) || drop?.has(lower)) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  return out;
}

/** Whether a field (lower-case name) is present, without collecting its values. */
export function hasHeader(rawHeaders: readonly string[], lower: string): boolean {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (isName(rawHeaders[i]!, lower)) return true;
  }
  return false;
}

/** All values of a field (case-insensitive), in order. */
export function headerValues(rawHeaders: readonly string[], name: string): string[] {
  const lower = name.toLowerCase();
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (isName(rawHeaders[i]!, lower)) values.push(rawHeaders[i + 1]!);
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
  /** How many Host fields the client sent. */
  hostCount: number;
}

/**
 * The header list to send to the service for a request whose raw headers are `rawHeaders`:
 * hop-by-hop fields removed, forwarding fields set, Host kept or rewritten. One pass over the
 * client's fields (this runs for every request).
 */
export function buildUpstreamHeaders(rawHeaders: readonly string[], ctx: ForwardingContext): UpstreamHeaders {
  const named = namedByConnection(rawHeaders);
  const trust = ctx.trustIncoming;
  const rewrite = ctx.hostRewrite;
  let clientHost: string | undefined;
  let hostCount = 0;
  let xff: string[] | undefined;
  let xfProto: string[] | undefined;
  let xfHost: string[] | undefined;
  let forwarded: string[] | undefined;

  const headers: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    const lower = name.toLowerCase();
    if (lower === 'host') {
      hostCount += 1;
      clientHost ??= value;
      if (!ctx.drop?.has(lower)) headers.push(name, rewrite || value);
      continue;
    }
    if (FORWARDING_FIELDS.has(lower)) {
      if (trust) {
        if (lower === 'x-forwarded-for') (xff ??= []).push(value);
        else if (lower === 'x-forwarded-proto') (xfProto ??= []).push(value);
        else if (lower === 'x-forwarded-host') (xfHost ??= []).push(value);
        else (forwarded ??= []).push(value);
      }
      continue;
    }
    if (HOP_BY_HOP.has(lower) || named?.has(lower) || ctx.drop?.has(lower)) continue;
    headers.push(name, value);
  }
  if (rewrite && clientHost === undefined) headers.push('host', rewrite);

  const forwardedFor = forwardedForValue(ctx.originAddress);
  const incomingXff = xff ? joinValues(xff) : '';
  const incomingProto = xfProto ? joinValues(xfProto) : '';
  const incomingHost = xfHost ? joinValues(xfHost) : '';
  const incomingForwarded = forwarded ? joinValues(forwarded) : '';

  headers.push('x-forwarded-for', incomingXff ? `${incomingXff}, ${forwardedFor}` : forwardedFor);
  headers.push('x-forwarded-proto', incomingProto || ctx.proto);
  const forwardedHost = incomingHost || clientHost;
  if (forwardedHost) headers.push('x-forwarded-host', forwardedHost);
  const element = forwardedElement(ctx.originAddress, clientHost, ctx.proto);
  headers.push('forwarded', incomingForwarded ? `${incomingForwarded}, ${element}` : element);
  return { headers, clientHost, hostCount };
}

/** The X-Forwarded-For entry for an origin address: the address, or "unknown" if it is not one. */
export function forwardedForValue(originAddress: string): string {
  return ipFamily(originAddress) ? originAddress : 'unknown';
}

// net.isIP() runs a regular expression; every request of a connection asks about the same origin.
let lastAddress = '';
let lastFamily = 0;

function ipFamily(address: string): number {
  if (address !== lastAddress) {
    lastFamily = net.isIP(address);
    lastAddress = address;
  }
  return lastFamily;
}

// The same origin, Host and scheme repeat for every request of a connection (and mostly of a
// forward): the last element is kept instead of being built again (a regular expression, joins).
let lastElement = { originAddress: '', host: undefined as string | undefined, proto: '', value: '' };

/** One RFC 7239 forwarded-element: for=…;host=…;proto=… */
export function forwardedElement(originAddress: string, host: string | undefined, proto: string): string {
  const last = lastElement;
  if (last.value !== '' && last.originAddress === originAddress && last.host === host && last.proto === proto) return last.value;
  const value = buildForwardedElement(originAddress, host, proto);
  lastElement = { originAddress, host, proto, value };
  return value;
}

function buildForwardedElement(originAddress: string, host: string | undefined, proto: string): string {
  const family = ipFamily(originAddress);
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

const DROP_TRAILER: StripOptions = { drop: new Set(['trailer']) };
const KEEP_TRAILER: StripOptions = {};

/** The service's response headers as the client gets them: hop-by-hop fields removed. */
export function buildResponseHeaders(rawHeaders: readonly string[], options: ResponseHeaderOptions): string[] {
  return stripHopByHop(rawHeaders, options.keepTrailer ? KEEP_TRAILER : DROP_TRAILER);
}
