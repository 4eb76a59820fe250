// The forward registry: which connection holds which forwarded port or unix socket.
// tcpip-forward / cancel-tcpip-forward under the listen policy, streamlocal-forward /
// cancel-streamlocal-forward in the socket directory; a held port or socket belongs to the
// identity that holds it, and a new connection of the same identity takes it over only if the
// old connection fails a keepalive probe (claimHeld, ping-before-takeover); takeovers are logged.
import path from 'node:path';
import type { SocketBindInfo, TcpipBindInfo } from 'ssh2';
import type { SshChannel } from '../net/channel-pipe.js';
import { sameIdentity } from './client-identity.js';
import { ForwardListener, ListenError, type GatewayLogLevel } from './forward-listener.js';
import { describeForward, dropConnection, formatHostPort, holderFields, holderText, who, type Conn, type GatewayCore, type Registered } from './gateway-connection.js';
import type { GatewayStatus } from './gateway-types.js';
import { bindSockets, bindsOverlap } from '../grammar/bind.js';
import { checkListenPolicy } from './listen-policy.js';
import { probeClientAlive } from './liveness-probe.js';
import { checkSocketRequest } from './socket-policy.js';
import { Backoff, type BackoffPolicy } from '../lifecycle/backoff.js';
import { classifyErrno } from '../lifecycle/errno.js';

/** Re-listening on a port just taken over: every 50 ms, up to 20 times (the old socket lets go). */
const RELISTEN_AFTER_TAKEOVER: BackoffPolicy = { baseMs: 50, maxMs: 50, jitter: [1, 1] };

export interface ForwardRegistryOptions {
  /** Forwarded connections idle this long are closed; 0 = off. */
  idleTimeoutMs: number;
  /** How long the holder of a port has to answer the takeover keepalive probe. */
  takeoverProbeTimeoutMs: number;
}

export class ForwardRegistry {
  /** The socket directory's realpath, once started (undefined = socket forwards refused). */
  socketDir: string | undefined;
  private readonly registry = new Set<Registered>();

  constructor(private readonly core: GatewayCore, private readonly opts: ForwardRegistryOptions) {}

  /** Who holds which forwarded port (status). */
  ports(): GatewayStatus['ports'] {
    return [...this.registry].filter((e) => e.conn.forwards.has(e.fwd) && e.fwd.socketPath === undefined).map(({ conn, fwd }) => ({
      bind: fwd.bind, port: fwd.port, connection: conn.id, user: conn.user ?? '', holder: conn.identity ?? null,
    }));
  }

  /** Who holds which unix socket (status). */
  sockets(): GatewayStatus['sockets'] {
    return [...this.registry].filter((e) => e.conn.forwards.has(e.fwd) && e.fwd.socketPath !== undefined).map(({ conn, fwd }) => ({
      path: fwd.socketPath!, connection: conn.id, user: conn.user ?? '', holder: conn.identity ?? null,
    }));
  }

  /** Forwarded connections open across every forward. */
  openChannels(): number {
    let n = 0;
    for (const { fwd } of this.registry) n += fwd.channelsOpen;
    return n;
  }

  /** Every forward stops accepting; open forwarded connections go on. */
  stopListening(): void {
    for (const entry of [...this.registry]) entry.fwd.stopListening();
  }

  /** Removes every forward (gateway shutdown). */
  removeAll(reason: 'shutdown'): void {
    for (const entry of [...this.registry]) this.removeForward(entry, reason);
  }

  /** Removes the forwards of a connection that is gone. */
  removeConnection(conn: Conn): void {
    for (const entry of [...this.registry]) if (entry.conn === conn) this.removeForward(entry, 'disconnect');
  }

  /** A global request of a logged-in client: forward, cancel, or refused as not supported. */
  onRequest(conn: Conn, name: string, info: unknown, accept: ((port?: number) => void) | undefined, reject: (() => void) | undefined): void {
    if (name === 'tcpip-forward') {
      void this.requestForward(conn, info as TcpipBindInfo, accept, reject);
    } else if (name === 'cancel-tcpip-forward') {
      this.cancelForward(conn, info as TcpipBindInfo, accept, reject);
    } else if (name === 'streamlocal-forward@openssh.com') {
      void this.requestSocketForward(conn, String((info as SocketBindInfo).socketPath ?? ''), accept, reject);
    } else if (name === 'cancel-streamlocal-forward@openssh.com') {
      this.cancelSocketForward(conn, String((info as SocketBindInfo).socketPath ?? ''), accept, reject);
    } else {
      this.core.refuse('forward', `${who(conn)}: ${String(name)} refused: not supported`, { id: conn.id, user: conn.user, remoteAddress: conn.remoteAddress }, 'info');
      reject?.();
    }
  }

  private async requestForward(conn: Conn, info: TcpipBindInfo, accept: ((port?: number) => void) | undefined, reject: (() => void) | undefined): Promise<void> {
    const bind = String(info.bindAddr ?? '');
    const port = Number(info.bindPort);
    const where = formatHostPort(bind === '' ? '*' : bind, port);
    const user = conn.user!;
    const refuse = (reason: string, level: GatewayLogLevel = 'warn') => {
      this.core.refuse('forward', `${who(conn)}: forward ${where} refused: ${reason}`, { id: conn.id, user, remoteAddress: conn.remoteAddress, bind, port }, level);
      reject?.();
    };
    if (this.core.closing()) return refuse('the gateway is shutting down', 'info');
    if (!Number.isInteger(port) || port < 0 || port > 65535) return refuse(`${port} is not a TCP port`);
    const decision = checkListenPolicy(conn.key?.options, { bind, port });
    if (!decision.allowed) return refuse(decision.reason);
    if (!bindSockets(bind)) return refuse(`bind address "${bind}" is not supported (use "", 0.0.0.0, ::, localhost or an IP address)`);

    const fwd = this.newForwardListener(conn, { bind, requestedPort: port });
    fwd.port = port;
    const entry: Registered = { conn, fwd };
    const reserve = () => this.registry.add(entry); // the port, against concurrent requests while binding
    let tookOver = false;
    if (port === 0) {
      reserve();
    } else {
      const claim = await this.claimHeld(conn, 'port', () => [...this.registry].filter((e) => e.fwd.socketPath === undefined && e.fwd.port === port && bindsOverlap(e.fwd.bind, bind)), reserve);
      if (!claim.ok) return refuse(claim.reason, claim.level);
      tookOver = claim.tookOver;
    }
    let actual: number | undefined;
    const relisten = new Backoff(RELISTEN_AFTER_TAKEOVER);
    while (actual === undefined) {
      try {
        actual = await fwd.listen();
      } catch (err) {
        // Just taken over: the old listener's socket may need a moment to let go.
        if (tookOver && err instanceof ListenError && classifyErrno(err.code) === 'in-use' && relisten.attempt < 20 && !conn.closed) {
          await relisten.wait(relisten.next());
          continue;
        }
        this.registry.delete(entry);
        return refuse(err instanceof Error ? err.message : String(err));
      }
    }
    if (!this.keepIfCurrent(conn, entry)) return reject?.();
    accept?.(actual);
    this.core.log('info', `gateway: user "${user}" (connection #${conn.id}, ${holderText(conn)}) forwards ${formatHostPort(bind === '' ? '*' : bind, actual)}${port === 0 ? ' (port chosen by the gateway)' : ''}`, {
      event: 'forward', id: conn.id, user, bind, port: actual, requestedPort: port, ...holderFields(conn),
    });
    this.core.events.emit('forward', { id: conn.id, user, bind, port: actual, requestedPort: port });
  }

  /**
   * A port or socket someone may hold: the holder keeps it unless it is this very identity's
   * connection that fails a keepalive probe (ping-before-takeover); that one is dropped and its
   * forwards there removed. `clashing` lists the registered forwards in the way, asked afresh;
   * `reserve` registers the new forward in the same tick as the check that found it free (an
   * await in between would let a concurrent request take it too).
   */
  /** Keeps a forward that just started listening if its connection and registration still stand; else undoes it. */
  private keepIfCurrent(conn: Conn, entry: Registered): boolean {
    if (conn.closed || this.core.closing() || !this.registry.has(entry)) {
      entry.fwd.destroy();
      this.registry.delete(entry);
      return false;
    }
    conn.forwards.add(entry.fwd);
    return true;
  }

  private async claimHeld(conn: Conn, noun: 'port' | 'socket', clashing: () => Registered[], reserve: () => void): Promise<{ ok: true; tookOver: boolean } | { ok: false; reason: string; level: GatewayLogLevel }> {
    const user = conn.user!;
    let tookOver = false;
    for (;;) {
      const held = clashing();
      if (held.length === 0) {
        reserve();
        return { ok: true, tookOver };
      }
      if (held.some((e) => e.conn === conn)) return { ok: false, reason: `this session already forwards that ${noun}`, level: 'info' };
      const foreign = held.find((e) => !e.conn.identity || !conn.identity || !sameIdentity(e.conn.identity, conn.identity));
      if (foreign) {
        return { ok: false, reason: `${noun} in use by another client (held by connection #${foreign.conn.id}, ${holderText(foreign.conn)}; this connection: ${holderText(conn)})`, level: 'warn' };
      }
      const old = held[0]!.conn;
      old.probe ??= probeClientAlive(old.client!, old.socket, this.opts.takeoverProbeTimeoutMs).finally(() => { old.probe = undefined; });
      const probe = await old.probe;
      if (conn.closed || this.core.closing()) return { ok: false, reason: 'the connection or the gateway closed while the holder was probed', level: 'info' };
      if (probe !== 'dead') {
        if (probe === 'unsupported') this.core.log('warn', `gateway: ssh2 internals changed: a ${noun} held by a connection of the same key cannot be probed, so it is never taken over; see src/ssh2/server-ping.ts`);
        return { ok: false, reason: `${noun} in use by another client: connection #${old.id} of the same ${holderText(old)} from ${old.remoteAddress}:${old.remotePort} ${probe === 'alive' ? `answered a keepalive probe within ${this.opts.takeoverProbeTimeoutMs} ms and keeps it` : 'could not be probed'}`, level: 'warn' };
      }
      tookOver = true; // (its listener may need a moment to let go of the port)
      if (old.closed && ![...this.registry].some((e) => e.conn === old)) continue; // gone meanwhile: look again
      for (const entry of clashing().filter((e) => e.conn === old)) {
        const { fwd } = entry;
        this.core.totals.takeovers += 1;
        this.core.log('warn', `gateway: ${holderText(conn)} reconnected: connection #${conn.id} (user "${user}") takes ${describeForward(fwd)} over from its older connection #${old.id} (from ${old.remoteAddress}:${old.remotePort}, since ${old.since.toISOString()}), which did not answer a keepalive probe within ${this.opts.takeoverProbeTimeoutMs} ms and is closed`, {
          event: 'takeover', user, bind: fwd.bind, port: fwd.port, ...(fwd.socketPath !== undefined ? { socketPath: fwd.socketPath } : {}), from: old.id, to: conn.id, ...holderFields(conn),
        });
        this.core.events.emit('takeover', { user, bind: fwd.bind, port: fwd.port, ...(fwd.socketPath !== undefined ? { socketPath: fwd.socketPath } : {}), from: old.id, to: conn.id });
        this.removeForward(entry, 'takeover');
      }
      dropConnection(old, `replaced by connection #${conn.id} of the same ${holderText(old)} (forward takeover after a failed keepalive probe)`);
    }
  }

  /** streamlocal-forward@openssh.com: a unix socket in the socket directory, named after the owner. */
  private async requestSocketForward(conn: Conn, requested: string, accept: (() => void) | undefined, reject: (() => void) | undefined): Promise<void> {
    const user = conn.user!;
    const refuse = (reason: string, level: GatewayLogLevel = 'warn') => {
      this.core.refuse('forward', `${who(conn)}: socket forward ${JSON.stringify(requested)} refused: ${reason}`, { id: conn.id, user, remoteAddress: conn.remoteAddress, socketPath: requested }, level);
      reject?.();
    };
    if (this.core.closing()) return refuse('the gateway is shutting down', 'info');
    if (this.socketDir === undefined) return refuse('unix socket forwarding is off on this gateway (no socket directory configured: --socket-dir)', 'info');
    const decision = checkSocketRequest(this.socketDir, requested, conn.identity, conn.user, conn.key?.options);
    if (!decision.allowed) return refuse(decision.reason);
    const socketPath = decision.path;
    const fwd = this.newForwardListener(conn, { bind: '', requestedPort: 0, socketPath });
    const entry: Registered = { conn, fwd };
    // Reserved (against concurrent requests while binding) in the same tick as the last check.
    const claim = await this.claimHeld(conn, 'socket', () => [...this.registry].filter((e) => e.fwd.socketPath === socketPath), () => this.registry.add(entry));
    if (!claim.ok) return refuse(claim.reason, claim.level);
    try {
      await fwd.listen();
    } catch (err) {
      this.registry.delete(entry);
      return refuse(err instanceof Error ? err.message : String(err));
    }
    if (!this.keepIfCurrent(conn, entry)) return reject?.();
    accept?.();
    this.core.log('info', `gateway: user "${user}" (connection #${conn.id}, ${holderText(conn)}) forwards unix socket ${socketPath}`, {
      event: 'forward', id: conn.id, user, socketPath, ...holderFields(conn),
    });
    this.core.events.emit('forward', { id: conn.id, user, bind: '', port: 0, requestedPort: 0, socketPath });
  }

  private cancelSocketForward(conn: Conn, requested: string, accept: (() => void) | undefined, reject: (() => void) | undefined): void {
    const socketPath = this.socketDir === undefined ? undefined : path.resolve(this.socketDir, requested);
    const entry = [...this.registry].find((e) => e.conn === conn && conn.forwards.has(e.fwd) && e.fwd.socketPath !== undefined && e.fwd.socketPath === socketPath);
    if (!entry) {
      this.core.log('info', `gateway: ${who(conn)}: cancel-streamlocal-forward for ${JSON.stringify(requested)} refused: no such forward on this session`, { event: 'cancel-refused', id: conn.id, user: conn.user, socketPath: requested });
      reject?.();
      return;
    }
    this.removeForward(entry, 'cancel');
    accept?.();
  }

  private newForwardListener(conn: Conn, where: { bind: string; requestedPort: number; socketPath?: string }): ForwardListener {
    return new ForwardListener({
      ...where,
      connection: conn.id,
      user: conn.user!,
      idleTimeoutMs: this.opts.idleTimeoutMs,
      gate: conn.gate!,
      openChannel: (boundAddr, boundPort, originAddr, originPort, cb) => {
        if (conn.closed || !conn.client) return cb(new Error('the SSH session is gone'));
        const done = (err: Error | undefined, channel: unknown) => cb(err ?? undefined, channel as SshChannel);
        try {
          if (where.socketPath !== undefined) conn.client.openssh_forwardOutStreamLocal(where.socketPath, done);
          else conn.client.forwardOut(boundAddr, boundPort, originAddr, originPort, done);
        } catch (err) {
          cb(err as Error);
        }
      },
      log: this.core.log,
      onChannelOpen: (i) => { this.core.totals.channels += 1; this.core.events.emit('channelOpen', i); },
      onChannelClose: (i) => this.core.events.emit('channelClose', i),
    });
  }

  private cancelForward(conn: Conn, info: TcpipBindInfo, accept: (() => void) | undefined, reject: (() => void) | undefined): void {
    const bind = String(info.bindAddr ?? '');
    const port = Number(info.bindPort);
    const norm = (b: string) => (b === '*' ? '' : b.toLowerCase());
    const mine = [...this.registry].filter((e) => e.conn === conn && conn.forwards.has(e.fwd) && e.fwd.socketPath === undefined);
    const entry = mine.find((e) => e.fwd.bind === bind && e.fwd.port === port)
      ?? mine.find((e) => norm(e.fwd.bind) === norm(bind) && (e.fwd.port === port || (port === 0 && e.fwd.requestedPort === 0)));
    if (!entry) {
      this.core.log('info', `gateway: ${who(conn)}: cancel-tcpip-forward for ${formatHostPort(bind === '' ? '*' : bind, port)} refused: no such forward on this session`, { event: 'cancel-refused', id: conn.id, user: conn.user, bind, port });
      reject?.();
      return;
    }
    this.removeForward(entry, 'cancel');
    accept?.();
  }

  /** Unregisters a forward. 'cancel' keeps its open channels running (as sshd does). */
  private removeForward(entry: Registered, reason: 'cancel' | 'disconnect' | 'takeover' | 'shutdown'): void {
    if (!this.registry.delete(entry)) return;
    const { conn, fwd } = entry;
    conn.forwards.delete(fwd);
    if (reason === 'cancel') fwd.stopListening();
    else fwd.destroy(reason === 'shutdown' ? 'drain' : 'destroyed');
    const s = fwd.status();
    conn.closedBytes.in += s.bytesIn;
    conn.closedBytes.out += s.bytesOut;
    const socket = fwd.socketPath !== undefined ? { socketPath: fwd.socketPath } : {};
    this.core.log('info', `gateway: forward ${describeForward(fwd)} of user "${conn.user}" (connection #${conn.id}) closed (${reason}): ${s.channelsTotal} channels, ${s.bytesIn} bytes in, ${s.bytesOut} bytes out`, {
      event: 'forward-closed', id: conn.id, user: conn.user, bind: fwd.bind, port: fwd.port, ...socket, reason, channelsTotal: s.channelsTotal, bytesIn: s.bytesIn, bytesOut: s.bytesOut,
    });
    this.core.events.emit('forwardClosed', { id: conn.id, user: conn.user!, bind: fwd.bind, port: fwd.port, ...socket, reason });
  }
}
