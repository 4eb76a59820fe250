// Host names and addresses, the grammar every other value builds on.
//
// checkHost: a target/destination/bind host (WHATWG host parsing, the form net.connect takes).
// checkSshHostName: is this something an SSH host can be called? An IP address or a DNS name (labels of letters,
// digits, '-' and '_', at most 63 bytes each, 253 in all; internationalised names in their
// punycode form). Anything else — a port glued on (`127.0.0.1:2401`), spaces, NUL, shell or URL
// characters — can never resolve, so it is a configuration/usage error (exit 2) instead of a
// name retried forever. A well-formed name that does not resolve (yet) is retried as usual.
import { ipFamily as isIP, isIPv6 } from './ip-address.js';
import { domainToASCII } from 'node:url';

/** OpenSSH refuses host names of NI_MAXHOST (1025) bytes or more. */
const NI_MAXHOST = 1025;

const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/**
 * Returns why `host` cannot be an SSH host name, or undefined when it can. `portHint` names how
 * the port is given where the caller reads it (`port` in a config, `-p` on the command line).
 */
export function checkSshHostName(host: string, portHint: string): string | undefined {
  const shown = JSON.stringify(host);
  if (host === '') return 'the host is empty';
  if (/[\s\x00-\x1f\x7f]/.test(host)) return `host ${shown} contains whitespace or control characters`;
  if (isIP(host)) return undefined;
  const glued = /^(.*):(\d{1,5})$/.exec(host);
  if (glued && (isIP(glued[1]!) === 4 || (glued[1] !== '' && !glued[1]!.includes(':')))) {
    return `host ${shown} has a port glued to it: give the host alone and the port separately (${portHint} ${glued[2]})`;
  }
  if (host.includes(':')) return `host ${shown} is not a valid IPv6 address or host name`;
  if (host.startsWith('-')) return `host ${shown} cannot start with "-"`;
  const ascii = /^[\x21-\x7e]*$/.test(host) ? host : domainToASCII(host);
  const name = ascii.endsWith('.') ? ascii.slice(0, -1) : ascii;
  if (name === '' || name.length > 253 || !name.split('.').every((label) => LABEL.test(label))) {
    return `host ${shown} is not a valid host name or IP address (letters, digits, "-", "_" and dots)`;
  }
  return undefined;
}

/**
 * Validate a host name or IP address (IPv6 without brackets) and return its normalized form
 * (WHATWG host parsing: lower case, IDNA to ASCII, IPv4 shorthand expanded, IPv6 compressed).
 * Returns a reason string in `error` when it is not acceptable.
 */
export function checkHost(host: string): { host: string; error?: undefined } | { host?: undefined; error: string } {
  if (host === '') return { error: 'the host is empty' };
  if (Buffer.byteLength(host) >= NI_MAXHOST) return { error: `the host is too long (${Buffer.byteLength(host)} bytes, limit ${NI_MAXHOST - 1})` };
  if (/[\s\x00-\x1f\x7f]/.test(host)) return { error: `host "${host}" contains whitespace or control characters` };
  if (host.includes(':')) {
    if (host.includes('%')) return { error: `IPv6 zone ids are not supported ("${host}")` };
    if (!isIPv6(host)) return { error: `"${host}" is not a valid IPv6 address` };
    try {
      return { host: new URL(`http://[${host}]/`).hostname.slice(1, -1) };
    } catch {
      return { error: `"${host}" is not a valid IPv6 address` };
    }
  }
  if (/[/?#@\\[\]%<>^|"'`{}]/.test(host)) return { error: `"${host}" is not a valid host name or IP address` };
  try {
    const hostname = new URL(`http://${host}/`).hostname;
    if (hostname === '') return { error: 'the host is empty' };
    return { host: hostname };
  } catch {
    return { error: `"${host}" is not a valid host name or IP address` };
  }
}

/**
 * Splits a `host`, `host:port`, `[v6]` or `[v6]:port` value (a gateway, a listen address):
 * brackets removed, the port as written (undefined when absent). Throws an Error whose message
 * is the reason; `ipv6Example` completes "write an IPv6 address in brackets, e.g. …".
 */
export function splitHostPort(text: string, ipv6Example: string): { host: string; port: string | undefined } {
  const bracket = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  if (bracket) {
    if (!bracket[1]!.includes(':')) throw new Error(`brackets are only for IPv6 addresses ("${text}")`);
    return { host: bracket[1]!, port: bracket[2] };
  }
  if ((text.match(/:/g) ?? []).length > 1) throw new Error(`write an IPv6 address in brackets, e.g. ${ipv6Example} (got "${text}")`);
  const colon = text.indexOf(':');
  return colon === -1 ? { host: text, port: undefined } : { host: text.slice(0, colon), port: text.slice(colon + 1) };
}

/** `host` or `[host]` for IPv6, as used in URLs. */
export function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Strips the IPv4-mapped prefix a dual-stack socket reports (::ffff:1.2.3.4 → 1.2.3.4). */
export function unmapAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}
