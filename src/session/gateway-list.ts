// A session's gateways: `hosts: ["gw1.example.com:22", "[2001:db8::1]:2222", "gw3"]` (port 22
// when absent, IPv6 literals in brackets) and how the session uses them (`strategy`).
import { EdgeError } from '../errors.js';
import { checkHost, splitHostPort } from '../grammar/host-name.js';

export type GatewayStrategy = 'failover' | 'all';
export const GATEWAY_STRATEGIES: readonly GatewayStrategy[] = ['failover', 'all'];

export interface GatewayAddress {
  host: string;
  port: number;
}

/** Most gateways one session may list (each may hold an SSH connection). */
export const MAX_GATEWAYS = 16;
/** failover: a preferred gateway must have been reachable this long before the forwards go back to it. */
export const DEFAULT_FAILBACK_AFTER_MS = 60_000;

/** "host", "host:port", "[v6]" or "[v6]:port" → { host, port }; throws a message naming the problem. */
export function parseGatewayAddress(text: string, defaultPort = 22): GatewayAddress {
  if (typeof text !== 'string') throw new Error('must be a string "host[:port]"');
  const { host, port: rawPort } = splitHostPort(text, '[::1]:22');
  const checked = checkHost(host);
  if (checked.error !== undefined) throw new Error(checked.error);
  if (rawPort === undefined) return { host: checked.host, port: defaultPort };
  if (!/^\d{1,5}$/.test(rawPort) || Number(rawPort) < 1 || Number(rawPort) > 65535) throw new Error(`port "${rawPort}" must be a number 1-65535 (in "${text}")`);
  return { host: checked.host, port: Number(rawPort) };
}

/** Validates a whole list (EDGE_ERR_INVALID_CONFIG naming `key[i]`); duplicates are refused. */
export function parseGatewayList(list: ReadonlyArray<string | GatewayAddress>, key = 'hosts'): GatewayAddress[] {
  if (!Array.isArray(list) || list.length === 0) throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: must list at least one gateway ("host[:port]").`);
  if (list.length > MAX_GATEWAYS) throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: at most ${MAX_GATEWAYS} gateways per session (got ${list.length}).`);
  const seen = new Set<string>();
  return list.map((entry, i) => {
    let address: GatewayAddress;
    try {
      address = typeof entry === 'string' ? parseGatewayAddress(entry) : parseGatewayAddress(`[${entry.host}]`.replace(/^\[([^:]*)\]$/, '$1'), entry.port);
    } catch (err) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}[${i}]: ${(err as Error).message}`);
    }
    const id = `${address.host}\0${address.port}`;
    if (seen.has(id)) throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}[${i}]: ${formatGateway(address)} is listed twice.`);
    seen.add(id);
    return address;
  });
}

export function formatGateway(address: GatewayAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
