// The HTTP side of one forward with an HTTP target: its upstream pool, its HTTP server, the
// channels it serves. A forward whose target or HTTP settings change gets a new HttpForward;
// the old one is retired — it takes no new channels, its channels run to their end, and its
// pool closes after the last of them. Session close/destroy end them all.
import type { ForwardBandwidth } from '../../../net/bandwidth-limit.js';
import type { Context } from '@opentelemetry/api';
import type { ChannelCloseReason, PipeStats, SshChannel } from '../../../net/channel-pipe.js';
import type { ForwardConfig } from '../../session-config.js';
import type { SshSocketGate } from '../../../net/ssh-socket-gate.js';
import type { ParsedTarget } from '../../../grammar/targets.js';
import { HttpChannelServer } from './http-channel-server.js';
import type { ExchangeForward } from './http-exchange.js';
import type { CompiledHttpSettings } from './http-settings.js';
import type { HttpStats } from './http-stats.js';
import { ChannelSocket, type ChannelSocketInfo } from './channel-socket.js';
import { UpstreamPool, type UpstreamLog } from './upstream-pool.js';

export interface HttpForwardOptions {
  /** httpForwardKey() of the settings it was built from. */
  key: string;
  sessionId: string;
  forwardId: string;
  target: ParsedTarget;
  settings: CompiledHttpSettings;
  connectTimeoutMs: number;
  /** The forward's live counters (shared by the forward's successive HttpForwards). */
  stats: HttpStats;
  log: UpstreamLog;
}

export interface HttpChannelOptions {
  info: ChannelSocketInfo & { id: number };
  gate: SshSocketGate;
  /** The forward's maxBytesPerSecond buckets; absent = no cap. */
  bandwidth?: ForwardBandwidth;
  idleTimeoutMs: number;
  parentContext?: Context;
  onClose(reason: ChannelCloseReason, stats: PipeStats, error?: Error): void;
}

export interface HttpChannelHandle {
  /** Live byte counters of the channel. */
  readonly stats: PipeStats;
  destroy(reason: ChannelCloseReason): void;
}

/** Identifies what an HttpForward was built from: a forward whose key changes needs a new one. */
export function httpForwardKey(target: ParsedTarget, config: ForwardConfig): string {
  return JSON.stringify([target.url, config.http, config.targetConnectTimeoutMs]);
}

export class HttpForward {
  readonly key: string;
  /** What each request needs to know about this forward (its pool, settings, counters, log). */
  readonly exchange: ExchangeForward;
  private readonly upstream: UpstreamPool;
  private readonly server: HttpChannelServer;
  private readonly sockets = new Set<ChannelSocket>();
  private retired = false;
  private ended: Promise<void> | undefined;
  private onIdle: (() => void) | undefined;

  constructor(options: HttpForwardOptions) {
    const { key, target, ...fields } = options;
    this.key = key;
    this.upstream = new UpstreamPool(target, {
      forwardId: options.forwardId,
      settings: options.settings,
      connectTimeoutMs: options.connectTimeoutMs,
      log: options.log,
    });
    this.exchange = { ...fields, upstream: this.upstream };
    this.server = new HttpChannelServer(this.exchange);
  }

  /** Channels being served now. */
  get channelCount(): number {
    return this.sockets.size;
  }

  /** Serves HTTP on an accepted channel. */
  serveChannel(channel: SshChannel, options: HttpChannelOptions): HttpChannelHandle {
    const socket = new ChannelSocket(channel, options.info, {
      gate: options.gate,
      bandwidth: options.bandwidth,
      idleTimeoutMs: options.idleTimeoutMs,
      onClose: (reason, stats, error) => {
        this.sockets.delete(socket);
        try {
          options.onClose(reason, stats, error);
        } finally {
          if (this.sockets.size === 0) this.onIdle?.();
        }
      },
    });
    this.sockets.add(socket);
    this.server.serve(socket, { channelId: options.info.id, parentContext: options.parentContext });
    return { stats: socket.stats, destroy: (reason) => socket.destroyWithReason(reason) };
  }

  /**
   * Ends keep-alive connections at their next request boundary: idle ones now, busy ones after
   * the answers in flight (which go out with `Connection: close`).
   */
  drain(): void {
    for (const socket of this.sockets) {
      socket.draining = true;
      if (socket.inFlight === 0) socket.destroySoon();
    }
  }

  /**
   * No more channels: the open ones are drained (drain()) and the pool closes once they have
   * ended. Idempotent.
   */
  retire(): Promise<void> {
    this.retired = true;
    this.drain();
    this.ended ??= new Promise<void>((resolve) => {
      const closePool = () => {
        this.onIdle = undefined;
        void this.upstream.close().then(resolve);
      };
      if (this.sockets.size === 0) closePool();
      else this.onIdle = closePool;
    });
    return this.ended;
  }

  /** Ends every channel and the pool now. */
  async destroy(reason: ChannelCloseReason = 'destroyed'): Promise<void> {
    this.retired = true;
    this.onIdle = undefined;
    for (const socket of [...this.sockets]) socket.destroyWithReason(reason);
    await this.upstream.destroy();
  }

  get isRetired(): boolean {
    return this.retired;
  }
}
