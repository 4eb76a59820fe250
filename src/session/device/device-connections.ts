// The connections of the device listeners (local -L and dynamic -D forwards): each accepted
// connection waits (up to sessionWaitMs) for the SSH session, for -D completes the SOCKS
// handshake and checks allowDestinations, then is carried over a direct-tcpip channel; or it is
// closed cleanly (a FIN for -L; a SOCKS failure reply, then a FIN, for -D) with a reason.
import type net from 'node:net';
import type { Client } from 'ssh2';
import { EdgeError, isEdgeError } from '../../errors.js';
import { pipeChannel, type ChannelCloseReason, type SshChannel } from '../../net/channel-pipe.js';
import { watchChannelEof } from '../../ssh2/channel-eof.js';
import type { SshSocketGate } from '../../net/ssh-socket-gate.js';
import type { ChannelInfo } from '../session-types.js';
import { formatHost } from '../../grammar/host-name.js';
import { localTarget, type Listener } from './listener.js';
import type { ListenerKind, LocalRejectReason } from './listener-types.js';
import { failureReply, successReply, SocksError } from './socks-protocol.js';
import { socksHandshake } from './socks-server.js';

/** What a local/dynamic channel looks like to the session's events (a ChannelInfo with a direction). */
export type LocalChannelInfo = ChannelInfo & { direction: ListenerKind };

/** What the device connections report to their session. */
export interface DeviceConnectionsHost {
  sessionId: string;
  nextChannelId(): number;
  channelOpen(info: LocalChannelInfo): void;
  channelClose(info: LocalChannelInfo & { reason: ChannelCloseReason; bytesIn: number; bytesOut: number; durationMs: number; error?: Error }): void;
  channelRejected(info: LocalChannelInfo & { reason: LocalRejectReason; error?: EdgeError }): void;
  log(level: 'error' | 'warn' | 'info' | 'debug', message: string, fields?: Record<string, unknown>): void;
}

/** The SSH session the channels are opened on, while it is up. */
export interface SshLink {
  client: Client;
  gate: SshSocketGate;
}

/** The whole SOCKS handshake (greeting, auth, request) must arrive within this. */
export const SOCKS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** "session s1: local forward db" — how log lines name a listener. */
export function describeListener(sessionId: string, l: Listener): string {
  const what = l.kind === 'local' ? `local forward ${l.config.id}` : `dynamic (SOCKS) forward ${l.config.id}`;
  return `session ${sessionId}: ${what}`;
}

export class DeviceConnections {
  /** Every accepted connection not closed yet (waiting for its channel, or piped), with how to end it. */
  private readonly live = new Map<net.Socket, (reason: ChannelCloseReason) => void>();
  private link: SshLink | undefined;
  private readonly linkWaiters = new Set<() => void>();
  private closed = false;

  constructor(private readonly host: DeviceConnectionsHost) {}

  /** The SSH session came up (a link) or went down (undefined). */
  setLink(link: SshLink | undefined): void {
    this.link = link;
    if (link) for (const wake of [...this.linkWaiters]) wake();
  }

  /** Connections open now (waiting or piped), including those of removed listeners. */
  get size(): number {
    return this.live.size;
  }

  /** The listeners stopped for good: a connection accepted late is closed at once. */
  stopAccepting(): void {
    this.closed = true;
  }

  /** Ends every connection now. */
  destroyAll(reason: ChannelCloseReason): void {
    for (const end of [...this.live.values()]) end(reason);
  }

  private describe(l: Listener): string {
    return describeListener(this.host.sessionId, l);
  }

  /** A listener accepted `socket` (paused). */
  onConnection(l: Listener, socket: net.Socket): void {
    socket.on('error', () => {}); // reported through 'close' and the pipe
    const info: LocalChannelInfo = {
      id: this.host.nextChannelId(),
      sessionId: this.host.sessionId,
      forwardId: l.config.id,
      direction: l.kind,
      originAddress: socket.remoteAddress ?? '',
      originPort: socket.remotePort ?? 0,
      connectedAddress: socket.localAddress ?? '',
      connectedPort: socket.localPort ?? 0,
      bind: l.config.bind,
      requestedPort: l.config.port,
      target: l.config.kind === 'local' ? localTarget(l.config) : null,
    };
    if (l.removed || l.state !== 'up' || this.closed) {
      return this.reject(l, info, socket, 'forward-stopped');
    }
    if (l.openChannels >= l.config.maxChannels) {
      return this.reject(l, info, socket, 'max-channels', new EdgeError('EDGE_ERR_MAX_CHANNELS', `Connection from ${info.originAddress}:${info.originPort} to ${l.kind} forward ${l.config.id} closed: ${l.config.maxChannels} connections already open (maxChannels).`));
    }
    l.openChannels += 1; // waiting connections count toward maxChannels
    const abort = new AbortController();
    this.live.set(socket, () => abort.abort());
    socket.once('close', () => abort.abort());
    void this.serve(l, socket, info, abort.signal);
  }

  private async serve(l: Listener, socket: net.Socket, info: LocalChannelInfo, signal: AbortSignal): Promise<void> {
    const c = l.config;
    let socksVersion: 4 | 5 | undefined;
    let pending = true;
    try {
      let dest: { host: string; port: number };
      let rest: Buffer = Buffer.alloc(0);
      if (c.kind === 'local') {
        dest = { host: c.host.replace(/^\[(.*)\]$/, '$1'), port: c.hostPort };
      } else {
        const hs = await socksHandshake(socket, {
          timeoutMs: SOCKS_HANDSHAKE_TIMEOUT_MS,
          signal,
          ...(c.username !== undefined ? { auth: { username: c.username, password: c.password! } } : {}),
        });
        socksVersion = hs.request.version;
        dest = { host: hs.request.host, port: hs.request.port };
        rest = hs.rest;
        info.target = `tcp://${formatHost(dest.host)}:${dest.port}`;
        if (!(l.allowList?.allows(dest.host, dest.port) ?? false)) {
          throw new EdgeError('EDGE_ERR_DESTINATION_DENIED', `SOCKS${socksVersion} request from ${info.originAddress}:${info.originPort} for ${formatHost(dest.host)}:${dest.port} on dynamic forward ${c.id} refused: not in allowDestinations ${JSON.stringify(c.allowDestinations)}.`, { details: { forward: c.id, host: dest.host, port: dest.port } });
        }
      }
      const { channel, link } = await this.openChannel(l, socket, info, dest, signal);
      if (signal.aborted || socket.destroyed) {
        channel.close();
        throw closedByClient(signal);
      }
      if (socksVersion !== undefined) socket.write(successReply(socksVersion));
      if (rest.length > 0) socket.unshift(rest);
      l.openChannels -= 1;
      pending = false;
      this.pipe(l, info, socket, channel, link);
    } catch (err) {
      if (pending) l.openChannels -= 1;
      const error = err instanceof SocksError
        ? new EdgeError(err.kind === 'auth' ? 'EDGE_ERR_SOCKS_AUTH_FAILED' : 'EDGE_ERR_SOCKS_PROTOCOL', `SOCKS client ${info.originAddress}:${info.originPort} on dynamic forward ${c.id}: ${err.message}.`)
        : isEdgeError(err) ? err : new EdgeError('EDGE_ERR_CHANNEL_OPEN_FAILED', String(err), { cause: err });
      const reason: LocalRejectReason = err instanceof SocksError ? (err.kind === 'auth' ? 'socks-auth' : 'socks-protocol')
        : error.code === 'EDGE_ERR_DESTINATION_DENIED' ? 'destination-denied'
          : error.code === 'EDGE_ERR_SESSION_UNAVAILABLE' ? 'session-unavailable'
            : error.code === 'EDGE_ERR_CHANNEL_OPEN_FAILED' ? 'channel-open-failed'
              : error.code === 'EDGE_ERR_CLOSED' ? (socket.destroyed ? 'client-gone' : 'forward-stopped')
                : 'channel-open-failed';
      if (socksVersion !== undefined && !socket.destroyed) {
        const why = reason === 'destination-denied' ? 'denied'
          : error.details?.sshReason === 1 ? 'denied'
            : reason === 'channel-open-failed' ? (/refused/i.test(error.message) ? 'refused' : 'unreachable')
              : 'general';
        socket.write(failureReply(socksVersion, why));
      }
      this.reject(l, info, socket, reason, error);
    }
  }

  /** Waits (up to sessionWaitMs) for the SSH session, then opens the direct-tcpip channel (up to openTimeoutMs). */
  private async openChannel(l: Listener, socket: net.Socket, info: LocalChannelInfo, dest: { host: string; port: number }, signal: AbortSignal): Promise<{ channel: SshChannel; link: SshLink }> {
    const c = l.config;
    const where = `${formatHost(dest.host)}:${dest.port}`;
    let link = this.link;
    if (!link) {
      if (c.sessionWaitMs > 0) {
        this.host.log('debug', `${this.describe(l)}: connection from ${info.originAddress}:${info.originPort} waits up to ${c.sessionWaitMs} ms for the SSH session`);
        link = await this.waitForLink(c.sessionWaitMs, signal);
      }
      if (signal.aborted) throw closedByClient(signal);
      if (!link) {
        throw new EdgeError('EDGE_ERR_SESSION_UNAVAILABLE', `Connection from ${info.originAddress}:${info.originPort} to ${l.kind} forward ${c.id} (-> ${where}) closed: the SSH session ${this.host.sessionId} is down and did not come back within ${c.sessionWaitMs} ms (sessionWaitMs).`, { details: { forward: c.id } });
      }
    }
    const conn = link;
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (err: EdgeError | null, channel?: SshChannel) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve({ channel: channel!, link: conn });
      };
      const onAbort = () => finish(closedByClient(signal));
      const timer = setTimeout(() => finish(new EdgeError('EDGE_ERR_CHANNEL_OPEN_FAILED', `SSH host did not confirm the channel to ${where} for ${l.kind} forward ${c.id} within ${c.openTimeoutMs} ms (openTimeoutMs).`, { details: { forward: c.id, host: dest.host, port: dest.port } })), c.openTimeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        conn.client.forwardOut(info.originAddress || '127.0.0.1', info.originPort, dest.host, dest.port, (err, channel) => {
          if (done) {
            if (!err) channel.close();
            return;
          }
          if (err) {
            const sshReason = (err as Error & { reason?: number }).reason;
            const text = err.message.replace(/^\(SSH\) Channel open failure: ?/, '');
            finish(new EdgeError('EDGE_ERR_CHANNEL_OPEN_FAILED', `SSH host refused the channel to ${where} for ${l.kind} forward ${c.id}: ${text || 'no reason given'}${sshReason === 1 ? ' (administratively prohibited: forwarding to that destination is not permitted there, e.g. AllowTcpForwarding/PermitOpen)' : ''}.`, { details: { forward: c.id, host: dest.host, port: dest.port, ...(typeof sshReason === 'number' ? { sshReason } : {}) } }));
            return;
          }
          // Watch for EOF now: the peer's DATA+EOF can be processed before the pipe exists.
          watchChannelEof(channel);
          finish(null, channel as unknown as SshChannel);
        });
      } catch (err) {
        finish(new EdgeError('EDGE_ERR_SESSION_UNAVAILABLE', `Connection to ${l.kind} forward ${c.id} closed: the SSH session ${this.host.sessionId} ended before the channel to ${where} could be opened.`, { cause: err }));
      }
    });
  }

  private waitForLink(timeoutMs: number, signal: AbortSignal): Promise<SshLink | undefined> {
    return new Promise((resolve) => {
      const done = (link: SshLink | undefined) => {
        clearTimeout(timer);
        this.linkWaiters.delete(check);
        signal.removeEventListener('abort', onAbort);
        resolve(link);
      };
      const check = () => { if (this.link) done(this.link); };
      const onAbort = () => done(undefined);
      const timer = setTimeout(() => done(undefined), timeoutMs);
      this.linkWaiters.add(check);
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
    });
  }

  private pipe(l: Listener, info: LocalChannelInfo, socket: net.Socket, channel: SshChannel, link: SshLink): void {
    const openedAt = Date.now();
    l.openChannels += 1;
    l.totalChannels += 1;
    this.host.channelOpen(info);
    let view: { readonly bytesIn: number; readonly bytesOut: number } | undefined;
    const pipe = pipeChannel(channel, socket, {
      idleTimeoutMs: l.config.idleTimeoutMs,
      gate: link.gate,
      onClose: (reason, stats, error) => {
        this.live.delete(socket);
        l.openChannels -= 1;
        if (view) l.liveStats.delete(view);
        // The pipe counts from the SSH side: its bytesIn went to our client, bytesOut came from it.
        l.bytesIn += stats.bytesOut;
        l.bytesOut += stats.bytesIn;
        this.host.channelClose({ ...info, reason, bytesIn: stats.bytesOut, bytesOut: stats.bytesIn, durationMs: Date.now() - openedAt, ...(error ? { error } : {}) });
      },
    });
    view = { get bytesIn() { return pipe.stats.bytesOut; }, get bytesOut() { return pipe.stats.bytesIn; } };
    l.liveStats.add(view);
    this.live.set(socket, (reason) => pipe.destroy(reason));
    socket.resume();
  }

  private reject(l: Listener, info: LocalChannelInfo, socket: net.Socket, reason: LocalRejectReason, error?: EdgeError): void {
    this.live.delete(socket);
    l.rejectedChannels += 1;
    // A clean close: FIN after anything already written (a SOCKS reply), unread input discarded.
    if (!socket.destroyed) {
      socket.resume();
      socket.end();
      setTimeout(() => socket.destroy(), 2_000).unref();
    }
    const level = reason === 'client-gone' || reason === 'forward-stopped' ? 'debug' : 'info';
    this.host.log(level, `${this.describe(l)}: closed connection from ${info.originAddress}:${info.originPort}: ${reason}${error ? ` (${error.message})` : ''}`, { code: error?.code });
    this.host.channelRejected({ ...info, reason, ...(error ? { error } : {}) });
  }
}

function closedByClient(_signal?: AbortSignal): EdgeError {
  return new EdgeError('EDGE_ERR_CLOSED', 'The connection ended (client gone or forward stopped) before its channel was open.');
}
