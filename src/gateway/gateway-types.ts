// The gateway's public shapes: options, start info, status and events (src/gateway/gateway.ts).
import type { Clock } from '../lifecycle/clock.js';
import type { ForwardChannelInfo, ForwardListenerStatus } from './forward-listener.js';
import type { ClientIdentity } from './client-identity.js';
import type { MaxStartups } from './max-startups.js';
import type { AlgorithmChanges } from '../ssh-algorithms.js';
import type { CertificateIdentity, UserCertificateAuthOptions } from './user-certificate-auth.js';

export interface GatewayOptions {
  /** SSH listen address; port 0 = pick a free one. */
  listen: { host: string; port: number };
  /** Private host key; generated (ed25519, mode 0600, plus FILE.pub) when missing. */
  hostKeyFile: string;
  /** OpenSSH authorized_keys (one file for every user name); re-read on each authentication. */
  authorizedKeysFile: string;
  /** Password logins per user name; password auth is off unless given. Never logged. */
  allowPassword?: { [user: string]: string };
  /** Simultaneous TCP connections (authenticated or not); extra ones are closed at accept. Default 1000. */
  maxConnections?: number;
  /** CIDR ranges / addresses allowed to connect at all; empty = everyone. */
  allowedClients?: string[];
  /** Failed authentication attempts before the connection is closed. Default 6. */
  maxAuthAttempts?: number;
  /**
   * Random early drop of unauthenticated connections, as sshd's MaxStartups: 'START:RATE:FULL'
   * (or an object). Default '10:30:100'.
   */
  maxStartups?: string | MaxStartups;
  /** Unauthenticated connections from one address at a time; 0 = no limit. Default 10. */
  perSourceMaxStartups?: number;
  /** Unauthenticated connections are closed after this long; 0 = no limit. Default 20000. */
  loginGraceTimeoutMs?: number;
  /** Keepalive to logged-in clients; 0 = off. Default 15000. */
  keepaliveIntervalMs?: number;
  /** Unanswered keepalives before a client is dropped. Default 3. */
  keepaliveCountMax?: number;
  /** Forwarded connections with no bytes either way for this long are closed; 0 = off (default). */
  idleTimeoutMs?: number;
  /**
   * Before a held port goes to a new connection of the same key, the old connection is probed
   * with a keepalive; an answer within this long means it is alive and keeps the port. Default 3000.
   */
  takeoverProbeTimeoutMs?: number;
  /** Allow direct-tcpip (ssh -L) channels, within each key's permitopen. Default false. */
  allowDirectTcpip?: boolean;
  /**
   * Changes to the default SSH algorithm offer, OpenSSH list syntax per category ("+a,b"
   * appends, "-a,b" removes, "^a,b" puts first, "a,b" replaces); only to admit legacy clients.
   */
  algorithms?: AlgorithmChanges;
  /**
   * Directory for unix socket forwards (streamlocal-forward@openssh.com, `ssh -R /dir/name.sock:…`);
   * none (default) = refused. Sockets go directly inside it, named after the client
   * (src/gateway/socket-policy.ts), mode 0660: the directory's permissions decide who may connect.
   */
  socketDir?: string;
  /** Optional admin HTTP server: GET /status (JSON), GET /healthz. */
  adminListen?: { host: string; port: number };
  /** User certificate logins (TrustedUserCAKeys, AuthorizedPrincipalsFile, RevokedKeys): src/gateway/user-certificate-auth.ts. */
  userCertificates?: UserCertificateAuthOptions;
  /** OpenSSH host certificate of the host key (ssh-keygen -s CA -h), presented next to the plain key. */
  hostCertificateFile?: string;
  log?: (level: 'error' | 'warn' | 'info' | 'debug', msg: string, fields?: Record<string, unknown>) => void;
  /** Time for the shutdown deadlines (tests drive it by hand). Default the system clock. */
  clock?: Clock;
}

export interface GatewayStartInfo {
  port: number;
  /** 'SHA256:…' of the host key. */
  fingerprint: string;
  /** 'ssh-ed25519 AAAA…' (for a known_hosts line). */
  hostPublicKey: string;
  adminPort?: number;
}

export interface GatewayConnectionStatus {
  id: number;
  /** The logged-in user; null before authentication. */
  user: string | null;
  authenticated: boolean;
  authMethod: 'publickey' | 'password' | null;
  keyFingerprint: string | null;
  /** The credential this connection proved (null before authentication). */
  identity: ClientIdentity | null;
  /** The user certificate the connection logged in with (key id, serial, CA), else null. */
  certificate: CertificateIdentity | null;
  remoteAddress: string;
  remotePort: number;
  /** ISO time the TCP connection was accepted. */
  since: string;
  clientVersion: string | null;
  forwards: ForwardListenerStatus[];
  /** Bytes through this connection's forwards, closed ones included: towards the agent (in) and back (out). */
  bytesIn: number;
  bytesOut: number;
}

export interface GatewayStatus {
  version: string;
  listen: { host: string; port: number } | null;
  hostKeyFingerprint: string | null;
  startedAt: string | null;
  totals: { accepted: number; refused: number; authFailures: number; takeovers: number; channels: number; droppedStartups: number };
  /** Connections accepted and not yet logged in. */
  unauthenticated: number;
  /** The pre-authentication limits in force. */
  limits: { maxConnections: number; maxStartups: string; perSourceMaxStartups: number; loginGraceTimeoutMs: number };
  connections: GatewayConnectionStatus[];
  /** Who holds which forwarded port. */
  ports: Array<{ bind: string; port: number; connection: number; user: string; holder: ClientIdentity | null }>;
  /** Unix socket forwards: the socket directory (null = off) and who holds which socket. */
  socketDir: string | null;
  sockets: Array<{ path: string; connection: number; user: string; holder: ClientIdentity | null }>;
}

export type RefusalStage = 'accept' | 'auth' | 'forward' | 'channel';

export interface GatewayEvents {
  connection: [info: { id: number; remoteAddress: string; remotePort: number }];
  authenticated: [info: { id: number; user: string; method: 'publickey' | 'password'; keyFingerprint: string | null; remoteAddress: string; remotePort: number }];
  refused: [info: { stage: RefusalStage; reason: string; id?: number; user?: string; remoteAddress: string }];
  /** A unix socket forward has socketPath (bind '' and port 0). */
  forward: [info: { id: number; user: string; bind: string; port: number; requestedPort: number; socketPath?: string }];
  forwardClosed: [info: { id: number; user: string; bind: string; port: number; socketPath?: string; reason: 'cancel' | 'disconnect' | 'takeover' | 'shutdown' }];
  takeover: [info: { user: string; bind: string; port: number; socketPath?: string; from: number; to: number }];
  channelOpen: [info: Omit<ForwardChannelInfo, 'bytesIn' | 'bytesOut' | 'durationMs' | 'reason'>];
  channelClose: [info: ForwardChannelInfo];
  disconnect: [info: { id: number; user: string | null; remoteAddress: string; reason: string; durationMs: number }];
}
