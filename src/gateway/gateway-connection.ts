// One client connection as the gateway's parts see it, and the helpers they share for it.
import type { EventEmitter } from 'node:events';
import type net from 'node:net';
import type { Connection } from 'ssh2';
import type { SshSocketGate } from '../net/ssh-socket-gate.js';
import type { AuthorizedKey } from './authorized-keys.js';
import { describeIdentity, type ClientIdentity } from './client-identity.js';
import type { ForwardListener, GatewayLog, GatewayLogLevel } from './forward-listener.js';
import type { ProbeResult } from './liveness-probe.js';
import type { CertificateIdentity } from './user-certificate-auth.js';
import type { GatewayEvents, GatewayStatus, RefusalStage } from './gateway-types.js';

export interface Conn {
  id: number;
  socket: net.Socket;
  socketKey: string;
  remoteAddress: string;
  remotePort: number;
  since: Date;
  client?: Connection;
  clientVersion?: string;
  /** Set just before the accepting ctx.accept(), so 'ready' sees it. */
  user?: string;
  authMethod?: 'publickey' | 'password';
  key?: AuthorizedKey;
  /** Set with user, just before the accepting ctx.accept(). */
  identity?: ClientIdentity;
  /** A liveness probe in flight (shared by concurrent takeover requests). */
  probe?: Promise<ProbeResult>;
  certificate?: CertificateIdentity;
  authenticated: boolean;
  /** Counted in the unauthenticated (MaxStartups) totals until login or close. */
  preAuth: boolean;
  authFailures: number;
  graceTimer?: NodeJS.Timeout;
  gate?: SshSocketGate;
  forwards: Set<ForwardListener>;
  /** Bytes of forwards already removed (the live ones count in their own status). */
  closedBytes: { in: number; out: number };
  closed: boolean;
  endReason?: string;
}

export interface Registered { conn: Conn; fwd: ForwardListener }

/** How long a connection we ended may take to close before we destroy it. */
export const END_GRACE_MS = 1_000;

export type GatewayTotals = GatewayStatus['totals'];

/** What the gateway's parts share: its log, counters, events, refusals and shutdown state. */
export interface GatewayCore {
  readonly log: GatewayLog;
  readonly totals: GatewayTotals;
  readonly events: EventEmitter<GatewayEvents>;
  /** Counts, logs and emits a refusal. */
  refuse(stage: RefusalStage, message: string, info: { id?: number; user?: string; remoteAddress: string; [k: string]: unknown }, level: GatewayLogLevel): void;
  /** Whether close() has begun. */
  closing(): boolean;
}

/** Ends a connection: SSH disconnect now, socket destroyed shortly after if still open. */
export function dropConnection(conn: Conn, reason: string): void {
  if (conn.closed) return;
  conn.endReason ??= reason;
  try {
    conn.client?.end();
  } catch { /* already gone */ }
  if (!conn.client) conn.socket.destroy();
  setTimeout(() => conn.socket.destroy(), END_GRACE_MS).unref();
}

export function holderText(conn: Conn): string {
  return conn.identity ? describeIdentity(conn.identity) : 'unknown identity';
}

export function holderFields(conn: Conn): Record<string, unknown> {
  const id = conn.identity;
  if (!id) return {};
  switch (id.kind) {
    case 'key': return { fingerprint: id.fingerprint, keyComment: id.comment };
    case 'password': return { passwordUser: id.user };
    case 'certificate': return { keyId: id.keyId, serial: id.serial, ca: id.ca, fingerprint: id.fingerprint };
  }
}

export function who(conn: Conn): string {
  return conn.user !== undefined && conn.authenticated
    ? `user "${conn.user}" (connection #${conn.id} from ${conn.remoteAddress}:${conn.remotePort})`
    : `connection #${conn.id} from ${conn.remoteAddress}:${conn.remotePort}`;
}

/** A forward for log lines: its socket path, or '*:8080' / '[::1]:8080'. */
export function describeForward(fwd: ForwardListener): string {
  return fwd.socketPath ?? formatHostPort(fwd.bind === '' ? '*' : fwd.bind, fwd.port);
}

/** 'host:port', IPv6 in brackets. */
export function formatHostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

