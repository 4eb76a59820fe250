// ssh2 calls socket.write() once per SSH packet (32 KiB of channel data, or a few bytes for a
// window adjust or a channel confirmation), so a busy tunnel makes one write() system call per
// packet. Corking the SSH socket on the first write of an event-loop turn and uncorking in the
// turn's check phase (setImmediate) hands every packet produced by that turn's I/O callbacks —
// all channels together, like OpenSSH's select loop — to the kernel in one writev(): on channel
// opens 5 write() calls per channel become ~1.2 (strace), and HTTP keep-alive at 32 connections
// gains 10–50% req/s (`npm run bench`, noisy 2-core machine).
//
// Only where the SSH server sends with TCP_NODELAY. Against an sshd that still has Nagle on (a
// forward-only session to OpenSSH ≤ 10.0), fewer, larger writes from us mean fewer segments to
// carry our ACKs, sshd waits for delayed ACKs more often and keep-alive requests/s at 32
// connections dropped by ~45% (10.4k → 5.9k, 3 interleaved rounds of `npm run bench`). So batching starts disabled and is switched on when the server is
// known to send with TCP_NODELAY: OpenSSH ≥ 10.1, edge-agent's own gateway, or after the
// `sshdNoDelayExec` command ran (see sshd-nodelay.ts).
//
// Backpressure accounting is unchanged: corked bytes count in `socket.writableLength` (which
// SshSocketGate reads), write() keeps returning false above the high-water mark and 'drain'
// still fires once the buffer empties. Must be installed after `client.connect()`, on the
// agent's own SSH socket only. TCP_NODELAY stays on for our socket.
import type { Socket } from 'node:net';
import { corkForTurn } from './turn-cork.js';

export interface WriteBatching {
  /** write() calls seen while enabled, and batches (uncorks) that reached the socket. */
  readonly stats: { writes: number; batches: number };
  readonly enabled: boolean;
  enable(): void;
  /** Stops batching (anything corked is flushed at the end of the turn). */
  disable(): void;
  /** Restores the socket's own write(); flushes anything still corked. */
  uninstall(): void;
}

export function installWriteBatching(socket: Socket, options: { enabled?: boolean } = {}): WriteBatching {
  const original = socket.write;
  const stats = { writes: 0, batches: 0 };
  let enabled = options.enabled ?? true;
  const batched = function (this: Socket, ...args: Parameters<Socket['write']>): boolean {
    if (enabled) {
      stats.writes += 1;
      if (corkForTurn(socket)) stats.batches += 1; // uncorked in the turn's check phase
    }
    return (original as (...a: unknown[]) => boolean).apply(this, args);
  } as Socket['write'];
  socket.write = batched;
  return {
    stats,
    get enabled() {
      return enabled;
    },
    enable() {
      enabled = true;
    },
    disable() {
      enabled = false;
    },
    uninstall() {
      enabled = false;
      if (socket.write === batched) socket.write = original;
      if (socket.writableCorked > 0) socket.uncork(); // now, not at the end of the turn
    },
  };
}

/**
 * Does this SSH server send with TCP_NODELAY from the start? true: OpenSSH ≥ 10.1 (sets it on
 * every connection) and edge-agent's gateway; false: older OpenSSH (only once a session runs a
 * command); null: unknown.
 */
export function serverSendsNoDelay(serverBanner: string): boolean | null {
  if (/^ssh-edge-agent-gateway_/.test(serverBanner)) return true;
  const m = /^OpenSSH_(\d+)\.(\d+)/.exec(serverBanner);
  if (!m) return null;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 10 || (major === 10 && minor >= 1);
}
