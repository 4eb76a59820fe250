// The server side of the SOCKS protocols a dynamic forward (ssh -D) speaks, as pure functions
// over bytes: SOCKS5 (RFC 1928) with "no authentication" and username/password (RFC 1929),
// SOCKS4 and SOCKS4a. Only CONNECT is supported (no BIND, no UDP ASSOCIATE), as in OpenSSH.
//
// Each parser looks at the bytes received so far (from the start of that message) and returns
// `null` while the message is incomplete, or the message and how many bytes it used. A message
// that can never become valid throws SocksError, which carries the reply to send (if any)
// before closing.
import { checkHost } from '../../grammar/host-name.js';

export const SOCKS5_METHOD = { noAuth: 0x00, userPass: 0x02, noneAcceptable: 0xff } as const;

/** SOCKS5 reply codes (RFC 1928 §6). */
export const SOCKS5_REPLY = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

/** SOCKS4 reply codes. */
export const SOCKS4_REPLY = { granted: 0x5a, rejected: 0x5b } as const;

/** Longest SOCKS4 user id / SOCKS4a host name accepted (a NUL must come within this). */
export const SOCKS4_MAX_FIELD = 255;

export interface SocksRequest {
  version: 4 | 5;
  /** Destination host: an IPv4/IPv6 literal or a host name (lower case, validated). */
  host: string;
  port: number;
  addressType: 'ipv4' | 'ipv6' | 'domain';
  /** SOCKS4 user id (not authentication). */
  userId?: string;
}

export type SocksErrorKind = 'protocol' | 'auth';

export class SocksError extends Error {
  constructor(
    message: string,
    readonly kind: SocksErrorKind,
    /** Bytes to send before closing (a reply in the client's protocol), if any. */
    readonly reply?: Buffer,
  ) {
    super(message);
  }
}

export interface Parsed<T> {
  value: T;
  /** Bytes of the input this message used. */
  length: number;
}

function protocolError(message: string, reply?: Buffer): never {
  throw new SocksError(message, 'protocol', reply);
}

/** The first byte decides: 0x05 SOCKS5, 0x04 SOCKS4/4a; anything else is not SOCKS. */
export function socksVersion(buf: Buffer): 4 | 5 | null {
  if (buf.length === 0) return null;
  if (buf[0] === 5) return 5;
  if (buf[0] === 4) return 4;
  const printable = buf.subarray(0, 8).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
  return protocolError(`not a SOCKS4/4a/5 request (first bytes "${printable}"${/^[A-Z]{3,7} /.test(printable) ? '; an HTTP client pointed at the SOCKS port?' : ''})`);
}

// ---------------------------------------------------------------- SOCKS5

/** VER NMETHODS METHODS… */
export function parseSocks5Greeting(buf: Buffer): Parsed<{ methods: number[] }> | null {
  if (buf.length < 2) return null;
  if (buf[0] !== 5) protocolError(`SOCKS5 greeting with version ${buf[0]}`);
  const n = buf[1]!;
  if (n === 0) protocolError('SOCKS5 greeting offers no authentication method', Buffer.from([5, SOCKS5_METHOD.noneAcceptable]));
  if (buf.length < 2 + n) return null;
  return { value: { methods: [...buf.subarray(2, 2 + n)] }, length: 2 + n };
}

/** Which method to use: username/password when required, else "no authentication"; null = none acceptable. */
export function chooseSocks5Method(offered: readonly number[], passwordRequired: boolean): number | null {
  if (passwordRequired) return offered.includes(SOCKS5_METHOD.userPass) ? SOCKS5_METHOD.userPass : null;
  return offered.includes(SOCKS5_METHOD.noAuth) ? SOCKS5_METHOD.noAuth : null;
}

export function socks5MethodReply(method: number | null): Buffer {
  return Buffer.from([5, method ?? SOCKS5_METHOD.noneAcceptable]);
}

/** RFC 1929: VER(1) ULEN UNAME PLEN PASSWD. */
export function parseSocks5UserPass(buf: Buffer): Parsed<{ username: string; password: string }> | null {
  if (buf.length < 2) return null;
  if (buf[0] !== 1) protocolError(`SOCKS5 username/password request with version ${buf[0]} (expected 1)`, socks5AuthReply(false));
  const ulen = buf[1]!;
  if (buf.length < 2 + ulen + 1) return null;
  const plen = buf[2 + ulen]!;
  const end = 3 + ulen + plen;
  if (buf.length < end) return null;
  return {
    value: { username: buf.subarray(2, 2 + ulen).toString('utf8'), password: buf.subarray(3 + ulen, end).toString('utf8') },
    length: end,
  };
}

export function socks5AuthReply(ok: boolean): Buffer {
  return Buffer.from([1, ok ? 0 : 1]);
}

/** VER CMD RSV ATYP DST.ADDR DST.PORT */
export function parseSocks5Request(buf: Buffer): Parsed<SocksRequest> | null {
  if (buf.length < 5) return null;
  if (buf[0] !== 5) protocolError(`SOCKS5 request with version ${buf[0]}`, socks5Reply(SOCKS5_REPLY.generalFailure));
  const cmd = buf[1]!;
  const atyp = buf[3]!;
  let addrEnd: number;
  if (atyp === 1) addrEnd = 4 + 4;
  else if (atyp === 4) addrEnd = 4 + 16;
  else if (atyp === 3) addrEnd = 5 + buf[4]!;
  else return protocolError(`SOCKS5 address type ${atyp} is not supported`, socks5Reply(SOCKS5_REPLY.addressTypeNotSupported));
  if (buf.length < addrEnd + 2) return null;
  if (cmd !== 1) {
    const name = cmd === 2 ? 'BIND' : cmd === 3 ? 'UDP ASSOCIATE' : `command ${cmd}`;
    protocolError(`SOCKS5 ${name} is not supported (only CONNECT)`, socks5Reply(SOCKS5_REPLY.commandNotSupported));
  }
  const port = buf.readUInt16BE(addrEnd);
  let host: string;
  let addressType: SocksRequest['addressType'];
  if (atyp === 1) {
    host = [...buf.subarray(4, 8)].join('.');
    addressType = 'ipv4';
  } else if (atyp === 4) {
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(4 + i * 2).toString(16));
    host = checkHost(groups.join(':')).host ?? groups.join(':');
    addressType = 'ipv6';
  } else {
    host = domainName(buf.subarray(5, addrEnd), () => socks5Reply(SOCKS5_REPLY.generalFailure));
    addressType = 'domain';
  }
  if (port === 0) protocolError(`SOCKS5 request for port 0 of ${host}`, socks5Reply(SOCKS5_REPLY.generalFailure));
  return { value: { version: 5, host, port, addressType }, length: addrEnd + 2 };
}

/** Reply with BND.ADDR 0.0.0.0:0 (clients ignore it for CONNECT; OpenSSH sends the same). */
export function socks5Reply(code: number): Buffer {
  return Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
}

// ---------------------------------------------------------------- SOCKS4 / SOCKS4a

/** VN(4) CD DSTPORT DSTIP USERID NUL [HOST NUL when DSTIP is 0.0.0.x, x != 0 (SOCKS4a)] */
export function parseSocks4Request(buf: Buffer): Parsed<SocksRequest> | null {
  if (buf.length < 8) return null;
  if (buf[0] !== 4) protocolError(`SOCKS4 request with version ${buf[0]}`);
  const cmd = buf[1]!;
  if (cmd !== 1) protocolError(`SOCKS4 ${cmd === 2 ? 'BIND' : `command ${cmd}`} is not supported (only CONNECT)`, socks4Reply(false));
  const port = buf.readUInt16BE(2);
  const ip = [...buf.subarray(4, 8)];
  const userEnd = nulAt(buf, 8, 'SOCKS4 user id');
  if (userEnd === null) return null;
  const userId = buf.subarray(8, userEnd).toString('utf8');
  const is4a = ip[0] === 0 && ip[1] === 0 && ip[2] === 0 && ip[3] !== 0;
  if (port === 0) protocolError('SOCKS4 request for port 0', socks4Reply(false));
  if (!is4a) {
    return { value: { version: 4, host: ip.join('.'), port, addressType: 'ipv4', userId }, length: userEnd + 1 };
  }
  const hostEnd = nulAt(buf, userEnd + 1, 'SOCKS4a host name');
  if (hostEnd === null) return null;
  const host = domainName(buf.subarray(userEnd + 1, hostEnd), () => socks4Reply(false));
  return { value: { version: 4, host, port, addressType: 'domain', userId }, length: hostEnd + 1 };
}

export function socks4Reply(granted: boolean): Buffer {
  return Buffer.from([0, granted ? SOCKS4_REPLY.granted : SOCKS4_REPLY.rejected, 0, 0, 0, 0, 0, 0]);
}

function nulAt(buf: Buffer, from: number, what: string): number | null {
  const at = buf.indexOf(0, from);
  if (at >= 0) {
    if (at - from > SOCKS4_MAX_FIELD) protocolError(`${what} is longer than ${SOCKS4_MAX_FIELD} bytes`, socks4Reply(false));
    return at;
  }
  if (buf.length - from > SOCKS4_MAX_FIELD) protocolError(`${what} is longer than ${SOCKS4_MAX_FIELD} bytes`, socks4Reply(false));
  return null;
}

/** A host name from the wire: non-empty, printable, a valid host name (or IP literal) — normalized. */
function domainName(raw: Buffer, reply: () => Buffer): string {
  const text = raw.toString('utf8').replace(/\.$/, '');
  if (text === '') protocolError('empty destination host name', reply());
  const checked = checkHost(/^\[.*\]$/.test(text) ? text.slice(1, -1) : text);
  if (checked.error !== undefined) protocolError(`bad destination host name: ${checked.error}`, reply());
  return checked.host;
}

/** Reply codes for a failure after the request was understood, by what went wrong. */
export function failureReply(version: 4 | 5, why: 'denied' | 'refused' | 'unreachable' | 'general'): Buffer {
  if (version === 4) return socks4Reply(false);
  const code = why === 'denied' ? SOCKS5_REPLY.notAllowed
    : why === 'refused' ? SOCKS5_REPLY.connectionRefused
      : why === 'unreachable' ? SOCKS5_REPLY.hostUnreachable
        : SOCKS5_REPLY.generalFailure;
  return socks5Reply(code);
}

export function successReply(version: 4 | 5): Buffer {
  return version === 4 ? socks4Reply(true) : socks5Reply(SOCKS5_REPLY.succeeded);
}
