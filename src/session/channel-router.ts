// Where a channel meets its target: routes each channel the SSH host opens (-R) to its forward,
// admits it (origin allow-list, maxChannels), then dials the target and pipes, hands it to the
// forward's HTTP relay, or offers it to the application (event mode). Tracks every open channel
// so the session can count, drain and end them.
import type { EventEmitter } from 'node:events';
import type { Context } from '@opentelemetry/api';
import { EdgeError } from '../errors.js';
import type { BindProbes } from './bind-check.js';
import { pipeChannel, type ChannelCloseReason, type SshChannel } from '../net/channel-pipe.js';
import type { ForwardRuntime, RejectReason } from './forward-runtime.js';
import type { HttpForwardCache } from './targets/http-forward-cache.js';
import { httpForwardModule, loadHttpForwardModule } from './targets/http/http-forward-loader.js';
import type { SshConnection } from './ssh-connect.js';
import type { SshSocketGate } from '../net/ssh-socket-gate.js';
import { dialTarget } from './targets/target-dialer.js';
import type { ChannelInfo, IncomingChannel, LogLevel, TunnelSessionEvents, TunnelSessionOptions } from './session-types.js';

/** What the router needs from its session. */
export interface ChannelRouterHost {
  sessionId: string;
  /** The session's remote forwards by id (read only here). */
  forwards: ReadonlyMap<string, ForwardRuntime>;
  /** Connections of our own bind check, refused on arrival. */
  bindProbes: BindProbes;
  httpForwards: HttpForwardCache;
  /** The session's event stream: channelOpen, channelClose, channelRejected. */
  events: EventEmitter<TunnelSessionEvents>;
  onIncomingChannel: TunnelSessionOptions['onIncomingChannel'];
  channelTraceContext: TunnelSessionOptions['channelTraceContext'];
  nextChannelId(): number;
  /** The live SSH connection, if any. */
  connection(): (SshConnection & { gate: SshSocketGate }) | undefined;
  /** The session is stopped: dialled targets are dropped. */
  stopped(): boolean;
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}

interface LiveChannel {
  info: ChannelInfo;
  forward: ForwardRuntime;
  openedAt: number;
  stats: { bytesIn: number; bytesOut: number };
  destroy(reason: ChannelCloseReason): void;
}

/** Placeholders until the channel's pipe or handler exists (shared: no allocation per channel). */
const NO_STATS: Readonly<{ bytesIn: number; bytesOut: number }> = Object.freeze({ bytesIn: 0, bytesOut: 0 });
const notYet = (): void => {};

export class ChannelRouter {
  private readonly channels = new Map<number, LiveChannel>();

  constructor(private readonly host: ChannelRouterHost) {}

  /** Open channels of remote forwards right now (including cancelled forwards still finishing). */
  get openChannels(): number {
    return this.channels.size;
  }

  /** Ends every open channel (each reports its channelClose). */
  destroyAll(reason: ChannelCloseReason): void {
    for (const live of [...this.channels.values()]) live.destroy(reason);
  }

  /** Which forward does a channel reported for destIP:destPort belong to? (ssh2 #377) */
  route(destIP: string, destPort: number): ForwardRuntime | undefined {
    let byPort: ForwardRuntime | undefined;
    for (const fwd of this.host.forwards.values()) {
      const match = fwd.matchesDestination(destIP, destPort);
      if (match === 'exact') return fwd;
      if (match === 'port') byPort ??= fwd;
    }
    return byPort;
  }

  /** The forward listening on a remote socket path (a `forwarded-streamlocal` channel). */
  routeSocket(socketPath: string): ForwardRuntime | undefined {
    for (const fwd of this.host.forwards.values()) if (fwd.state === 'up' && fwd.config.remoteSocket === socketPath) return fwd;
    return undefined;
  }

  onChannel(
    details: { destIP: string; destPort: number; srcIP: string; srcPort: number },
    accept: () => SshChannel,
    reject: () => void,
    fwd = this.route(details.destIP, details.destPort),
  ): void {
    const probe = this.host.bindProbes.verdict(details.srcIP, details.srcPort);
    if (probe === 'probe') return reject(); // our own bind check
    if (probe === 'undecided') {
      void this.host.bindProbes.settled(details.srcIP).then(() => this.onChannel(details, accept, reject, fwd));
      return;
    }
    const info: ChannelInfo = {
      id: this.host.nextChannelId(),
      sessionId: this.host.sessionId,
      forwardId: fwd?.config.id ?? '',
      originAddress: details.srcIP,
      originPort: details.srcPort,
      connectedAddress: details.destIP,
      connectedPort: details.destPort,
      direction: 'remote',
      bind: fwd?.config.bind ?? details.destIP,
      requestedPort: fwd?.config.port ?? details.destPort,
      target: fwd?.target?.url ?? null,
    };
    if (!fwd) return this.rejectChannel(undefined, info, reject, 'forward-stopped');
    const refusal = fwd.admit(details.srcIP);
    if (refusal) {
      const error = refusal === 'rejected-origin'
        ? new EdgeError('EDGE_ERR_ORIGIN_REJECTED', `Channel from ${details.srcIP}:${details.srcPort} on forward ${fwd.config.id} rejected: origin not in allowOrigins.`)
        : refusal === 'max-channels'
          ? new EdgeError('EDGE_ERR_MAX_CHANNELS', `Channel from ${details.srcIP}:${details.srcPort} on forward ${fwd.config.id} rejected: ${fwd.config.maxChannels} channels already open (maxChannels).`)
          : undefined;
      return this.rejectChannel(fwd, info, reject, refusal, error);
    }

    if (!fwd.target) return this.offerToApplication(fwd, info, accept, reject);
    if (fwd.http) return this.serveHttpChannel(fwd, info, accept, reject);

    // Count it as open while the target is dialled, so maxChannels holds under bursts.
    fwd.openChannels += 1;
    const conn = this.host.connection()!;
    dialTarget(fwd.target, fwd.config.targetConnectTimeoutMs, fwd.config.id).then((socket) => {
      fwd.openChannels -= 1;
      if (this.host.connection() !== conn || this.host.stopped()) {
        socket.destroy();
        return;
      }
      let channel: SshChannel;
      try {
        channel = accept();
      } catch (err) {
        socket.destroy();
        return this.rejectChannel(fwd, info, () => {}, 'target-unreachable', new EdgeError('EDGE_ERR_CONNECTION_LOST', `SSH session ended before channel ${info.id} could be accepted.`, { cause: err }));
      }
      const live = this.trackChannel(fwd, info);
      const pipe = pipeChannel(channel, socket, {
        idleTimeoutMs: fwd.config.idleTimeoutMs,
        gate: conn.gate,
        bandwidth: fwd.bandwidth,
        onClose: (reason, stats, error) => this.untrackChannel(live, reason, stats, error),
      });
      live.stats = pipe.stats;
      fwd.liveStats.add(pipe.stats);
      live.destroy = pipe.destroy;
    }, (error: EdgeError) => {
      fwd.openChannels -= 1;
      const reason: RejectReason = error.code === 'EDGE_ERR_TARGET_REFUSED' ? 'target-refused'
        : error.code === 'EDGE_ERR_TARGET_TIMEOUT' ? 'target-timeout' : 'target-unreachable';
      this.rejectChannel(fwd, info, reject, reason, error);
    });
  }

  /**
   * A channel of an HTTP target is accepted at once (a service that is down becomes a 502 for
   * each request, not a rejected channel) and served by the forward's HttpForward.
   */
  private serveHttpChannel(fwd: ForwardRuntime, info: ChannelInfo, accept: () => SshChannel, reject: () => void): void {
    if (!httpForwardModule()) {
      // First HTTP channel before the module finished loading: serve it once it has.
      loadHttpForwardModule().then(
        () => this.serveHttpChannel(fwd, info, accept, reject),
        (err: unknown) => this.rejectChannel(fwd, info, reject, 'target-unreachable', new EdgeError('EDGE_ERR_TARGET_UNREACHABLE', `HTTP target support could not be loaded: ${String(err)}`)),
      );
      return;
    }
    const conn = this.host.connection();
    if (!conn || this.host.stopped()) return this.rejectChannel(fwd, info, reject, 'forward-stopped');
    let channel: SshChannel;
    try {
      channel = accept();
    } catch (err) {
      return this.rejectChannel(fwd, info, () => {}, 'target-unreachable', new EdgeError('EDGE_ERR_CONNECTION_LOST', `SSH session ended before channel ${info.id} could be accepted.`, { cause: err }));
    }
    const http = this.host.httpForwards.forForward(fwd);
    const live = this.trackChannel(fwd, info);
    let parentContext: Context | undefined;
    try {
      parentContext = this.host.channelTraceContext?.(info);
    } catch (err) {
      this.host.log('debug', `session ${this.host.sessionId}: channelTraceContext failed for channel ${info.id}: ${String(err)}`);
    }
    const handle = http.serveChannel(channel, {
      info: { id: info.id, originAddress: info.originAddress, originPort: info.originPort, connectedAddress: info.connectedAddress, connectedPort: info.connectedPort },
      gate: conn.gate,
      bandwidth: fwd.bandwidth,
      idleTimeoutMs: fwd.config.idleTimeoutMs,
      parentContext,
      onClose: (reason, stats, error) => this.untrackChannel(live, reason, stats, error),
    });
    live.stats = handle.stats;
    fwd.liveStats.add(handle.stats);
    live.destroy = handle.destroy;
  }

  private offerToApplication(fwd: ForwardRuntime, info: ChannelInfo, accept: () => SshChannel, reject: () => void): void {
    if (!this.host.onIncomingChannel) return this.rejectChannel(fwd, info, reject, 'application');
    let decided = false;
    const incoming: IncomingChannel = {
      ...info,
      accept: () => {
        if (decided) throw new Error(`channel ${info.id} was already accepted or rejected`);
        decided = true;
        const channel = accept();
        const live = this.trackChannel(fwd, info);
        const stats = { bytesIn: 0, bytesOut: 0 };
        let reason: ChannelCloseReason = 'eof';
        channel.on('data', (chunk: Buffer) => { stats.bytesIn += chunk.length; });
        const write = channel.write.bind(channel) as (chunk: Buffer, ...rest: unknown[]) => boolean;
        channel.write = ((chunk: Buffer, ...rest: unknown[]) => {
          stats.bytesOut += chunk.length;
          return write(chunk, ...rest);
        }) as typeof channel.write;
        channel.on('error', () => { reason = 'channel-error'; });
        live.stats = stats;
        fwd.liveStats.add(stats);
        channel.once('close', () => this.untrackChannel(live, reason, stats));
        live.destroy = (why) => { reason = why; channel.close(); };
        return channel;
      },
      reject: () => {
        if (decided) return;
        decided = true;
        this.rejectChannel(fwd, info, reject, 'application');
      },
    };
    this.host.onIncomingChannel(incoming);
  }

  private trackChannel(fwd: ForwardRuntime, info: ChannelInfo): LiveChannel {
    const live: LiveChannel = { info, forward: fwd, openedAt: Date.now(), stats: NO_STATS, destroy: notYet };
    this.channels.set(info.id, live);
    fwd.openChannels += 1;
    fwd.totalChannels += 1;
    this.host.events.emit('channelOpen', info);
    return live;
  }

  private untrackChannel(live: LiveChannel, reason: ChannelCloseReason, stats: { bytesIn: number; bytesOut: number }, error?: Error): void {
    if (!this.channels.delete(live.info.id)) return;
    const fwd = live.forward;
    fwd.openChannels -= 1;
    fwd.liveStats.delete(live.stats);
    fwd.bytesIn += stats.bytesIn;
    fwd.bytesOut += stats.bytesOut;
    this.host.events.emit('channelClose', { ...live.info, reason, bytesIn: stats.bytesIn, bytesOut: stats.bytesOut, durationMs: Date.now() - live.openedAt, error });
  }

  private rejectChannel(fwd: ForwardRuntime | undefined, info: ChannelInfo, reject: () => void, reason: RejectReason, error?: EdgeError): void {
    try {
      reject();
    } catch {
      // The session is already gone; the channel died with it.
    }
    if (fwd) fwd.rejectedChannels += 1;
    this.host.log('info', `session ${this.host.sessionId}: rejected channel from ${info.originAddress}:${info.originPort} on forward ${info.forwardId || `${info.connectedAddress}:${info.connectedPort}`}: ${reason}${error ? ` (${error.message})` : ''}`, { code: error?.code });
    this.host.events.emit('channelRejected', { ...info, reason, error });
  }
}
