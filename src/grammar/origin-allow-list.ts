// Per-forward origin allow-list: CIDR ranges (IPv4 and IPv6) or single addresses, checked on
// the origin address the SSH host reports for a channel, before the target is dialled.
import { EdgeError } from '../errors.js';
import { unmapAddress } from './host-name.js';
import { AddressRanges, parseCidr } from './patterns.js';

export interface OriginAllowList {
  /** True when the list is empty (anyone) or the address falls in one of its ranges. */
  allows(address: string): boolean;
}

export function createOriginAllowList(entries: readonly string[], configKey: string): OriginAllowList {
  if (entries.length === 0) return { allows: () => true };
  const ranges = new AddressRanges(entries.map((entry, i) => {
    const range = parseCidr(entry);
    if (!range) throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${configKey}[${i}] "${entry}" is not an IP address or CIDR range (e.g. "203.0.113.0/24", "2001:db8::/32", "127.0.0.1").`);
    return range;
  }));
  return {
    allows(address) {
      if (ranges.has(address)) return true;
      // An IPv4 client on a dual-stack listener shows up as ::ffff:a.b.c.d.
      const unmapped = unmapAddress(address);
      return unmapped !== address && ranges.has(unmapped);
    },
  };
}
