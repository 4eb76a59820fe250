// Channels the client opens: session channels (shell, exec, subsystem, pty) are refused, with a
// reason, logged; direct-tcpip (ssh -L) only when enabled and within the key's permitopen, then
// dialled and piped here. The refusal reason reaches the client through src/ssh2/channel-open-refusal.ts.
import net from 'node:net';
import type { Connection, TcpipRequestInfo } from 'ssh2';
import { pipeChannel, type SshChannel } from '../net/channel-pipe.js';
import { installChannelOpenPolicy, type ChannelOpenRequest } from '../ssh2/channel-open-refusal.js';
import { enableHalfClose } from '../ssh2/server-channel-half-close.js';
import { who, type Conn, type GatewayCore } from './gateway-connection.js';

export interface ChannelPolicyOptions {
  /** Allow direct-tcpip (ssh -L) channels, within each key's permitopen. */
  allowDirectTcpip: boolean;
  /** Forwarded connections idle this long are closed; 0 = off. */
  idleTimeoutMs: number;
}

export class ChannelPolicy {
  private warnedInternals = false;

  constructor(private readonly core: GatewayCore, private readonly opts: ChannelPolicyOptions) {}

  /** Puts a logged-in client's channel opens under this policy. */
  attach(conn: Conn, client: Connection): void {
    if (!installChannelOpenPolicy(client, (req) => this.channelPolicy(conn, req)) && !this.warnedInternals) {
      this.warnedInternals = true;
      this.core.log('warn', 'gateway: ssh2 internals changed: refused channels (session, direct-tcpip) are refused without a reason or a log line; see src/ssh2/channel-open-refusal.ts');
    }
    if (this.opts.allowDirectTcpip) {
      client.on('tcpip', (accept, reject, info) => this.directTcpip(conn, accept as () => SshChannel, reject, info));
    }
  }

  /** Refusal reason for a channel the client wants to open, or undefined to let it through. */
  private channelPolicy(conn: Conn, req: ChannelOpenRequest): string | undefined {
    const refuse = (reason: string) => {
      this.core.refuse('channel', `${who(conn)}: ${req.type} channel refused: ${reason}`, { id: conn.id, user: conn.user, remoteAddress: conn.remoteAddress }, 'info');
      return reason;
    };
    switch (req.type) {
      case 'session':
        return refuse('this gateway only accepts port forwarding (ssh -N -R …): no shell, exec, subsystem or pty');
      case 'direct-tcpip': {
        if (!this.opts.allowDirectTcpip) return refuse('direct-tcpip (local forwarding, ssh -L) is disabled on this gateway');
        const options = conn.key?.options;
        if (options && !options.localForwarding) return refuse(`port forwarding is disabled for this key (${options.restrict ? 'restrict' : 'no-port-forwarding'})`);
        const host = String(req.data.destIP ?? '').toLowerCase();
        const port = Number(req.data.destPort);
        if (options && options.permitOpen.length > 0 && !options.permitOpen.some((p) => (p.host === '*' || p.host === host) && (p.port === '*' || p.port === port))) {
          return refuse(`${host}:${port} is not in this key's permitopen`);
        }
        return undefined;
      }
      default:
        return refuse(`channel type ${req.type} is not supported`);
    }
  }

  private directTcpip(conn: Conn, accept: () => SshChannel, reject: () => void, info: TcpipRequestInfo): void {
    const dest = `${info.destIP}:${info.destPort}`;
    const socket = net.connect({ host: info.destIP, port: info.destPort, allowHalfOpen: true, noDelay: true });
    const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), 10_000);
    socket.once('error', (err) => {
      clearTimeout(timer);
      if (socket.connecting || !socket.remoteAddress) {
        this.core.log('info', `gateway: ${who(conn)}: direct-tcpip to ${dest} failed: ${err.message}`, { event: 'direct-tcpip-failed', id: conn.id, user: conn.user, dest });
        reject();
      }
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      if (conn.closed) return void socket.destroy();
      let channel: SshChannel;
      try {
        channel = accept();
      } catch {
        return void socket.destroy();
      }
      enableHalfClose(channel);
      const openedAt = Date.now();
      this.core.log('debug', `gateway: ${who(conn)}: direct-tcpip to ${dest}`, { event: 'direct-tcpip', id: conn.id, user: conn.user, dest });
      pipeChannel(channel, socket, {
        idleTimeoutMs: this.opts.idleTimeoutMs,
        gate: conn.gate!,
        onClose: (reason, stats) => this.core.log('info', `gateway: ${who(conn)}: direct-tcpip to ${dest} closed (${reason}), ${stats.bytesIn} bytes sent, ${stats.bytesOut} bytes received, ${Date.now() - openedAt} ms`, {
          event: 'direct-tcpip-close', id: conn.id, user: conn.user, dest, bytesIn: stats.bytesIn, bytesOut: stats.bytesOut, durationMs: Date.now() - openedAt, reason,
        }),
      });
    });
  }
}
