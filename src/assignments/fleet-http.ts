// What every request to the fleet's HTTP control plane shares — fetching assignments and
// POSTing status reports: one transport on node:http(s) (fleet-transport.ts: HTTP(S)_PROXY /
// NO_PROXY honoured, the assignments.caFile CA bundle, connect and response timeouts) and the bearer token read from
// the variable named by assignments.tokenEnv at every request, never logged.
import { readFileSync } from 'node:fs';
import { EdgeError } from '../errors.js';
import type { Logger } from '../log.js';
import { fileErrorReason } from '../lifecycle/errno.js';
import type { Clock } from '../lifecycle/clock.js';
import type { ProxyOverrides } from './fleet-proxy.js';
import { FleetTransport } from './fleet-transport.js';

/** Library-level tuning both fleet clients take (the assignment fetch and the status report). */
export interface FleetClientTuning {
  /** TCP + TLS connect timeout. Default 10 000. */
  connectTimeoutMs?: number;
  /** Source of randomness in [0, 1) for the jitter. Default Math.random. */
  random?: () => number;
  /** Time source and timers of the schedule (tests drive it by hand). Default the system clock. */
  clock?: Clock;
  /** Overrides for HTTP_PROXY / HTTPS_PROXY / NO_PROXY (default: the environment). */
  proxy?: ProxyOverrides;
}

export interface FleetDispatcherOptions {
  /** PEM file of CA certificates to trust ("" = system CAs); read now, so a bad path fails fast. */
  caFile?: string;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  proxy?: ProxyOverrides;
}

export function createFleetTransport(options: FleetDispatcherOptions): FleetTransport {
  let ca: Buffer | undefined;
  if (options.caFile) {
    try {
      ca = readFileSync(options.caFile);
    } catch (err) {
      const why = fileErrorReason(err);
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `assignments.caFile: cannot read the CA file ${options.caFile} (${why}).`, { details: { key: 'assignments.caFile' } });
    }
  }
  return new FleetTransport({ ...(ca ? { ca } : {}), connectTimeoutMs: options.connectTimeoutMs, responseTimeoutMs: options.responseTimeoutMs, proxy: options.proxy });
}

/** The bearer token of assignments.tokenEnv, looked up at every request. */
export class FleetToken {
  private warnedPlain = false;

  constructor(private readonly options: { tokenEnv?: string; env?: NodeJS.ProcessEnv; log?: Logger; what: string }) {}

  get variable(): string | undefined {
    return this.options.tokenEnv || undefined;
  }

  /** The token now, or undefined when the variable is unset or empty. */
  value(): string | undefined {
    const name = this.options.tokenEnv;
    return (name ? (this.options.env ?? process.env)[name] : undefined) || undefined;
  }

  /** Adds `authorization: Bearer …` when there is a token; warns once if it would go over plain http. */
  authorize(headers: Record<string, string>, url: string, endpoint: string): boolean {
    const token = this.value();
    if (!token) return false;
    headers.authorization = `Bearer ${token}`;
    if (url.startsWith('http:') && !this.warnedPlain) {
      this.warnedPlain = true;
      this.options.log?.('warn', `${this.options.what}: the bearer token from $${this.options.tokenEnv} is sent to ${endpoint} over plain http; use https`);
    }
    return true;
  }
}
