// The live state of one remote forward inside a session: what the server assigned, and its
// compiled settings; state, retry and counters are the lifecycle every forward shares
// (forward-lifecycle.ts). Admission (origin allow-list, channel cap) lives here because it is
// per forward.
import { EdgeError } from '../errors.js';
import { Backoff, type BackoffPolicy } from '../lifecycle/backoff.js';
import { ForwardBandwidth } from '../net/bandwidth-limit.js';
import { compileHttpSettings, type CompiledHttpSettings } from './targets/http/http-settings.js';
import { newHttpStats, snapshotHttpStats, type HttpStats } from './targets/http/http-stats.js';
import { createOriginAllowList, type OriginAllowList } from '../grammar/origin-allow-list.js';
import { ForwardLifecycle, type ForwardLifecycleHost, type ForwardState } from './forward-lifecycle.js';
import type { ForwardConfig } from './session-config.js';
import { checkRemoteSocketPath } from './remote-listener.js';
import { isHttpTarget, parseTargetUrl, type ParsedTarget } from '../grammar/targets.js';

export type { ForwardState } from './forward-lifecycle.js';

export interface ForwardStatus {
  id: string;
  state: ForwardState;
  bind: string;
  port: number;
  /** The port the SSH host listens on (differs from `port` when `port` is 0); null until up, and for a socket forward. */
  remotePort: number | null;
  /** Remote unix-socket forwards only: the socket path the SSH host listens on (bind is '' and port 0). */
  remoteSocket?: string;
  target: string | null;
  channels: { open: number; total: number; rejected: number };
  bytesIn: number;
  bytesOut: number;
  lastError: { code: string; message: string } | null;
  /** Set when a wildcard bind was probably not honoured by the SSH host (bind-check.ts). */
  bindWarning?: string;
  /** HTTP targets only: requests and responses (by class) since the forward was added. */
  http?: HttpStats;
}

export type RejectReason = 'rejected-origin' | 'max-channels' | 'target-refused' | 'target-timeout' | 'target-unreachable' | 'forward-stopped' | 'application';

export class ForwardRuntime extends ForwardLifecycle {
  config: ForwardConfig;
  target: ParsedTarget | undefined;
  /** Validated HTTP settings; set when the target is HTTP-aware (isHttpTarget). */
  http: CompiledHttpSettings | undefined;
  /** HTTP counters, kept across target/setting changes. */
  readonly httpStats: HttpStats = newHttpStats();
  private allowList: OriginAllowList;
  remotePort: number | null = null;
  /** See ForwardStatus.bindWarning; reset each time the forward comes up. */
  bindWarning: string | null = null;
  /** maxBytesPerSecond, shared by the forward's channels (a retarget keeps the buckets). */
  readonly bandwidth: ForwardBandwidth;

  /** Throws EDGE_ERR_INVALID_CONFIG (compile) before anything else happens. */
  constructor(config: ForwardConfig, lifecycle: ForwardLifecycleHost) {
    const { target, allowList, http } = ForwardRuntime.compile(config);
    super(lifecycle);
    this.config = config;
    this.target = target;
    this.allowList = allowList;
    this.http = http;
    this.bandwidth = new ForwardBandwidth(config.maxBytesPerSecond);
  }

  /** Validates a forward's settings; throws EDGE_ERR_INVALID_CONFIG naming the key. */
  static compile(config: ForwardConfig): { target: ParsedTarget | undefined; allowList: OriginAllowList; http: CompiledHttpSettings | undefined } {
    const key = `forwards[${config.id}]`;
    if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.port: ${config.port} is not a port number (0–65535, 0 lets the SSH host choose).`);
    }
    if (typeof config.remoteSocket !== 'string') {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.remoteSocket must be a string (an absolute socket path on the SSH host, or "" for a TCP forward).`);
    }
    if (config.remoteSocket !== '') {
      checkRemoteSocketPath(config.remoteSocket, `${key}.remoteSocket`);
      if (config.port !== 0) throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: give either remoteSocket or port, not both.`);
      if (config.allowOrigins.length > 0) {
        throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.allowOrigins cannot apply to a remoteSocket forward: the SSH host reports no origin address for unix-socket connections (restrict access with the socket's directory permissions on the SSH host).`);
      }
    }
    if (typeof config.bind !== 'string') {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.bind must be a string ("localhost", "127.0.0.1", "::1", "0.0.0.0", "::" or "" for all).`);
    }
    if (!Number.isInteger(config.maxChannels) || config.maxChannels < 1) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.maxChannels must be a positive integer, got ${config.maxChannels}.`);
    }
    if (!Number.isInteger(config.idleTimeoutMs) || config.idleTimeoutMs < 0) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.idleTimeoutMs must be 0 (off) or a positive number of milliseconds, got ${config.idleTimeoutMs}.`);
    }
    if (!Number.isSafeInteger(config.maxBytesPerSecond) || config.maxBytesPerSecond < 0) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.maxBytesPerSecond must be 0 (no cap) or a positive number of bytes per second, got ${config.maxBytesPerSecond}.`);
    }
    const target = config.target === undefined ? undefined : parseTargetUrl(config.target, `${key}.target`);
    // Checked whatever the target (a typo must not wait for the day the target becomes HTTP).
    const http = compileHttpSettings(config.http, `${key}.http`, target);
    return { target, allowList: createOriginAllowList(config.allowOrigins, `${key}.allowOrigins`), http: target && isHttpTarget(target) ? http : undefined };
  }

  /** Applies settings that do not need a new tcpip-forward (target, limits, allow-list, HTTP settings). */
  update(config: ForwardConfig): void {
    const { target, allowList, http } = ForwardRuntime.compile(config);
    this.config = config;
    this.target = target;
    this.allowList = allowList;
    this.http = http;
    if (config.maxBytesPerSecond !== this.bandwidth.rate) this.bandwidth.setRate(config.maxBytesPerSecond);
  }

  /** Same server-side listener? (If not, the forward must be cancelled and requested again.) */
  sameListener(config: ForwardConfig): boolean {
    return config.remoteSocket === this.config.remoteSocket && config.bind === this.config.bind && config.port === this.config.port;
  }

  /** Why a channel from `originAddress` must be refused, or undefined to admit it. */
  admit(originAddress: string): RejectReason | undefined {
    if (this.state === 'stopped') return 'forward-stopped';
    if (!this.allowList.allows(originAddress)) return 'rejected-origin';
    if (this.openChannels >= this.config.maxChannels) return 'max-channels';
    return undefined;
  }

  /** Does a channel reported for destIP:destPort belong to this forward? */
  matchesDestination(destIP: string, destPort: number): 'exact' | 'port' | undefined {
    if (this.state !== 'up' || this.config.remoteSocket !== '' || this.remotePort !== destPort) return undefined;
    return destIP === this.config.bind ? 'exact' : 'port';
  }

  status(): ForwardStatus {
    return {
      id: this.config.id,
      state: this.state,
      bind: this.config.remoteSocket ? '' : this.config.bind,
      port: this.config.port,
      remotePort: this.remotePort,
      ...(this.config.remoteSocket ? { remoteSocket: this.config.remoteSocket } : {}),
      target: this.target?.url ?? null,
      channels: this.channels(),
      ...this.bytes(),
      lastError: this.lastErrorStatus(),
      ...(this.bindWarning && this.state === 'up' ? { bindWarning: this.bindWarning } : {}),
      ...(this.http ? { http: snapshotHttpStats(this.httpStats) } : {}),
    };
  }
}
