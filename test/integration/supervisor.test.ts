// Sessions in worker threads under the supervisor, against two real OpenSSH sshd instances:
// each session in its own thread, a crashed worker comes back without disturbing the other
// session's transfer, forward lists change in place, and a bad host key is parked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Supervisor } from '../../src/supervisor/supervisor.js';
import type { SessionConfigInput } from '../../src/session/session-config.js';
import { createLogger } from '../../src/log.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, pseudoRandomChunks, pseudoRandomSha256, startEchoServer, startSinkServer, type SinkServer, type TcpService } from '../helpers/tcp-services.js';
import { sessionConfigFor, waitUntil } from '../helpers/tunnel-fixtures.js';

type Spec = SessionConfigInput & { id: string };
const MB = 1024 * 1024;

describe('supervisor', () => {
  let a: SshdHandle;
  let b: SshdHandle;
  let echo: TcpService;
  let sink: SinkServer;
  let supervisor: Supervisor<Spec>;
  const logs: string[] = [];

  const specA = (): Spec => ({ ...sessionConfigFor(a), id: 'a', forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }] }) as Spec;
  const specB = (): Spec => ({ ...sessionConfigFor(b), id: 'b', forwards: [
    { id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` },
    { id: 'sink', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${sink.port}` },
  ] }) as Spec;

  beforeAll(async () => {
    [a, b] = await Promise.all([startSshd(), startSshd()]);
    echo = await startEchoServer();
    sink = await startSinkServer();
    supervisor = new Supervisor<Spec>({ log: createLogger({ level: 'debug', write: (l) => logs.push(l) }), resolve: (s) => s, drainTimeoutMs: 1_000 });
  });
  afterAll(async () => {
    await supervisor?.destroy();
    await Promise.all([echo?.close(), sink?.close(), a?.dispose(), b?.dispose()]);
  });

  const allUp = async () => (await supervisor.status()).every((s) => s.forwards.every((f) => f.state === 'up'));
  const remotePort = async (session: string, forward: string) => (await supervisor.status()).find((s) => s.id === session)!.forwards.find((f) => f.id === forward)!.remotePort!;

  it('runs each session in its own worker thread, with every forward up and carrying traffic', async () => {
    await supervisor.apply([specA(), specB()]);
    await waitUntil(allUp, 20_000, 'all forwards up');
    const status = await supervisor.status();
    const threads = status.map((s) => s.threadId);
    expect(threads.every((t) => typeof t === 'number' && t > 0)).toBe(true);
    expect(new Set(threads).size).toBe(2);
    for (const [session, forward] of [['a', 'echo'], ['b', 'echo']] as const) {
      const port = await remotePort(session, forward);
      expect((await connectAndCollect(port, Buffer.from(`${session}/${forward}`))).data.toString()).toBe(`${session}/${forward}`);
    }
  });

  it('a terminated worker comes back and serves again, while a transfer through the other session is not interrupted', async () => {
    const sinkPort = await remotePort('b', 'sink');
    const before = sink.results.length;
    const transfer = connectAndCollect(sinkPort, (async function* () {
      for (const chunk of pseudoRandomChunks(30 * MB, 11)) {
        yield chunk;
        await new Promise((r) => setTimeout(r, 3)); // keep it running across the crash and restart
      }
    })(), { timeoutMs: 60_000 });
    let transferDone = false;
    void transfer.finally(() => { transferDone = true; });
    await waitUntil(() => sink.bytesReceived > 0, 10_000, 'transfer to start');

    const oldThread = supervisor.handle('a')!.threadId;
    await supervisor.handle('a')!.terminateWorker();
    expect(transferDone).toBe(false);
    await waitUntil(async () => {
      const s = (await supervisor.status()).find((x) => x.id === 'a')!;
      return s.threadId !== null && s.threadId !== oldThread && s.forwards[0]!.state === 'up';
    }, 30_000, 'session a to come back in a new worker');
    const port = await remotePort('a', 'echo');
    expect((await connectAndCollect(port, Buffer.from('back'))).data.toString()).toBe('back');
    expect((await supervisor.status()).find((x) => x.id === 'a')!.workerRestarts).toBe(1);

    await transfer;
    const [result] = (await sink.waitForResults(before + 1, 60_000)).slice(before);
    expect(result!.bytes).toBe(30 * MB);
    expect(result!.sha256).toBe(pseudoRandomSha256(30 * MB, 11));
    expect(logs.join('\n')).toContain('EDGE_ERR_WORKER_CRASHED');
  });

  it('a changed forward list is applied inside the running session, without reconnecting', async () => {
    const attemptsBefore = (await supervisor.status()).find((s) => s.id === 'b')!.attempt;
    const echoPortBefore = await remotePort('b', 'echo');
    const next = specB();
    next.forwards = [next.forwards![0]!, { id: 'echo2', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }];
    await supervisor.apply([specA(), next]);
    await waitUntil(allUp, 20_000, 'new forward up');
    const b2 = (await supervisor.status()).find((s) => s.id === 'b')!;
    expect(b2.forwards.map((f) => f.id).sort()).toEqual(['echo', 'echo2']);
    expect(b2.attempt).toBe(attemptsBefore);
    expect(await remotePort('b', 'echo')).toBe(echoPortBefore);
    expect((await connectAndCollect(await remotePort('b', 'echo2'), Buffer.from('new'))).data.toString()).toBe('new');
  });

  it('a session whose host key is wrong waits in backoff with its code, not retried before authRetryIntervalMs', async () => {
    const file = path.join(a.dir, 'bad_known_hosts');
    writeFileSync(file, `[127.0.0.1]:${a.port} ${b.hostPublicKeyLine}\n`);
    const bad = { ...specA(), id: 'bad', hostKeys: { knownHostsFile: file } } as Spec;
    await supervisor.apply([specA(), specB(), bad]);
    await waitUntil(async () => (await supervisor.status()).find((s) => s.id === 'bad')!.lastError?.code === 'EDGE_ERR_HOST_KEY_MISMATCH', 20_000, 'bad session to fail its host key check');
    await new Promise((r) => setTimeout(r, 1_000));
    const s = (await supervisor.status()).find((x) => x.id === 'bad')!;
    expect(s.state).toBe('backoff');
    expect(s.lastError?.code).toBe('EDGE_ERR_HOST_KEY_MISMATCH');
    expect(s.attempt).toBeLessThanOrEqual(1);
    expect(s.workerRestarts).toBe(0);
  });

  it('removing a session from the assignment stops it and releases its forwards', async () => {
    const port = await remotePort('a', 'echo');
    await supervisor.apply([specB()]);
    expect((await supervisor.status()).map((s) => s.id)).toEqual(['b']);
    const r = await connectAndCollect(port, Buffer.from('x'), { allowError: true });
    expect(r.error).toBeDefined();
  });
});
