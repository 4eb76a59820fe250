// Is this something an SSH host can be called? An IP address or a DNS name (labels of letters,
// digits, '-' and '_', at most 63 bytes each, 253 in all; internationalised names in their
// punycode form). Anything else — a port glued on (`127.0.0.1:2401`), spaces, NUL, shell or URL
// characters — can never resolve, so it is a configuration/usage error (exit 2) instead of a
// name retried forever. A well-formed name that does not resolve (yet) is retried as usual.
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';

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
