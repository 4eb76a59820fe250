// The shapes a device listener (local -L or dynamic -D forward) shows the rest of the agent:
// its status and why a connection was closed without a channel. Types only, so the session's
// event types can name them without importing the listener code.
import type { ForwardState } from '../forward-lifecycle.js';
import type { DynamicForwardConfig, LocalForwardConfig } from '../session-config.js';

export type ListenerKind = 'local' | 'dynamic';

/** A local or dynamic forward's settings, tagged with its kind. */
export type AnyListenerConfig = (LocalForwardConfig & { kind: 'local' }) | (DynamicForwardConfig & { kind: 'dynamic' });

/** Why a connection to a local or dynamic forward was closed without a channel. */
export type LocalRejectReason =
  | 'max-channels' | 'destination-denied' | 'socks-auth' | 'socks-protocol'
  | 'session-unavailable' | 'channel-open-failed' | 'forward-stopped' | 'client-gone';

export interface ListenerStatusBase {
  id: string;
  /** pending (not listening yet), up (listening), retrying (listen failed, retry scheduled), refused (gave up), stopped. */
  state: ForwardState;
  bind: string;
  port: number;
  /** The port actually listened on (differs from `port` when it is 0); null while not listening. */
  localPort: number | null;
  allowRelay: boolean;
  /** open = connected now (including those waiting for their channel). */
  channels: { open: number; total: number; rejected: number };
  /** Bytes from the connecting client toward the destination. */
  bytesIn: number;
  /** Bytes from the destination back to the client. */
  bytesOut: number;
  lastError: { code: string; message: string } | null;
}

export interface LocalForwardStatus extends ListenerStatusBase {
  kind: 'local';
  host: string;
  hostPort: number;
  /** tcp://host:hostPort, as reached from the SSH host. */
  target: string;
}

export interface DynamicForwardStatus extends ListenerStatusBase {
  kind: 'dynamic';
  allowDestinations: string[];
  /** SOCKS5 username/password authentication required. */
  auth: boolean;
}

export type ListenerStatus = LocalForwardStatus | DynamicForwardStatus;
