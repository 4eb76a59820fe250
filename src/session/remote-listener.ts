// Where a remote forward listens on the SSH host, and how it is asked for and cancelled there:
// a TCP bind:port (`tcpip-forward`, ssh -R port:…) or a unix socket path
// (`streamlocal-forward@openssh.com`, ssh -R /path:…). The session loop calls these and never
// needs to know which kind a forward is.
import type { Client } from 'ssh2';
import { EdgeError } from '../errors.js';
import type { ForwardConfig } from './session-config.js';

/** Longest socket path a Linux sockaddr_un holds (108 bytes with its terminating NUL). */
const MAX_SOCKET_PATH_BYTES = 107;

/** Throws EDGE_ERR_INVALID_CONFIG naming `key` unless `path` can be a unix socket path on the SSH host. */
export function checkRemoteSocketPath(path: string, key: string): void {
  const bad = (why: string) => new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: ${JSON.stringify(path)} ${why}`);
  if (!path.startsWith('/')) throw bad('must be an absolute path (start with "/").');
  if (/[\x00-\x1f\x7f]/.test(path)) throw bad('contains control characters.');
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) throw bad(`is longer than ${MAX_SOCKET_PATH_BYTES} bytes (the limit of a unix socket path).`);
  if (path.endsWith('/')) throw bad('names a directory, not a socket.');
}

type Listener = Pick<ForwardConfig, 'bind' | 'port' | 'remoteSocket'>;

/** "localhost:8080", "*:0" or "/run/edge/device-42.sock" — for messages and logs. */
export function describeListener(listener: Listener, remotePort: number | null = null): string {
  if (listener.remoteSocket) return listener.remoteSocket;
  return `${listener.bind || '*'}:${remotePort ?? listener.port}`;
}

/** Asks the SSH host to listen; `done` gets the TCP port it listens on (0 for a socket). */
export function requestRemoteListener(client: Client, listener: Listener, done: (err: Error | undefined, remotePort: number) => void): void {
  if (listener.remoteSocket) {
    client.openssh_forwardInStreamLocal(listener.remoteSocket, (err) => done(err ?? undefined, 0));
  } else {
    client.forwardIn(listener.bind, listener.port, (err, remotePort) => done(err ?? undefined, remotePort));
  }
}

/** Asks the SSH host to stop listening (channels already open are not affected). */
export function cancelRemoteListener(client: Client, listener: Listener, remotePort: number, done: (err: Error | undefined) => void): void {
  if (listener.remoteSocket) {
    client.openssh_unforwardInStreamLocal(listener.remoteSocket, (err) => done(err ?? undefined));
  } else {
    client.unforwardIn(listener.bind, remotePort, (err) => done(err ?? undefined));
  }
}
