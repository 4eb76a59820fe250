// One connection attempt to the SSH host: TCP connect (own timeout, TCP_NODELAY) → SSH
// handshake with host key verification → authentication (handshake timeout). Every failure
// comes back as an EdgeError with a code that says whether retrying can help.
import net from 'node:net';
import ssh2, { type Client, type ParsedKey } from 'ssh2';

// ssh2 is CommonJS: Node's ESM loader only sees its default export.
const { Client: SshClient } = ssh2;
import { EdgeError } from '../errors.js';
import { createAuthPlan } from './auth.js';
import type { HostKeyDecision } from './host-keys/host-key-verifier.js';
import type { SessionConfig } from './session-config.js';
import { AGENT_IDENT } from '../version.js';

export interface SshConnection {
  client: Client;
  socket: net.Socket;
  serverBanner: string;
  hostKey: HostKeyDecision;
}

export interface ConnectDeps {
  verifyHostKey(keyBlob: Buffer): HostKeyDecision;
  keys: Array<{ key: ParsedKey; source: string }>;
  signal: AbortSignal;
}

export async function openSshConnection(cfg: SessionConfig, deps: ConnectDeps): Promise<SshConnection> {
  const socket = await connectTcp(cfg, deps.signal);
  try {
    return await handshake(cfg, socket, deps);
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

function connectTcp(cfg: SessionConfig, signal: AbortSignal): Promise<net.Socket> {
  const where = `${cfg.host}:${cfg.port}`;
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(closedError());
    const socket = net.connect({ host: cfg.host, port: cfg.port, noDelay: true });
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

function handshake(cfg: SessionConfig, socket: net.Socket, deps: ConnectDeps): Promise<SshConnection> {
  const where = `${cfg.host}:${cfg.port}`;
  const client = new SshClient();
  const auth = createAuthPlan(cfg.auth, deps.keys);
  let hostKeyError: EdgeError | undefined;
  let hostKey: HostKeyDecision | undefined;
  let serverBanner = '';

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

    client.on('handshake', () => {
      serverBanner = (client as unknown as { _remoteVer?: string })._remoteVer ?? '';
    });
    client.once('ready', () => {
      if (settled) return;
      settled = true;
      deps.signal.removeEventListener('abort', onAbort);
      client.removeAllListeners('error');
      client.removeAllListeners('close');
      resolve({ client, socket, serverBanner, hostKey: hostKey!, });
    });
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (hostKeyError) return fail(hostKeyError);
      if (err.level === 'client-authentication') {
        const tried = auth.tried();
        return fail(new EdgeError('EDGE_ERR_AUTH_FAILED', `SSH host ${where} rejected authentication as "${cfg.auth.username}" (tried: ${tried.length ? tried.join(', ') : 'no method the server accepts'}); check the username and that the key is in the server's authorized_keys.`, { details: { host: cfg.host, port: cfg.port, username: cfg.auth.username, tried } }));
      }
      if (err.level === 'client-timeout') {
        return fail(new EdgeError('EDGE_ERR_HANDSHAKE_TIMEOUT', `SSH handshake with ${where} did not finish within ${cfg.handshakeTimeoutMs} ms (handshakeTimeoutMs).`, { details: { host: cfg.host, port: cfg.port } }));
      }
      if (err.level === 'client-socket') return fail(socketError(err, where));
      fail(new EdgeError('EDGE_ERR_PROTOCOL', `SSH handshake with ${where} failed: ${err.message}.`, { details: { host: cfg.host, port: cfg.port }, cause: err }));
    });
    client.on('close', () => {
      if (hostKeyError) return fail(hostKeyError);
      fail(new EdgeError('EDGE_ERR_PROTOCOL', `SSH host ${where} closed the connection during the handshake${serverBanner ? ` (server ${serverBanner})` : ''}.`, { details: { host: cfg.host, port: cfg.port } }));
    });

    client.connect({
      sock: socket,
      username: cfg.auth.username,
      ident: AGENT_IDENT,
      readyTimeout: cfg.handshakeTimeoutMs,
      keepaliveInterval: cfg.keepalive.intervalMs,
      keepaliveCountMax: cfg.keepalive.countMax,
      algorithms: cfg.ciphers ? { cipher: cfg.ciphers as never } : undefined,
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
  });
}

export function socketError(err: NodeJS.ErrnoException, where: string): EdgeError {
  const details = { where, errno: err.code };
  switch (err.code) {
    case 'ECONNREFUSED':
      return new EdgeError('EDGE_ERR_CONNECT_REFUSED', `SSH host ${where} refused the connection: nothing is listening there, or a firewall rejects it.`, { details, cause: err });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new EdgeError('EDGE_ERR_HOST_NOT_FOUND', `SSH host name in ${where} did not resolve (${err.code}); check the host setting and DNS.`, { details, cause: err });
    case 'ETIMEDOUT':
      return new EdgeError('EDGE_ERR_CONNECT_TIMEOUT', `Connection to SSH host ${where} timed out (${err.code}).`, { details, cause: err });
    default:
      return new EdgeError('EDGE_ERR_NETWORK', `Network error talking to SSH host ${where}: ${err.code ?? err.message}.`, { details, cause: err });
  }
}

function closedError(): EdgeError {
  return new EdgeError('EDGE_ERR_CLOSED', 'The session was closed while connecting.');
}
