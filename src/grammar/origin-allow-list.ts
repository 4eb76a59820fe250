// Per-forward origin allow-list: CIDR ranges (IPv4 and IPv6) or single addresses, checked on
// the origin address the SSH host reports for a channel, before the target is dialled.
import net from 'node:net';
import { EdgeError } from '../errors.js';

export interface OriginAllowList {
  /** True when the list is empty (anyone) or the address falls in one of its ranges. */
  allows(address: string): boolean;
}

export function createOriginAllowList(entries: readonly string[], configKey: string): OriginAllowList {
  if (entries.length === 0) return { allows: () => true };
  const list = new net.BlockList();
  entries.forEach((entry, i) => {
    const [address, prefixText] = entry.split('/');
    const family = net.isIP(address ?? '');
    const prefix = prefixText === undefined ? (family === 6 ? 128 : 32) : Number(prefixText);
    if (!family || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32) || (prefixText !== undefined && !/^\d+$/.test(prefixText))) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${configKey}[${i}] "${entry}" is not an IP address or CIDR range (e.g. "203.0.113.0/24", "2001:db8::/32", "127.0.0.1").`);
    }
    list.addSubnet(address!, prefix, family === 6 ? 'ipv6' : 'ipv4');
  });
  return {
    allows(address: string): boolean {
      const family = net.isIP(address);
      if (family === 0) return false;
      if (list.check(address, family === 6 ? 'ipv6' : 'ipv4')) return true;
      // An IPv4 client on a dual-stack listener shows up as ::ffff:a.b.c.d.
      const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
      return mapped !== null && list.check(mapped[1]!, 'ipv4');
    },
  };
}
