// Opens the connection to a byte-pipe target (tcp://, unix:) before the SSH channel is
// accepted, so that a dead service turns into a rejected channel with a reason instead of an
// accepted channel that closes at once. HTTP targets (http://, https://, http+unix:) do not
// come here: their channels are accepted at once and served by targets/http/ (a dead service is
// a 502 there); the http(s) branches below remain for callers that want a raw connection.
// tcp:// and unix: sockets read into the thread's reused buffer (net/target-read-buffer.ts):
// their bytes reach the consumer through targetReaderOf(socket), not 'data' (pipeChannel does
// that).
import net from 'node:net';
import type tlsModule from 'node:tls';
import { EdgeError } from '../../errors.js';
import type { ParsedTarget } from '../../grammar/targets.js';
import { classifyErrno } from '../../lifecycle/errno.js';
import { createTargetReader, reuseTargetReads } from '../../net/target-read-buffer.js';

// node:tls only for the https:// branch (rare: HTTP targets are served by targets/http/), taken
// from process.getBuiltinModule() when dialled, as the fleet client does
// (assignments/fleet-transport.ts): an ES module import of node:tls reads every export of it,
// which materialises tls.rootCertificates (≈ 145 PEM strings, 214 KB of heap) in each thread that
// loads this file (every session worker, `edge-agent tunnel`). test/unit/session-thread-modules.test.ts keeps it out.
const tlsConnect = (options: tlsModule.ConnectionOptions): tlsModule.TLSSocket => process.getBuiltinModule('node:tls').connect(options);

export function dialTarget(target: ParsedTarget, timeoutMs: number, forwardId: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    // A raw connection: TCP to host:port for http://, a verified TLS connection for https://.
    const reader = (target.kind === 'tcp' || target.kind === 'unix') && reuseTargetReads() ? createTargetReader() : undefined;
    const onread = reader ? { onread: reader.onread } : {};
    const socket = target.kind === 'unix'
      ? net.connect({ path: target.path, allowHalfOpen: true, ...onread })
      : target.kind === 'https'
        ? tlsConnect({ host: target.host, port: target.port, servername: net.isIP(target.host) ? undefined : target.host })
        : net.connect({ host: target.host, port: target.port, noDelay: true, allowHalfOpen: true, ...onread });
    reader?.bind(socket);
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
  const kind = classifyErrno(err.code);
  if (kind === 'refused') {
    return new EdgeError('EDGE_ERR_TARGET_REFUSED', `Target ${url} of forward ${forwardId} refused the connection: is the service running?`, { details, cause: err });
  }
  if (kind === 'timed-out') {
    return new EdgeError('EDGE_ERR_TARGET_TIMEOUT', `Target ${url} of forward ${forwardId} timed out while connecting.`, { details, cause: err });
  }
  return new EdgeError('EDGE_ERR_TARGET_UNREACHABLE', `Target ${url} of forward ${forwardId} could not be reached: ${err.code ?? err.message}.`, { details, cause: err });
}
