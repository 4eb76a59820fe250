// One connection attempt to the SSH host: TCP connect (own timeout, TCP_NODELAY) → SSH
// handshake with host key verification → authentication (handshake timeout). Every failure
// comes back as an EdgeError with a code that says whether retrying can help.
//
// Performance levers installed on every connection (measured in bench/, see README):
// - SSH socket writes batched per event-loop turn (ssh-write-batching.ts), where the server is
//   known to send with TCP_NODELAY (else batching costs requests/s against sshd's Nagle);
// - random padding from a pool instead of one randomFillSync per packet (src/ssh2/padding-pool.ts);
// - inbound packets decrypted into reused blocks, SSH socket read into one reused buffer
//   (src/ssh2/inbound-packet-pool.ts, ssh-read-buffer.ts);
// - the cipher order decided once in the main thread (cipher-order.ts);
// - optionally (`sshdNoDelayExec`) one `exec true` so sshd turns on TCP_NODELAY (sshd-nodelay.ts).
// EDGE_DIAG_DISABLE=write-batching,padding-pool,inbound-pool turns the first three off (diagnostics and the
// benchmark's before/after figures only).
import net from 'node:net';
import type { Client } from 'ssh2';
// The client without ssh2's index (its server, keygen and HTTP agents): src/ssh2/client-modules.ts.
import { SshClient } from '../ssh2/client-modules.js';
import { EdgeError } from '../errors.js';
import { createAuthPlan, type AuthIdentity } from './auth.js';
import type { AuthKey } from './user-certificate.js';
import { installClientCertificateAuth } from '../ssh2/client-certificate-auth.js';
import { installClientHostCertificates } from '../ssh2/client-host-certificates.js';
import type { HostKeyDecision } from './host-keys/host-key-verifier.js';
import type { SessionConfig } from './session-config.js';
import { AGENT_IDENT } from '../version.js';
import { mainThreadCipherOrder } from './cipher-order.js';
import { nativeBindingAvailable } from '../ssh2/crypto-binding.js';
import { DEFAULT_ALGORITHMS, defaultAlgorithms, widenAlgorithms } from '../ssh-algorithms.js';
import { requireRsaSha2UserAuth } from '../ssh2/rsa-sha2-user-auth.js';
import { installPaddingPool } from '../ssh2/padding-pool.js';
import { installInboundPacketPool } from '../ssh2/inbound-packet-pool.js';
import { installChannelDataDirect } from '../ssh2/channel-data-direct.js';
import { installOutboundPacketPool } from '../ssh2/outbound-packet-pool.js';
import { createSshReadBuffer, type SshReadBuffer } from './ssh-read-buffer.js';
import { serverSoftwareVersion } from '../ssh2/server-software-version.js';
import { nudgeSshdNoDelay, type NudgeResult } from './sshd-nodelay.js';
import { installWriteBatching, serverSendsNoDelay, type WriteBatching } from '../net/ssh-write-batching.js';
import { connectThroughProxy, resolveProxyRoute } from './proxy/proxy-connect.js';

export interface SshConnection {
  client: Client;
  socket: net.Socket;
  serverBanner: string;
  hostKey: HostKeyDecision;
  /** How we logged in (method, key fingerprint, certificate summary). */
  auth: AuthIdentity | null;
  /** What carries the bytes: negotiated cipher, native binding, levers in effect. */
  crypto: ConnectionCrypto;
  /** The `exec true` of sshdNoDelayExec, when enabled (resolves, never rejects). */
  noDelayNudge: Promise<NudgeResult> | null;
  /** Write batching on the SSH socket (null when switched off by EDGE_DIAG_DISABLE). */
  batching: WriteBatching | null;
}

export interface ConnectionCrypto {
  /** Negotiated client-to-server cipher, e.g. aes128-gcm@openssh.com. */
  cipher: string | null;
  /** ssh2's native crypto addon is in use (OpenSSL AES-GCM/chacha20 instead of slower paths). */
  nativeBinding: boolean;
  /** The server sends with TCP_NODELAY (known from its version, or set by sshdNoDelayExec); null = unknown. */
  serverNoDelay: boolean | null;
  /** SSH socket writes are batched per event-loop turn (only while serverNoDelay is true). */
  writeBatching: boolean;
  /** Packet padding comes from the random pool. */
  paddingPool: boolean;
  /** Inbound packets are decrypted into reused blocks (and, where the agent dialled the host itself, read into a reused buffer). */
  inboundPool: boolean;
}

export interface ConnectDeps {
  /** Checks the host key; `expectsCertificates()` true = a CA applies, so host certificates are offered first. */
  verifyHostKey: ((keyBlob: Buffer) => HostKeyDecision) & { expectsCertificates?(): boolean };
  /** Keys for this attempt (certificates already read: src/session/user-certificate.ts). */
  keys: AuthKey[];
  signal: AbortSignal;
  /** Debug lines (sshdNoDelayExec outcome). */
  log?: (level: 'debug' | 'info' | 'warn', message: string) => void;
}

import { disabledLevers } from '../diag-levers.js';
import { connectErrorCode } from '../lifecycle/errno.js';

export { disabledLevers };

export async function openSshConnection(cfg: SessionConfig, deps: ConnectDeps): Promise<SshConnection> {
  const readBuffer = disabledLevers().has('inbound-pool') ? undefined : createSshReadBuffer();
  const socket = await connectTcp(cfg, deps.signal, readBuffer);
  try {
    const conn = await handshake(cfg, socket, deps, readBuffer);
    conn.crypto.serverNoDelay = serverSendsNoDelay(conn.serverBanner);
    const batchIfNoDelay = () => {
      if (conn.crypto.serverNoDelay !== true || !conn.batching) return;
      conn.batching.enable();
      conn.crypto.writeBatching = true;
    };
    batchIfNoDelay();
    if (cfg.sshdNoDelayExec && conn.crypto.serverNoDelay !== true) {
      conn.noDelayNudge = nudgeSshdNoDelay(conn.client, deps.log);
      void conn.noDelayNudge.then((result) => {
        if (result.outcome !== 'exited') return;
        conn.crypto.serverNoDelay = true;
        batchIfNoDelay();
      });
    }
    return conn;
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

function connectTcp(cfg: SessionConfig, signal: AbortSignal, readBuffer?: SshReadBuffer): Promise<net.Socket> {
  // `proxy` (a URL, or "env" = HTTPS_PROXY/ALL_PROXY unless NO_PROXY matches): tunnel through it (proxy/proxy-connect.ts).
  const route = cfg.proxy ? resolveProxyRoute(cfg, cfg.host, cfg.port) : undefined;
  if (route?.proxy) return connectThroughProxy(route.proxy, cfg.host, cfg.port, { timeoutMs: cfg.connectTimeoutMs, signal });
  const where = `${cfg.host}:${cfg.port}`;
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(closedError());
    const socket = net.connect({ host: cfg.host, port: cfg.port, noDelay: true, ...(readBuffer ? { onread: readBuffer.onread } : {}) });
    readBuffer?.bind(socket);
    const cleanup = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.removeListener('error', onError);
    };
    const onAbort = () => {
      cleanup();
      socket.destroy();
      reject(closedError());
    };
    const onError = (err: NodeJS.ErrnoException) => {
      cleanup();
      reject(socketError(err, where));
    };
    const timer = setTimeout(() => {
      cleanup();
      socket.destroy();
      reject(new EdgeError('EDGE_ERR_CONNECT_TIMEOUT', `TCP connection to SSH host ${where} did not complete within ${cfg.connectTimeoutMs} ms (connectTimeoutMs); check the host, port and any firewall in between.`, { details: { host: cfg.host, port: cfg.port } }));
    }, cfg.connectTimeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    socket.once('connect', () => {
      cleanup();
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

function handshake(cfg: SessionConfig, socket: net.Socket, deps: ConnectDeps, readBuffer?: SshReadBuffer): Promise<SshConnection> {
  const where = `${cfg.host}:${cfg.port}`;
  const client = new SshClient();
  const auth = createAuthPlan(cfg.auth, deps.keys);
  let hostKeyError: EdgeError | undefined;
  let hostKey: HostKeyDecision | undefined;
  let serverBanner = '';
  const off = disabledLevers();
  const crypto: ConnectionCrypto = { cipher: null, nativeBinding: nativeBindingAvailable(), serverNoDelay: null, writeBatching: false, paddingPool: false, inboundPool: false };
  let batching: WriteBatching | null = null;

  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: EdgeError) => {
      if (settled) return;
      settled = true;
      deps.signal.removeEventListener('abort', onAbort);
      client.removeAllListeners();
      client.on('error', () => {}); // late errors from a torn-down client must not crash us
      client.end();
      reject(err);
    };
    const onAbort = () => fail(closedError());
    deps.signal.addEventListener('abort', onAbort, { once: true });

    client.on('handshake', (negotiated: { cs?: { cipher?: string } }) => {
      serverBanner = serverSoftwareVersion(client) ?? '';
      crypto.cipher = negotiated?.cs?.cipher ?? crypto.cipher;
    });
    client.once('ready', () => {
      if (settled) return;
      settled = true;
      deps.signal.removeEventListener('abort', onAbort);
      client.removeAllListeners('error');
      client.removeAllListeners('close');
      resolve({ client, socket, serverBanner, hostKey: hostKey!, auth: auth.used(), crypto, noDelayNudge: null, batching });
    });
    // Closed before the server even said who it is (no SSH-2.0 line): sshd dropping us past
    // MaxStartups — alive but busy, which the reconnect backoff treats differently (backoff.ts).
    const beforeIdent = () => serverSoftwareVersion(client) === undefined;
    const busyError = () => new EdgeError('EDGE_ERR_PROTOCOL', `SSH host ${where} closed the connection before identifying itself (busy: e.g. past sshd MaxStartups).`, { details: { host: cfg.host, port: cfg.port, serverBusy: true } });
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (hostKeyError) return fail(hostKeyError);
      if (err.level === 'client-authentication') {
        const tried = auth.tried();
        const certs = auth.triedCertificates();
        const hint = certs.length
          ? `check that the server trusts the certificate's CA (sshd TrustedUserCAKeys, CA ${certs.map((c) => c.caFingerprint).join(', ')}), that its principals include "${cfg.auth.username}" or what AuthorizedPrincipalsFile asks for, and that it is not revoked`
          : "check the username and that the key is in the server's authorized_keys";
        return fail(new EdgeError('EDGE_ERR_AUTH_FAILED', `SSH host ${where} rejected authentication as "${cfg.auth.username}" (tried: ${tried.length ? tried.join(', ') : 'no method the server accepts'}); ${hint}.`, { details: { host: cfg.host, port: cfg.port, username: cfg.auth.username, tried, ...(certs.length ? { certificates: certs } : {}) } }));
      }
      if (err.level === 'client-timeout') {
        return fail(new EdgeError('EDGE_ERR_HANDSHAKE_TIMEOUT', `SSH handshake with ${where} did not finish within ${cfg.handshakeTimeoutMs} ms (handshakeTimeoutMs).`, { details: { host: cfg.host, port: cfg.port } }));
      }
      if (err.level === 'client-socket') return fail(socketError(err, where));
      if (beforeIdent()) return fail(busyError());
      if (/no matching/i.test(err.message)) {
        return fail(new EdgeError('EDGE_ERR_NO_COMMON_ALGORITHM', `SSH host ${where} accepts none of the algorithms the agent offers (${err.message}); the agent offers only algorithms no weaker than OpenSSH 9's. Upgrade the host, or for a legacy host you trust add the names it needs to the session's \`algorithms\` (CLI --algorithms).`, { details: { host: cfg.host, port: cfg.port }, cause: err }));
      }
      fail(new EdgeError('EDGE_ERR_PROTOCOL', `SSH handshake with ${where} failed: ${err.message}.`, { details: { host: cfg.host, port: cfg.port }, cause: err }));
    });
    client.on('close', () => {
      if (hostKeyError) return fail(hostKeyError);
      if (beforeIdent()) return fail(busyError());
      fail(new EdgeError('EDGE_ERR_PROTOCOL', `SSH host ${where} closed the connection during the handshake${serverBanner ? ` (server ${serverBanner})` : ''}.`, { details: { host: cfg.host, port: cfg.port } }));
    });

    // Secure defaults (src/ssh-algorithms.ts) plus the operator's widening; the cipher order is
    // the one decided in the main thread (cipher-order.ts) unless `ciphers` lists them exactly.
    const algorithms = widenAlgorithms(cfg.algorithms, { ...defaultAlgorithms(), cipher: cfg.ciphers ?? mainThreadCipherOrder() ?? [...DEFAULT_ALGORITHMS.cipher] });
    client.connect({
      sock: socket,
      username: cfg.auth.username,
      ident: AGENT_IDENT,
      readyTimeout: cfg.handshakeTimeoutMs,
      // streamlocal-forward (remoteSocket) is an OpenSSH extension; any server that implements it may answer.
      strictVendor: false,
      keepaliveInterval: cfg.keepalive.intervalMs,
      keepaliveCountMax: cfg.keepalive.countMax,
      algorithms: algorithms as never,
      authHandler: auth.handler,
      hostVerifier: (key: Buffer) => {
        try {
          hostKey = deps.verifyHostKey(key);
          return true;
        } catch (err) {
          hostKeyError = err instanceof EdgeError ? err : new EdgeError('EDGE_ERR_HOST_KEY_MISMATCH', String(err));
          return false;
        }
      },
    });
    // After connect(): ssh2 has taken the socket and built the Protocol these hook into.
    // Only where a certificate may be offered (a key's, or one an ssh-agent holds).
    if (cfg.auth.agent || deps.keys.some((k) => k.certificate)) installClientCertificateAuth(client);
    if (deps.verifyHostKey.expectsCertificates?.()) installClientHostCertificates(client);
    // disabled until the server is known to send with TCP_NODELAY (openSshConnection)
    if (!off.has('write-batching')) batching = installWriteBatching(socket, { enabled: false });
    // packet buffers reused once written (rides on the padding pool's allocPacket)
    const outbound = off.has('outbound-pool') ? null : installOutboundPacketPool(socket);
    if (!off.has('padding-pool')) crypto.paddingPool = installPaddingPool(client, outbound ?? undefined);
    if (!off.has('inbound-pool')) {
      const inbound = installInboundPacketPool(client);
      crypto.inboundPool = inbound !== null;
      // views of the reused read buffer only once a patched decipher takes them (else: copies)
      if (inbound) readBuffer?.useViewsWhen(inbound.readSafe);
    }
    // CHANNEL_DATA to the channel pipe's target write without the channel's Readable
    if (!off.has('channel-data-direct')) installChannelDataDirect(client);
    // No SHA-1 signatures with RSA user keys unless the operator allowed ssh-rsa for this host.
    if (!algorithms.serverHostKey.includes('ssh-rsa') && !requireRsaSha2UserAuth(client)) {
      deps.log?.('warn', 'ssh2 internals changed: cannot rule out SHA-1 (ssh-rsa) signatures with RSA user keys on old servers');
    }
  });
}

export function socketError(err: NodeJS.ErrnoException, where: string): EdgeError {
  const details = { where, errno: err.code };
  switch (connectErrorCode(err.code)) {
    case 'EDGE_ERR_CONNECT_REFUSED':
      return new EdgeError('EDGE_ERR_CONNECT_REFUSED', `SSH host ${where} refused the connection: nothing is listening there, or a firewall rejects it.`, { details, cause: err });
    case 'EDGE_ERR_HOST_NOT_FOUND':
      return new EdgeError('EDGE_ERR_HOST_NOT_FOUND', `SSH host name in ${where} did not resolve (${err.code}); check the host setting and DNS.`, { details, cause: err });
    case 'EDGE_ERR_CONNECT_TIMEOUT':
      return new EdgeError('EDGE_ERR_CONNECT_TIMEOUT', `Connection to SSH host ${where} timed out (${err.code}).`, { details, cause: err });
    default:
      return new EdgeError('EDGE_ERR_NETWORK', `Network error talking to SSH host ${where}: ${err.code ?? err.message}.`, { details, cause: err });
  }
}

/** Why an established session ended, from the error ssh2's client reported. */
export function sessionError(err: Error & { level?: string; code?: string }, where: string, keepalive: { countMax: number; intervalMs: number }): EdgeError {
  if (err.level === 'client-timeout' && /keepalive/i.test(err.message)) {
    return new EdgeError('EDGE_ERR_KEEPALIVE_TIMEOUT', `SSH host ${where} stopped answering: ${keepalive.countMax} keepalives sent every ${keepalive.intervalMs} ms went unanswered.`);
  }
  if (err.level === 'client-socket') return socketError(err, where);
  return new EdgeError('EDGE_ERR_CONNECTION_LOST', `SSH session to ${where} failed: ${err.message}`, { cause: err });
}

function closedError(): EdgeError {
  return new EdgeError('EDGE_ERR_CLOSED', 'The session was closed while connecting.');
}
