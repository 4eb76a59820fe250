// Two ends of one loopback TCP connection (client with TCP_NODELAY), for tests of socket-level
// write behaviour. The teardown is pushed onto `cleanups` (the caller runs it after each test).
import net from 'node:net';
import { once } from 'node:events';

export async function loopbackSocketPair(cleanups: Array<() => void>): Promise<{ client: net.Socket; server: net.Socket }> {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection');
  const client = net.connect({ port: (listener.address() as net.AddressInfo).port, host: '127.0.0.1', noDelay: true });
  await once(client, 'connect');
  const [server] = (await accepted) as [net.Socket];
  cleanups.push(() => { client.destroy(); server.destroy(); listener.close(); });
  return { client, server };
}
