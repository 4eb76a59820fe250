// A session thread (`edge-agent tunnel`'s main thread, each session worker) carries one copy of
// every module it loads. node:tls stays out of it: an ES module import of node:tls reads all its
// exports, which materialises tls.rootCertificates (≈ 145 PEM strings, 214 KB of heap) in the
// thread; the raw https:// dial (src/session/targets/target-dialer.ts) requires it when used.
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { dialTarget } from '../../src/session/targets/target-dialer.js';
import { modulesLoadedBy } from '../helpers/thread-modules.js';
import { TEST_TLS_CERT, TEST_TLS_KEY } from '../helpers/tls-fixture.js';

const servers: net.Server[] = [];
afterEach(() => { for (const s of servers.splice(0)) s.close(); });

describe('what a session thread loads', () => {
  it('no node:tls (and so no root certificates) in `tunnel` or a session worker with tcp:// targets', () => {
    for (const module of ['src/cli/tunnel-command.ts', 'workers/session-runner.ts']) {
      const { builtins } = modulesLoadedBy(module);
      expect(builtins, module).toContain('net'); // the check sees the thread's builtins at all
      expect(builtins.filter((b) => /^(tls|_tls_wrap|internal\/tls\/secure-context)$/.test(b)), module).toEqual([]);
    }
  }, 120_000);

  it('the raw https:// dial still verifies the service certificate through node:tls', async () => {
    const server = tls.createServer({ key: TEST_TLS_KEY, cert: TEST_TLS_CERT }, (s) => s.end());
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as net.AddressInfo;
    // self-signed, so not trusted by Node's CA store: the connection is refused after the handshake
    const err = await dialTarget({ kind: 'https', host: '127.0.0.1', port, url: `https://127.0.0.1:${port}` }, 5000, 'fwd').then(
      (socket) => { socket.destroy(); return null; },
      (e: unknown) => e as Error,
    );
    expect(err).not.toBeNull();
    expect(String(err?.message) + String((err as { cause?: Error } | null)?.cause?.message)).toMatch(/self[- ]signed|certificate/i);
  });
});
