// Opens the connection to a forward's target (tcp://, unix:, http://, https://) before the SSH
// channel is accepted, so that a dead service turns into a rejected channel with a reason
// instead of an accepted channel that closes at once.
import net from 'node:net';
import tls from 'node:tls';
import { EdgeError } from '../errors.js';
import type { ParsedTarget } from './target-url.js';

export function dialTarget(target: ParsedTarget, timeoutMs: number, forwardId: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    // http:// targets are carried as a byte pipe to host:port (HTTP passes through untouched);
    // https:// ones through a verified TLS connection to the service.
    const socket = target.kind === 'unix'
      ? net.connect({ path: target.path, allowHalfOpen: true })
      : target.kind === 'https'
        ? tls.connect({ host: target.host, port: target.port, servername: net.isIP(target.host) ? undefined : target.host })
        : net.connect({ host: target.host, port: target.port, noDelay: true, allowHalfOpen: true });
    const readyEvent = target.kind === 'https' ? 'secureConnect' : 'connect';
    const timer = timeoutMs > 0
      ? setTimeout(() => {
        socket.destroy();
        reject(new EdgeError('EDGE_ERR_TARGET_TIMEOUT', `Target ${target.url} of forward ${forwardId} did not accept a connection within ${timeoutMs} ms (targetConnectTimeoutMs).`, { details: { target: target.url, forward: forwardId } }));
      }, timeoutMs)
      : undefined;
    socket.once(readyEvent, () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      if (target.kind !== 'unix') socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(targetError(err, target.url, forwardId));
    });
  });
}

function targetError(err: NodeJS.ErrnoException, url: string, forwardId: string): EdgeError {
  const details = { target: url, forward: forwardId, errno: err.code };
  if (err.code === 'ECONNREFUSED') {
    return new EdgeError('EDGE_ERR_TARGET_REFUSED', `Target ${url} of forward ${forwardId} refused the connection: is the service running?`, { details, cause: err });
  }
  if (err.code === 'ETIMEDOUT') {
    return new EdgeError('EDGE_ERR_TARGET_TIMEOUT', `Target ${url} of forward ${forwardId} timed out while connecting.`, { details, cause: err });
  }
  return new EdgeError('EDGE_ERR_TARGET_UNREACHABLE', `Target ${url} of forward ${forwardId} could not be reached: ${err.code ?? err.message}.`, { details, cause: err });
}
