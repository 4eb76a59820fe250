// The session's public shapes: its states, status, events and options. Kept apart from the
// session loop so the parts of the session (channel router, remote forwards, device listeners)
// can name them without importing the session itself.
import type { Context } from '@opentelemetry/api';
import type { EdgeError } from '../errors.js';
import type { BackoffOptions } from '../lifecycle/backoff.js';
import type { AuthIdentity } from './auth.js';
import type { ChannelCloseReason, SshChannel } from '../net/channel-pipe.js';
import type { ForwardStatus, RejectReason } from './forward-runtime.js';
import type { DynamicForwardStatus, ListenerStatus, LocalForwardStatus, LocalRejectReason } from './device/listener-types.js';
import type { ConnectionCrypto } from './ssh-connect.js';

export type SessionState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'failed' | 'draining' | 'stopped';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface ChannelInfo {
  id: number;
  sessionId: string;
  forwardId: string;
  originAddress: string;
  originPort: number;
  /** The address/port on the SSH host the outside client connected to. */
  connectedAddress: string;
  connectedPort: number;
  /** The forward's bind address and the port it asked for (0 = server's choice). */
  bind: string;
  requestedPort: number;
  target: string | null;
  /** remote = a channel the SSH host opened (-R); local/dynamic = a connection to a device listener (-L/-D). Absent = remote. */
  direction?: 'remote' | 'local' | 'dynamic';
}

export interface ChannelClosedInfo extends ChannelInfo {
  reason: ChannelCloseReason;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  error?: EdgeError | Error;
}

export interface ReconnectAttemptInfo {
  /** 'ssh' = the session itself, 'forward' = one forward the server refused. */
  kind: 'ssh' | 'forward';
  host: string;
  port: number;
  forwardId?: string;
  /** 1-based number of this retry. */
  retryCount: number;
  /** Retries left after this one; -1 = unlimited. */
  retriesRemaining: number;
  maxRetries: number;
  delayMs: number;
  lastError: EdgeError;
  /** Stops all further retries of this kind. */
  cancel(): void;
}

/** An incoming channel on an event-mode forward (no target): the application decides. */
export interface IncomingChannel extends ChannelInfo {
  accept(): SshChannel;
  reject(): void;
}

export interface SessionStatus {
  id: string;
  state: SessionState;
  host: string;
  port: number;
  attempt: number;
  serverBanner: string | null;
  hostKeyFingerprint: string | null;
  lastError: { code: string; message: string } | null;
  forwards: ForwardStatus[];
  /** Local forwards (-L): listeners on the device. */
  localForwards: LocalForwardStatus[];
  /** Dynamic forwards (-D): SOCKS listeners on the device. */
  dynamicForwards: DynamicForwardStatus[];
  /** How the SSH host is reached: null = directly (no proxy configured); else the masked proxy setting and, once tried, the route used. */
  proxy: { configured: string; route: string | null } | null;
  /** Negotiated cipher, whether ssh2's native crypto binding is in use, levers (null while not connected). */
  crypto?: ConnectionCrypto | null;
  /** The identity of the last successful login (null before the first): method, key fingerprint, certificate summary. */
  auth?: AuthIdentity | null;
}

export interface TunnelSessionEvents {
  state: [state: SessionState, error: EdgeError | null];
  connected: [info: { attempt: number; serverBanner: string; hostKeyFingerprint: string; hostKeyType: string; hostKeyVerifiedBy: string }];
  disconnected: [error: EdgeError];
  connectFailed: [info: { attempt: number; error: EdgeError }];
  reconnectAttempt: [info: ReconnectAttemptInfo];
  forward: [status: ForwardStatus];
  /** A local or dynamic forward's listener changed state (or settings). */
  localForward: [status: ListenerStatus];
  /** A tcpip-forward request is being sent; its outcome arrives as a `forward` status. */
  forwardRequest: [info: { forwardId: string; bind: string; port: number }];
  channelOpen: [info: ChannelInfo];
  channelClose: [info: ChannelClosedInfo];
  channelRejected: [info: ChannelInfo & { reason: RejectReason | LocalRejectReason; error?: EdgeError }];
  log: [level: LogLevel, message: string, fields?: Record<string, unknown>];
}

export interface TunnelSessionOptions {
  /** Handles channels of forwards without a target (event mode). Default: reject them. */
  onIncomingChannel?: (channel: IncomingChannel) => void;
  /**
   * The trace context a channel of an HTTP target runs in (e.g. the channel's own span): each
   * request's CLIENT span becomes its child. Default: none (requests start their own traces).
   */
  channelTraceContext?: (channel: ChannelInfo) => Context | undefined;
  /** First channel id (default 1): sessions that share one event stream (several gateways) keep ids apart. */
  firstChannelId?: number;
  /** Clock and random source of the reconnect backoff (tests drive them by hand). Default the real ones. */
  backoff?: Pick<BackoffOptions, 'clock' | 'random'>;
}
