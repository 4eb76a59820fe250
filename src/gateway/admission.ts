// Who may start an SSH conversation at all, decided at TCP accept before any SSH byte:
// allowedClients (CIDR), perSourceMaxStartups, maxStartups (random early drop of
// unauthenticated connections, src/gateway/max-startups.ts) and maxConnections; the
// unauthenticated accounting those limits need; the login grace timer; throttled drop notices.
import type net from 'node:net';
import type { OriginAllowList } from '../grammar/origin-allow-list.js';
import { END_GRACE_MS, type Conn, type GatewayCore } from './gateway-connection.js';
import { dropStartup, formatMaxStartups, type MaxStartups } from './max-startups.js';

export interface AdmissionLimits {
  maxConnections: number;
  maxStartups: MaxStartups;
  perSourceMaxStartups: number;
  loginGraceTimeoutMs: number;
  allowedClients: OriginAllowList;
}

export class Admission {
  private unauthenticatedCount = 0;
  private readonly unauthenticatedBySource = new Map<string, number>();
  /** Drop log lines are throttled: a flood must not flood the log too. */
  private readonly dropNotice = { lastAt: 0, suppressed: 0 };

  constructor(private readonly core: GatewayCore, private readonly limits: AdmissionLimits) {}

  /** Connections accepted and not yet logged in. */
  get unauthenticated(): number {
    return this.unauthenticatedCount;
  }

  /** The pre-authentication limits in force, for the status. */
  status(): { maxConnections: number; maxStartups: string; perSourceMaxStartups: number; loginGraceTimeoutMs: number } {
    return {
      maxConnections: this.limits.maxConnections,
      maxStartups: formatMaxStartups(this.limits.maxStartups),
      perSourceMaxStartups: this.limits.perSourceMaxStartups,
      loginGraceTimeoutMs: this.limits.loginGraceTimeoutMs,
    };
  }

  /** Whether a new TCP connection may go on to SSH; a refused socket is closed here. */
  admit(socket: net.Socket, remoteAddress: string, remotePort: number, openConnections: number): boolean {
    if (!this.limits.allowedClients.allows(remoteAddress)) {
      this.core.refuse('accept', `connection from ${remoteAddress}:${remotePort} refused: address not in allowedClients`, { remoteAddress }, 'warn');
      socket.destroy();
      return false;
    }
    const perSource = this.limits.perSourceMaxStartups;
    const fromSource = this.unauthenticatedBySource.get(remoteAddress) ?? 0;
    if (perSource > 0 && fromSource >= perSource) {
      this.dropStartup(socket, remoteAddress, remotePort, `${fromSource} unauthenticated connections from ${remoteAddress} already (perSourceMaxStartups ${perSource})`);
      return false;
    }
    if (dropStartup(this.unauthenticatedCount, this.limits.maxStartups)) {
      this.dropStartup(socket, remoteAddress, remotePort, `past maxStartups ${formatMaxStartups(this.limits.maxStartups)} (${this.unauthenticatedCount} unauthenticated connections)`);
      return false;
    }
    if (openConnections >= this.limits.maxConnections) {
      this.core.refuse('accept', `connection from ${remoteAddress}:${remotePort} closed: maxConnections (${this.limits.maxConnections}) reached`, { remoteAddress }, 'warn');
      closeGently(socket);
      return false;
    }
    return true;
  }

  /** An admitted connection counts as unauthenticated until login or close; its login grace time starts. */
  enterPreAuth(conn: Conn): void {
    this.unauthenticatedCount += 1;
    this.unauthenticatedBySource.set(conn.remoteAddress, (this.unauthenticatedBySource.get(conn.remoteAddress) ?? 0) + 1);
    const graceMs = this.limits.loginGraceTimeoutMs;
    if (graceMs > 0) {
      conn.graceTimer = setTimeout(() => {
        this.core.refuse('auth', `connection #${conn.id} from ${conn.remoteAddress}:${conn.remotePort} closed: not authenticated within the login grace time (${graceMs} ms)`, { id: conn.id, remoteAddress: conn.remoteAddress }, 'info');
        conn.endReason = 'login grace time exceeded';
        conn.socket.destroy();
      }, graceMs);
    }
  }

  /** The connection stops counting as unauthenticated (logged in, or gone). */
  leavePreAuth(conn: Conn): void {
    clearTimeout(conn.graceTimer);
    if (!conn.preAuth) return;
    conn.preAuth = false;
    this.unauthenticatedCount -= 1;
    const left = (this.unauthenticatedBySource.get(conn.remoteAddress) ?? 1) - 1;
    if (left > 0) this.unauthenticatedBySource.set(conn.remoteAddress, left);
    else this.unauthenticatedBySource.delete(conn.remoteAddress);
  }

  /** Closes a connection at accept because of the pre-authentication limits; logs throttled. */
  private dropStartup(socket: net.Socket, remoteAddress: string, remotePort: number, why: string): void {
    const { totals } = this.core;
    totals.droppedStartups += 1;
    totals.refused += 1;
    socket.destroy();
    const now = Date.now();
    if (now - this.dropNotice.lastAt < 5_000) {
      this.dropNotice.suppressed += 1;
    } else {
      const more = this.dropNotice.suppressed > 0 ? ` (${this.dropNotice.suppressed} more dropped since the last such line)` : '';
      this.dropNotice.lastAt = now;
      this.dropNotice.suppressed = 0;
      this.core.log('warn', `gateway: connection from ${remoteAddress}:${remotePort} dropped before login: ${why}${more}`, { event: 'refused', stage: 'accept', remoteAddress, reason: 'max-startups', droppedStartups: totals.droppedStartups });
    }
    this.core.events.emit('refused', { stage: 'accept', reason: why, remoteAddress });
  }
}

/** Closes a socket we will not serve: FIN after discarding whatever it sent, reset if it lingers. */
function closeGently(socket: net.Socket): void {
  socket.resume();
  socket.end();
  setTimeout(() => socket.destroy(), END_GRACE_MS).unref();
}
