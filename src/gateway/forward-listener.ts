// One tcpip-forward on the gateway: the listening socket(s) for one bind address and port, and
// a forwarded-tcpip channel to the agent for every connection that arrives there. Or one
// streamlocal-forward (socketPath set): a unix socket (mode 0660; a stale socket file at the
// path — one nobody listens on — is replaced, as sshd's StreamLocalBindUnlink yes; the file
// goes when the listener closes) and a forwarded-streamlocal@openssh.com channel per connection. Bytes are
// piped with backpressure both ways and half-close is propagated (the same pump the agent
// uses, src/net/channel-pipe.ts); the SSH socket's send queue is bounded by a gate.
//
// Only a real CHANNEL_EOF from the agent becomes a FIN to the outside client. A channel that
// dies any other way (the agent's connection lost, CLOSE without EOF, a takeover, the drain
// deadline at shutdown) resets the client's TCP connection (RST), so a cut transfer never
// looks complete to it. The idle timeout still ends with FIN: nothing was in flight.
import { chmod, lstat, unlink } from 'node:fs/promises';
import net from 'node:net';
import { pipeChannel, resetTarget, type ChannelCloseReason, type SshChannel } from '../net/channel-pipe.js';
import type { SshSocketGate } from '../net/ssh-socket-gate.js';
import { unmapAddress } from '../grammar/host-name.js';
import { bindSockets, type ListenSocketSpec } from '../grammar/bind.js';
import { enableHalfClose } from '../ssh2/server-channel-half-close.js';
import { isMissingAddressFamily, listenErrorReason } from '../lifecycle/errno.js';

export type GatewayLogLevel = 'error' | 'warn' | 'info' | 'debug';
export type GatewayLog = (level: GatewayLogLevel, msg: string, fields?: Record<string, unknown>) => void;

/** One forwarded connection, as reported when it ends. */
export interface ForwardChannelInfo {
  connection: number;
  user: string;
  bind: string;
  port: number;
  /** For a unix socket forward: its path (bind is '' and port 0 then). */
  socketPath?: string;
  originAddress: string;
  originPort: number;
  /** Bytes from the outside client towards the agent. */
  bytesIn: number;
  /** Bytes from the agent back to the outside client. */
  bytesOut: number;
  durationMs: number;
  reason: ChannelCloseReason;
}

export interface ForwardListenerStatus {
  /** Bind address as the client requested it. */
  bind: string;
  /** The port listened on (the chosen one when 0 was requested). */
  port: number;
  requestedPort: number;
  /** For a unix socket forward: its path (bind is '' and port 0 then). */
  socketPath?: string;
  since: string;
  channelsOpen: number;
  channelsTotal: number;
  /** Bytes from outside clients towards the agent (closed and open channels). */
  bytesIn: number;
  /** Bytes from the agent back to outside clients. */
  bytesOut: number;
}

export interface ForwardListenerOptions {
  bind: string;
  requestedPort: number;
  /** Listen on this unix socket instead of bind:port (already checked by the socket policy). */
  socketPath?: string;
  connection: number;
  user: string;
  /** 0 = off. */
  idleTimeoutMs: number;
  gate: SshSocketGate;
  /** Asks the agent for a channel (forwarded-tcpip, or forwarded-streamlocal for a socket). */
  openChannel(boundAddr: string, boundPort: number, originAddr: string, originPort: number, cb: (err: Error | undefined, channel?: SshChannel) => void): void;
  log: GatewayLog;
  onChannelOpen?(info: Omit<ForwardChannelInfo, 'bytesIn' | 'bytesOut' | 'durationMs' | 'reason'>): void;
  onChannelClose?(info: ForwardChannelInfo): void;
}

/** A listen failure with the errno code, for the refusal message. */
export class ListenError extends Error {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
  }
}

export class ForwardListener {
  readonly bind: string;
  readonly requestedPort: number;
  readonly socketPath: string | undefined;
  readonly since = new Date();
  port = 0;
  channelsOpen = 0;
  channelsTotal = 0;
  private closedBytesIn = 0;
  private closedBytesOut = 0;
  private readonly servers: net.Server[] = [];
  private readonly live = new Set<{ sock: net.Socket; stats: { bytesIn: number; bytesOut: number }; destroy(reason: ChannelCloseReason): void }>();
  private readonly pending = new Set<net.Socket>();
  private stopped = false;

  constructor(private readonly opts: ForwardListenerOptions) {
    this.bind = opts.bind;
    this.requestedPort = opts.requestedPort;
    this.socketPath = opts.socketPath;
  }

  /** Binds every socket the bind address needs; resolves with the port. Throws ListenError. */
  async listen(): Promise<number> {
    if (this.socketPath !== undefined) return this.listenUnix(this.socketPath);
    const specs = bindSockets(this.bind);
    if (!specs) throw new ListenError(`bind address "${this.bind}" is not supported (use "", 0.0.0.0, ::, localhost or an IP address)`, 'EINVAL');
    // With port 0 and several sockets (localhost), the port the first one got may be taken in
    // the other family; try a few times before giving up.
    for (let attempt = 0; ; attempt++) {
      try {
        let port = this.requestedPort;
        for (const spec of specs) {
          const bound = await this.bindOne(spec, port);
          if (bound !== undefined) port = bound;
        }
        this.port = port;
        return port;
      } catch (err) {
        this.closeServers();
        const code = (err as NodeJS.ErrnoException).code;
        if (this.requestedPort === 0 && specs.length > 1 && code === 'EADDRINUSE' && attempt < 5) continue;
        throw err instanceof ListenError ? err : new ListenError(`cannot listen on ${this.where}: ${listenErrorReason(err)}`, code);
      }
    }
  }

  /** Replaces a stale socket file, listens, sets mode 0660. Resolves with 0 (no port). */
  private async listenUnix(socketPath: string): Promise<number> {
    const fail = (code: string | undefined, why: string) => new ListenError(`cannot listen on ${socketPath}: ${why}`, code);
    const existing = await lstat(socketPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw fail(err.code, err.message);
    });
    if (existing) {
      if (!existing.isSocket()) throw fail('EEXIST', 'a file that is not a socket is in the way (it is left alone)');
      // Stale means nobody listens: a live socket of another process is not ours to replace.
      if (await someoneListens(socketPath)) throw fail('EADDRINUSE', 'another process listens on that socket (it is left alone)');
      await unlink(socketPath).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw fail(err.code, `cannot remove the stale socket: ${err.message}`); });
      this.opts.log('info', `gateway: removed the stale socket ${socketPath} before listening on it`, { event: 'stale-socket', socketPath });
    }
    await new Promise<void>((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) => this.onConnection(sock));
      server.once('error', (err: NodeJS.ErrnoException) => reject(fail(err.code, listenErrorReason(err, 'unix'))));
      server.listen(socketPath, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.opts.log('warn', `gateway: listener ${socketPath} failed: ${err.message}`, { socketPath }));
        this.servers.push(server);
        resolve();
      });
    });
    try {
      await chmod(socketPath, 0o660);
    } catch (err) {
      this.closeServers();
      throw fail((err as NodeJS.ErrnoException).code, `cannot set mode 0660: ${(err as Error).message}`);
    }
    return 0;
  }

  private async bindOne(spec: ListenSocketSpec, port: number): Promise<number | undefined> {
    try {
      return await this.listenSocket(spec.host, port, spec.ipv6Only);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (isMissingAddressFamily(code)) {
        if (spec.fallbackHost) return this.listenSocket(spec.fallbackHost, port, undefined);
        if (spec.optional) {
          this.opts.log('debug', `gateway: ${spec.host} is not available on this host; ${this.where} listens without it`, { bind: this.bind, port });
          return undefined;
        }
      }
      throw err;
    }
  }

  private listenSocket(host: string, port: number, ipv6Only: boolean | undefined): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (sock) => this.onConnection(sock));
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      server.listen({ host, port, ...(ipv6Only === undefined ? {} : { ipv6Only }) }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.opts.log('warn', `gateway: listener ${this.where} failed: ${err.message}`, { bind: this.bind, port: this.port }));
        this.servers.push(server);
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  private get where(): string {
    if (this.socketPath !== undefined) return this.socketPath;
    const port = this.port || this.requestedPort;
    return `${this.bind === '' ? '*' : this.bind.includes(':') ? `[${this.bind}]` : this.bind}:${port}`;
  }

  private onConnection(sock: net.Socket): void {
    sock.on('error', () => {}); // reported through the pipe (or irrelevant before it exists)
    if (this.stopped) {
      sock.destroy();
      return;
    }
    if (this.socketPath === undefined) sock.setNoDelay(true);
    const originAddress = unmapAddress(sock.remoteAddress ?? '');
    const originPort = sock.remotePort ?? 0;
    const base = { connection: this.opts.connection, user: this.opts.user, bind: this.bind, port: this.port, ...(this.socketPath !== undefined ? { socketPath: this.socketPath } : {}), originAddress, originPort };
    const from = this.socketPath === undefined ? `${originAddress}:${originPort}` : 'a unix socket client';
    this.pending.add(sock);
    this.opts.openChannel(this.bind, this.port, originAddress, originPort, (err, channel) => {
      this.pending.delete(sock);
      if (err || !channel) {
        this.opts.log('info', `gateway: agent refused a channel for ${this.where} from ${from}: ${err?.message ?? 'no channel'}`, { ...base, event: 'channel-refused' });
        sock.destroy();
        return;
      }
      if (sock.destroyed || this.stopped) {
        channel.close();
        sock.destroy();
        return;
      }
      enableHalfClose(channel);
      const openedAt = Date.now();
      this.channelsOpen += 1;
      this.channelsTotal += 1;
      this.opts.onChannelOpen?.(base);
      this.opts.log('debug', `gateway: channel open ${from} -> ${this.where}`, { ...base, event: 'channel-open' });
      const entry = {
        sock,
        stats: { bytesIn: 0, bytesOut: 0 },
        destroy: (_reason: ChannelCloseReason) => {},
      };
      const pipe = pipeChannel(channel, sock, {
        idleTimeoutMs: this.opts.idleTimeoutMs,
        gate: this.opts.gate,
        onClose: (reason, stats, error) => {
          this.live.delete(entry);
          this.channelsOpen -= 1;
          // The pump counts from the agent's point of view (channel → socket is "in" there).
          const info: ForwardChannelInfo = { ...base, bytesIn: stats.bytesOut, bytesOut: stats.bytesIn, durationMs: Date.now() - openedAt, reason };
          this.closedBytesIn += info.bytesIn;
          this.closedBytesOut += info.bytesOut;
          this.opts.log('info', `gateway: channel closed ${from} -> ${this.where} (${reason}${error ? `: ${error.message}` : ''}), ${info.bytesIn} bytes in, ${info.bytesOut} bytes out, ${info.durationMs} ms`, { ...info, event: 'channel-close' });
          this.opts.onChannelClose?.(info);
        },
      });
      entry.stats = pipe.stats;
      entry.destroy = pipe.destroy;
      this.live.add(entry);
      sock.resume();
    });
  }

  /** Stops accepting (the port is released, the socket file removed, at once); open channels continue. Idempotent. */
  stopListening(): void {
    this.stopped = true;
    this.closeServers();
  }

  /**
   * Stops listening and tears down every open channel and connection still waiting for one;
   * the outside clients' connections are reset (their streams were cut, not finished).
   */
  destroy(reason: ChannelCloseReason = 'destroyed'): void {
    this.stopListening();
    for (const sock of this.pending) resetTarget(sock);
    this.pending.clear();
    for (const entry of [...this.live]) {
      resetTarget(entry.sock);
      entry.destroy(reason);
    }
  }

  private closeServers(): void {
    for (const server of this.servers.splice(0)) server.close();
  }

  status(): ForwardListenerStatus {
    let bytesIn = this.closedBytesIn;
    let bytesOut = this.closedBytesOut;
    for (const { stats } of this.live) {
      bytesIn += stats.bytesOut;
      bytesOut += stats.bytesIn;
    }
    return {
      bind: this.bind, port: this.port, requestedPort: this.requestedPort, ...(this.socketPath !== undefined ? { socketPath: this.socketPath } : {}), since: this.since.toISOString(),
      channelsOpen: this.channelsOpen, channelsTotal: this.channelsTotal, bytesIn, bytesOut,
    };
  }
}

/** Whether a connect to the unix socket succeeds (1 s at most; any failure counts as no). */
function someoneListens(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect({ path: socketPath });
    const done = (live: boolean) => { clearTimeout(timer); probe.destroy(); resolve(live); };
    const timer = setTimeout(() => done(false), 1_000);
    probe.once('connect', () => done(true));
    probe.on('error', () => done(false));
  });
}
