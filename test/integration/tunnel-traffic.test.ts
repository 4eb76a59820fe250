// Bytes through a real OpenSSH sshd: bulk both ways with checksums, many concurrent channels,
// and half-close. What the user sees: exactly their bytes, in order, at the other end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, pseudoRandomChunks, pseudoRandomSha256, sha256, startEchoServer, startSinkServer, startSourceServer, type SinkServer, type SourceServer, type TcpService } from '../helpers/tcp-services.js';
import { startSession } from '../helpers/tunnel-fixtures.js';
import type { TunnelSession } from '../../src/session/tunnel-session.js';
import net from 'node:net';

const MB = 1024 * 1024;

describe('traffic through a tcp target', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  let sink: SinkServer;
  let source: SourceServer;
  let session: TunnelSession;
  let ports: Record<string, number>;

  beforeAll(async () => {
    sshd = await startSshd();
    echo = await startEchoServer();
    sink = await startSinkServer();
    source = await startSourceServer(50 * MB);
    ({ session, ports } = await startSession(sshd, [
      { id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` },
      { id: 'sink', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${sink.port}` },
      { id: 'source', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${source.port}` },
    ]));
  });

  afterAll(async () => {
    await session?.close(1000);
    await Promise.all([echo?.close(), sink?.close(), source?.close()]);
    await sshd?.dispose();
  });

  it('carries 50 MB from the outside client to the service intact', async () => {
    const result = await connectAndCollect(ports.sink!, pseudoRandomChunks(50 * MB, 7), { timeoutMs: 120_000 });
    expect(result.sent).toBe(50 * MB);
    const [received] = await sink.waitForResults(1, 60_000);
    expect(received!.bytes).toBe(50 * MB);
    expect(received!.sha256).toBe(pseudoRandomSha256(50 * MB, 7));
    expect(session.status().forwards.find((f) => f.id === 'sink')!.bytesIn).toBe(50 * MB);
  });

  it('carries 50 MB from the service back to the outside client intact', async () => {
    const result = await connectAndCollect(ports.source!, undefined, { timeoutMs: 120_000, keepBytes: 0 });
    expect(result.bytes).toBe(50 * MB);
    expect(result.sha256).toBe(source.expectedSha256);
  });

  it('serves 200 concurrent channels, each getting back exactly its own bytes', async () => {
    const results = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
      const payload = Buffer.from(`channel-${i}:`.padEnd(4096 + i, String.fromCharCode(65 + (i % 26))));
      const r = await connectAndCollect(ports.echo!, payload, { timeoutMs: 60_000 });
      return { ok: r.sha256 === sha256(payload) && r.bytes === payload.length, i };
    }));
    expect(results.filter((r) => !r.ok).map((r) => r.i)).toEqual([]);
    expect(echo.connections).toBeGreaterThanOrEqual(200);
  });

  it('propagates half-close: a client that sends, shuts its write side, then reads gets the whole answer', async () => {
    // The echo service answers only what it read, and closes after it sees our FIN: the
    // answer can only be complete if the FIN crossed the tunnel while the reverse path stayed open.
    const payload = Buffer.alloc(3 * MB, 'x');
    const result = await connectAndCollect(ports.echo!, payload, { end: true, timeoutMs: 60_000, keepBytes: 0 });
    expect(result.closedBy).toBe('end');
    expect(result.bytes).toBe(payload.length);
    expect(result.sha256).toBe(sha256(payload));
  });

  it('propagates half-close from the service: the client can keep sending after the service ended its side', async () => {
    // A service that says hello, shuts its write side, and then reads everything the client sends.
    const received: Buffer[] = [];
    const server = net.createServer({ allowHalfOpen: true }, (sock) => {
      sock.end('hello\n');
      sock.on('data', (c) => received.push(c));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const { id } = session.addForward({ id: 'greeter', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${port}` });
    const remote = await session.waitForForward(id);

    const client = net.connect({ host: '127.0.0.1', port: remote, allowHalfOpen: true });
    const greeting = await new Promise<string>((resolve) => {
      let text = '';
      client.on('data', (c) => { text += c; });
      client.on('end', () => resolve(text));
    });
    expect(greeting).toBe('hello\n');
    client.end('still talking after your EOF');
    await new Promise((r) => client.on('close', r));
    await expect.poll(() => Buffer.concat(received).toString(), { timeout: 10_000 }).toBe('still talking after your EOF');
    server.close();
  });
});
