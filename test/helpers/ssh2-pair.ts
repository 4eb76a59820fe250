// A live in-process ssh2 client and server on a loopback TCP connection, for tests that install
// an ssh2 hook (src/ssh2/) on one side and watch what the other side sees. The server accepts
// any login; `onConnection` runs on the server's connection before its first packet is handled
// (where server-side hooks are installed), `afterConnect` right after client.connect() (where
// client-side hooks are installed). close() ends both.
import net from 'node:net';
import ssh2, { type ConnectConfig as ClientConfig, type Connection, type ServerConfig } from 'ssh2';
import { generateEd25519 } from '../../src/gateway/host-key.js';

const hostKey = Buffer.from(generateEd25519('ssh2-pair').private);

export interface Ssh2Pair {
  client: ssh2.Client;
  /** The server's connection object for this client. */
  server: Connection;
  /** The server's TCP socket (destroy it to cut the connection). */
  serverSocket: net.Socket;
  close(): void;
}

export interface Ssh2PairOptions {
  server?: Partial<ServerConfig>;
  client?: Partial<ClientConfig>;
  onConnection?: (conn: Connection) => void;
  afterConnect?: (client: ssh2.Client) => void;
  /** The client's socket to the server's port (default: ssh2 dials host and port itself). */
  clientSocket?: (port: number) => net.Socket;
}

export async function connectSsh2Pair(opts: Ssh2PairOptions = {}): Promise<Ssh2Pair> {
  const ssh = new ssh2.Server({ hostKeys: [hostKey], ...opts.server });
  let serverSocket!: net.Socket;
  const tcp = net.createServer((sock) => { serverSocket = sock; ssh.injectSocket(sock); });
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  const server = new Promise<Connection>((resolve) => {
    ssh.on('connection', (conn) => {
      conn.on('error', () => {});
      opts.onConnection?.(conn);
      conn.on('authentication', (ctx) => ctx.accept());
      conn.on('ready', () => resolve(conn));
    });
  });
  const client = new ssh2.Client();
  client.on('error', () => {});
  const close = () => { client.end(); serverSocket?.destroy(); tcp.close(); };
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      client.once('error', reject);
      const port = (tcp.address() as net.AddressInfo).port;
      client.connect({ host: '127.0.0.1', port, username: 'x', hostVerifier: () => true, ...(opts.clientSocket ? { sock: opts.clientSocket(port) } : {}), ...opts.client });
      opts.afterConnect?.(client);
    });
  } catch (err) {
    close();
    throw err;
  }
  return { client, server: await server, serverSocket, close };
}
