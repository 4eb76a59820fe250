// Opening the listening sockets of one bind address on this machine, as OpenSSH does for -L/-D:
// 'localhost' is 127.0.0.1 and, when the host has IPv6, ::1 on the same port; '' or '*' is
// every interface (dual-stack '::', or '0.0.0.0' without IPv6); anything else is that address.
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { isMissingAddressFamily } from '../lifecycle/errno.js';
import { deviceBindSockets } from '../grammar/bind.js';

/** One listening socket; connections arrive paused (the caller decides when to read). */
export function listenOn(address: string, ipv6Only: boolean, port: number, onConnection: (socket: net.Socket) => void): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, onConnection);
    server.once('error', reject);
    server.listen({ host: address, port, ...(address.includes(':') ? { ipv6Only } : {}) }, () => {
      server.off('error', reject);
      server.on('error', () => {}); // errors on accept are per connection
      resolve(server);
    });
  });
}

export function closeServers(servers: net.Server[]): void {
  for (const s of servers) s.close();
}

/**
 * Opens every socket `bind` needs on `port` (0: any free port, then the same one for the other
 * slots). Throws the first slot's listen error; a later slot that fails for another reason than
 * a missing address family is reported to `partial` and skipped.
 */
export async function listenOnBind(bind: string, port: number, onConnection: (socket: net.Socket) => void, partial: (message: string) => void): Promise<{ servers: net.Server[]; port: number }> {
  const servers: net.Server[] = [];
  const sockets = deviceBindSockets(bind);
  try {
    for (const [i, socket] of sockets.entries()) {
      const alternatives = socket.fallbackHost === undefined ? [socket.host] : [socket.host, socket.fallbackHost];
      let lastErr: unknown;
      let bound = false;
      for (const address of alternatives) {
        try {
          const server = await listenOn(address, socket.ipv6Only ?? false, port, onConnection);
          servers.push(server);
          port = (server.address() as AddressInfo).port;
          bound = true;
          break;
        } catch (err) {
          lastErr = err;
          if (!isMissingAddressFamily((err as NodeJS.ErrnoException).code)) break;
        }
      }
      if (bound) continue;
      if (i === 0) throw lastErr;
      const code = (lastErr as NodeJS.ErrnoException).code;
      if (!isMissingAddressFamily(code)) partial(`listening on ${alternatives.join(', ')} port ${port} too failed (${code ?? String(lastErr)}); it listens on ${sockets[0]!.host} only.`);
    }
  } catch (err) {
    closeServers(servers);
    throw err;
  }
  return { servers, port };
}
