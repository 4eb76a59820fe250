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
import { ipFamily, isIPv4 } from './ip-address.js';
import { EdgeError } from '../errors.js';
import { checkHost } from './host-name.js';
import { AddressRanges, globToRegExp, hostNameGlob, parseCidr, parsePortRange, splitHostPortPattern } from './patterns.js';

export interface DestinationAllowList {
  allows(host: string, port: number): boolean;
}

type HostMatcher =
  | { kind: 'any' }
  | { kind: 'any-v6' }
  | { kind: 'name'; re: RegExp }
  | { kind: 'cidr'; ranges: AddressRanges };

interface Pattern { host: HostMatcher; portMin: number; portMax: number }

/** Parses one pattern; throws an Error whose message is the reason. */
export function parseDestinationPattern(pattern: string): Pattern {
  const split = splitHostPortPattern(pattern, '"*.lan:443", "10.0.0.0/8:*", "[::1]:22", "*:*"', '[::1]:22');
  const rawHost = split.host;
  let host: HostMatcher;
  if (split.bracketed) host = rawHost === '*' ? { kind: 'any-v6' } : cidr(rawHost, 6);
  else if (rawHost === '*') host = { kind: 'any' };
  else if (rawHost.includes('/')) host = cidr(rawHost, 4);
  else if (rawHost.includes('*')) host = { kind: 'name', re: hostNameGlob(rawHost) };
  else {
    const checked = checkHost(rawHost);
    if (checked.error !== undefined) throw new Error(checked.error);
    host = isIPv4(checked.host) ? cidr(checked.host, 4) : { kind: 'name', re: globToRegExp(checked.host) };
  }
  return { host, ...parsePortRange(split.port) };
}

function cidr(text: string, family: 4 | 6): HostMatcher {
  const range = parseCidr(text, family);
  if (!range) throw new Error(`"${text}" is not an IPv${family} address or CIDR range`);
  return { kind: 'cidr', ranges: new AddressRanges([range]) };
}

function hostMatches(m: HostMatcher, host: string): boolean {
  const family = ipFamily(host);
  switch (m.kind) {
    case 'any':
      return true;
    case 'any-v6':
      return family === 6;
    case 'cidr':
      return m.ranges.has(host);
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
