// Per dynamic forward: which destinations a SOCKS client may ask the SSH host to connect to.
// Checked on the destination as the client wrote it, before any channel is opened. Names are
// not resolved here (the SSH host resolves them), so a name only matches name patterns and an
// IP literal only matches address patterns (and "*").
//
// Pattern syntax, `host:port`:
//   host   "*" any host; a name, with "*" wildcards ("db.lan", "*.corp.example", "10.0.0.*");
//          an IPv4 address or CIDR range ("10.1.2.3", "10.0.0.0/8"); IPv6 in brackets, as an
//          address or range ("[::1]", "[2001:db8::/32]"), or "[*]" for any IPv6 literal
//   port   "*", a number, or a range "8000-8999"
import net from 'node:net';
import { EdgeError } from '../errors.js';
import { checkHost } from './targets.js';

export interface DestinationAllowList {
  allows(host: string, port: number): boolean;
}

type HostMatcher =
  | { kind: 'any' }
  | { kind: 'any-v6' }
  | { kind: 'name'; re: RegExp }
  | { kind: 'cidr'; list: net.BlockList };

interface Pattern { host: HostMatcher; portMin: number; portMax: number }

/** Parses one pattern; throws an Error whose message is the reason. */
export function parseDestinationPattern(pattern: string): Pattern {
  if (typeof pattern !== 'string' || pattern === '') throw new Error('the pattern is empty');
  if (/[\s\x00-\x1f\x7f]/.test(pattern)) throw new Error('the pattern contains whitespace or control characters');
  let rawHost: string;
  let rawPort: string;
  let host: HostMatcher;
  const bracket = /^\[([^\]]*)\]:([^:]*)$/.exec(pattern);
  if (bracket) {
    rawHost = bracket[1]!;
    rawPort = bracket[2]!;
    if (rawHost === '*') host = { kind: 'any-v6' };
    else host = cidr(rawHost, 6);
  } else {
    const colon = pattern.lastIndexOf(':');
    if (colon === -1) throw new Error('expected host:port (e.g. "*.lan:443", "10.0.0.0/8:*", "[::1]:22", "*:*")');
    rawHost = pattern.slice(0, colon);
    rawPort = pattern.slice(colon + 1);
    if (rawHost.includes(':')) throw new Error('write IPv6 addresses in brackets, e.g. "[::1]:22"');
    if (rawHost === '') throw new Error('the host is empty (use "*" for any host)');
    if (rawHost === '*') host = { kind: 'any' };
    else if (rawHost.includes('/')) host = cidr(rawHost, 4);
    else if (rawHost.includes('*')) {
      if (!/^[A-Za-z0-9.*_-]+$/.test(rawHost)) throw new Error(`"${rawHost}" is not a host name pattern`);
      host = { kind: 'name', re: glob(rawHost.toLowerCase()) };
    } else {
      const checked = checkHost(rawHost);
      if (checked.error !== undefined) throw new Error(checked.error);
      host = net.isIPv4(checked.host) ? cidr(checked.host, 4) : { kind: 'name', re: glob(checked.host) };
    }
  }
  let portMin: number;
  let portMax: number;
  const range = /^(\d{1,5})-(\d{1,5})$/.exec(rawPort);
  if (rawPort === '*') [portMin, portMax] = [1, 65535];
  else if (/^\d{1,5}$/.test(rawPort)) portMin = portMax = Number(rawPort);
  else if (range) {
    [portMin, portMax] = [Number(range[1]), Number(range[2])];
    if (portMin > portMax) throw new Error(`port range ${rawPort} is reversed`);
  } else throw new Error(`port "${rawPort}" must be a number, a range like 8000-8999, or "*"`);
  if (portMin < 1 || portMax > 65535) throw new Error(`port ${rawPort} is out of range (1-65535)`);
  return { host, portMin, portMax };
}

function cidr(text: string, family: 4 | 6): HostMatcher {
  const [address, prefixText] = text.split('/');
  const ok = family === 4 ? net.isIPv4(address ?? '') : net.isIPv6(address ?? '');
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!ok || !Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) {
    throw new Error(`"${text}" is not an IPv${family} address or CIDR range`);
  }
  const list = new net.BlockList();
  list.addSubnet(address!, prefix, family === 4 ? 'ipv4' : 'ipv6');
  return { kind: 'cidr', list };
}

function glob(text: string): RegExp {
  return new RegExp(`^${text.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^]*')}$`);
}

function hostMatches(m: HostMatcher, host: string): boolean {
  const family = net.isIP(host);
  switch (m.kind) {
    case 'any':
      return true;
    case 'any-v6':
      return family === 6;
    case 'cidr':
      return family !== 0 && m.list.check(host, family === 6 ? 'ipv6' : 'ipv4');
    case 'name':
      return family !== 6 && m.re.test(host);
  }
}

/** Compiles `entries`; an invalid one throws EDGE_ERR_INVALID_CONFIG naming `configKey[i]`. Empty = nothing allowed. */
export function createDestinationAllowList(entries: readonly string[], configKey: string): DestinationAllowList {
  const patterns = entries.map((entry, i) => {
    try {
      return parseDestinationPattern(entry);
    } catch (err) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${configKey}[${i}]: invalid destination pattern ${JSON.stringify(entry)}: ${(err as Error).message}.`);
    }
  });
  return {
    allows(host: string, port: number): boolean {
      const h = host.toLowerCase().replace(/\.$/, '');
      return patterns.some((p) => port >= p.portMin && port <= p.portMax && hostMatches(p.host, h));
    },
  };
}
