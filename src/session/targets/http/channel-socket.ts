// An SSH channel dressed as the socket Node's HTTP server expects: a Duplex that carries the
// channel's bytes both ways and has the few net.Socket members the server and its requests
// touch (remoteAddress/remotePort/remoteFamily, localAddress/localPort, setTimeout, setNoDelay,
// setKeepAlive, ref/unref, address(), destroySoon(), bytesWritten). Nothing of Node's is patched:
// the server is handed this object through `server.emit('connection', socket)`, its documented
// way of accepting a connection that did not come from its own listener.
//
// Backpressure is end to end, as in src/net/channel-pipe.ts: reading stops (the channel is paused, so
// ssh2 stops re-opening its window and the SSH host slows the outside client) while the
// server's consumer is full; a write completes only once the channel took it and the SSH socket
// is under its gate's limit, so a full window or a slow uplink pauses whoever writes. The socket
// never holds more than its own highWaterMark in either direction. Half-close goes both ways:
// the client's EOF ends the readable side, end() sends EOF on the channel, and the channel is
// closed once both sides are done (or at once on destroy()).
import net from 'node:net';
import { Duplex } from 'node:stream';
import { ThrottledReader, type ForwardBandwidth } from '../../../net/bandwidth-limit.js';
import type { ChannelCloseReason, PipeStats, SshChannel } from '../../../net/channel-pipe.js';
import type { SshSocketGate } from '../../../net/ssh-socket-gate.js';
import { watchChannelEof } from '../../../ssh2/channel-eof.js';

export interface ChannelSocketInfo {
  /** The outside client, as the SSH host reported it. */
  originAddress: string;
  originPort: number;
  /** The address/port on the SSH host the client connected to. */
  connectedAddress: string;
  connectedPort: number;
}

export interface ChannelSocketOptions {
  gate: SshSocketGate;
  /** The forward's maxBytesPerSecond: reading pauses, and writes complete late, while over it. */
  bandwidth?: ForwardBandwidth;
  /** Closes the channel after this long without a byte either way; 0 = never. */
  idleTimeoutMs: number;
  /** Called once, when the SSH channel has closed. */
  onClose(reason: ChannelCloseReason, stats: PipeStats, error?: Error): void;
}

export class ChannelSocket extends Duplex {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: 'IPv4' | 'IPv6' | undefined;
  readonly localAddress: string;
  readonly localPort: number;
  /** Live counters (bytesIn = from the outside client, bytesOut = to it). */
  readonly stats: PipeStats = { bytesIn: 0, bytesOut: 0 };
  /** Requests of this connection handed to the service and not yet answered. */
  inFlight = 0;
  /** Set when the forward drains: the connection ends after the answers in flight. */
  draining = false;
  /** The outside client sent EOF (a real channel EOF, also emitted as 'clientEnd'): it is gone or done sending. */
  clientEnded = false;

  private readonly channel: SshChannel;
  private readonly gate: SshSocketGate;
  private readonly onCloseCallback: ChannelSocketOptions['onClose'];
  private readonly idleTimer: NodeJS.Timeout | undefined;
  private socketTimer: NodeJS.Timeout | undefined;
  private inputHeld = false;
  private channelClosed = false;
  private reported = false;
  private closeReason: ChannelCloseReason = 'eof';
  private closeError: Error | undefined;
  private pendingWrite: (() => void) | undefined;
  private readonly afterGate = () => this.completeWrite();
  private readonly bandwidth: ForwardBandwidth | undefined;
  private readonly inCap: ThrottledReader | undefined;
  private capTimer: NodeJS.Timeout | undefined;

  constructor(channel: SshChannel, info: ChannelSocketInfo, options: ChannelSocketOptions) {
    // allowHalfOpen: the HTTP server decides when to end its side after the client's EOF.
    super({ allowHalfOpen: true, decodeStrings: true });
    this.channel = channel;
    this.gate = options.gate;
    this.onCloseCallback = options.onClose;
    this.bandwidth = options.bandwidth;
    this.inCap = options.bandwidth && new ThrottledReader(options.bandwidth.in, channel, () => !this.inputHeld && !this.destroyed && this.readableLength < this.readableHighWaterMark);
    this.remoteAddress = info.originAddress;
    this.remotePort = info.originPort;
    const family = net.isIP(info.originAddress);
    this.remoteFamily = family === 4 ? 'IPv4' : family === 6 ? 'IPv6' : undefined;
    this.localAddress = info.connectedAddress;
    this.localPort = info.connectedPort;

    // Errors end the connection and are reported with its close (onClose); a socket whose HTTP
    // server has let go of it (upgrades) must not crash the process with an unheard 'error'.
    this.on('error', () => {});
    // Each pipelined request in flight (up to 16, http-exchange.ts) listens for 'clientEnd'.
    this.setMaxListeners(64);

    this.idleTimer = options.idleTimeoutMs > 0
      ? setTimeout(() => this.destroyWithReason('idle-timeout'), options.idleTimeoutMs)
      : undefined;

    channel.on('data', (chunk: Buffer) => {
      this.stats.bytesIn += chunk.length;
      this.touch();
      if (this.destroyed) return; // torn down: keep draining so ssh2 can finish closing
      if (!this.push(chunk)) channel.pause();
      this.inCap?.consumed(chunk.length);
    });
    const receivedEof = watchChannelEof(channel);
    channel.on('end', () => {
      if (receivedEof()) {
        this.clientEnded = true;
        this.emit('clientEnd');
      }
      if (!this.destroyed) this.push(null);
    });
    channel.on('drain', () => {
      const resume = this.pendingWrite;
      this.pendingWrite = undefined;
      resume?.();
    });
    channel.on('error', (err: Error) => {
      if (this.closeReason === 'eof') this.closeReason = 'channel-error';
      this.closeError ??= err;
      this.destroy();
    });
    channel.on('close', () => {
      this.channelClosed = true;
      if (!this.destroyed) this.destroy();
      this.report();
    });
  }

  // ------------------------------------------------------------ the net.Socket members used

  /** Bytes written to the client so far (net.Socket#bytesWritten). */
  get bytesWritten(): number {
    return this.stats.bytesOut;
  }

  get bytesRead(): number {
    return this.stats.bytesIn;
  }

  /** Like net.Socket#setTimeout: emits 'timeout' after `ms` without activity; 0 disables. */
  setTimeout(ms: number, callback?: () => void): this {
    clearTimeout(this.socketTimer);
    this.socketTimer = undefined;
    if (callback) {
      if (ms === 0) this.off('timeout', callback);
      else this.once('timeout', callback);
    }
    if (ms > 0 && !this.destroyed) {
      this.socketTimer = setTimeout(() => {
        this.socketTimer = undefined;
        // Node's HTTP server destroys the socket on 'timeout' (keep-alive timeout): say why.
        if (this.closeReason === 'eof') this.closeReason = 'idle-timeout';
        this.emit('timeout');
      }, ms);
    }
    return this;
  }

  setNoDelay(_noDelay?: boolean): this {
    return this; // the SSH socket has TCP_NODELAY; a channel has no Nagle of its own
  }

  setKeepAlive(_enable?: boolean, _initialDelay?: number): this {
    return this; // the SSH session has its own keepalives
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  address(): net.AddressInfo {
    return { address: this.localAddress, port: this.localPort, family: net.isIP(this.localAddress) === 6 ? 'IPv6' : 'IPv4' };
  }

  /** Ends the writable side, then destroys once everything was handed to the channel. */
  destroySoon(): void {
    if (this.destroyed) return;
    if (this.writableFinished) {
      this.destroy();
      return;
    }
    this.once('finish', () => this.destroy());
    if (!this.writableEnded) this.end();
  }

  // ------------------------------------------------------------ our own controls

  /**
   * Stops (true) or allows (false) reading from the channel regardless of the readable side's
   * own state: used to cap how many pipelined requests one connection may have in flight.
   */
  holdInput(hold: boolean): void {
    if (this.inputHeld === hold) return;
    this.inputHeld = hold;
    if (hold) this.channel.pause();
    else if (!this.destroyed && !this.inCap?.holding) this.channel.resume();
  }

  /** Ends the connection now, recording why (reported with the channel's close). */
  destroyWithReason(reason: ChannelCloseReason, error?: Error): void {
    if (this.reported) return;
    this.closeReason = reason;
    if (error) this.closeError ??= error;
    if (this.destroyed) this.closeChannel();
    else this.destroy();
  }

  // ------------------------------------------------------------ Duplex implementation

  override _read(): void {
    if (!this.inputHeld && !this.inCap?.holding) this.channel.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.channelClosed) {
      callback(new Error('the SSH channel is closed'));
      return;
    }
    this.stats.bytesOut += chunk.length;
    this.touch();
    this.bandwidth?.out.take(chunk.length);
    this.writeCallback = callback;
    if (this.channel.write(chunk)) this.afterChannelWrite();
    else this.pendingWrite = () => this.afterChannelWrite();
  }

  /** Corked writes (a response head and its body, say) leave as one SSH packet, not several. */
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this._write(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), 'binary', callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.channelClosed) {
      callback();
      return;
    }
    // The channel's own 'finish' comes once every queued byte went out (window permitting);
    // only then may the channel be closed without losing the tail of a response.
    const done = () => {
      this.channel.off('finish', done);
      this.channel.off('close', done);
      callback();
    };
    this.channel.once('finish', done);
    this.channel.once('close', done);
    this.channel.end();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.idleTimer);
    clearTimeout(this.socketTimer);
    clearTimeout(this.capTimer);
    this.inCap?.cancel();
    this.gate.cancel(this.afterGate);
    this.pendingWrite = undefined;
    this.writeCallback = undefined;
    if (error && this.closeReason === 'eof') {
      this.closeReason = 'channel-error';
      this.closeError ??= error;
    }
    this.closeChannel();
    callback(error);
  }

  // ------------------------------------------------------------ internals

  private writeCallback: ((error?: Error | null) => void) | undefined;

  private afterChannelWrite(): void {
    if (this.gate.overLimit) this.gate.waitForDrain(this.afterGate);
    else this.completeWrite();
  }

  private completeWrite(): void {
    const callback = this.writeCallback;
    this.writeCallback = undefined;
    // Over the cap: the write completes (and the writer may go on) once the debt is paid.
    const wait = this.bandwidth?.out.waitMs() ?? 0;
    if (wait > 0 && callback) {
      this.capTimer = setTimeout(() => {
        this.capTimer = undefined;
        callback();
      }, wait);
      return;
    }
    callback?.();
  }

  private closeChannel(): void {
    // Keep the channel flowing so that ssh2 can take in (and drop) what is still arriving.
    this.channel.resume();
    if (this.channelClosed) return;
    try {
      this.channel.close();
    } catch {
      // the SSH connection is already gone; its 'close' reaches the channel anyway
    }
  }

  private touch(): void {
    this.idleTimer?.refresh();
    this.socketTimer?.refresh();
  }

  private report(): void {
    if (this.reported) return;
    this.reported = true;
    this.onCloseCallback(this.closeReason, this.stats, this.closeError);
  }
}
