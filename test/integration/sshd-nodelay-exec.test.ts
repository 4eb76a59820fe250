// sshdNoDelayExec against a real OpenSSH sshd: right after connecting, the session opens one
// session channel, execs `true` (sshd turns on TCP_NODELAY for the connection when a session
// runs a command) and lets it close, without disturbing the forwards. Off by default.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { startSession, waitUntil } from '../helpers/tunnel-fixtures.js';

const sessionsStarted = (logs: string) => (logs.match(/Starting session: command/g) ?? []).length;
const sessionsClosed = (logs: string) => (logs.match(/Close session: user/g) ?? []).length;

describe('sshdNoDelayExec', () => {
  let sshd: SshdHandle;
  let echo: TcpService;

  beforeAll(async () => {
    sshd = await startSshd();
    echo = await startEchoServer();
  });

  afterAll(async () => {
    await echo?.close();
    await sshd?.dispose();
  });

  it('is off by default: a forward-only session runs no command on the host', async () => {
    const before = sessionsStarted(sshd.logs());
    const { session, ports } = await startSession(sshd, [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }]);
    try {
      expect(session.config.sshdNoDelayExec).toBe(false);
      // OpenSSH < 10.1 keeps Nagle on for this connection: no write batching either
      if (/^OpenSSH_(\d|10\.0)\b/.test(session.status().serverBanner ?? '')) {
        expect(session.status().crypto).toMatchObject({ serverNoDelay: false, writeBatching: false, paddingPool: true, nativeBinding: true });
      }
      const r = await connectAndCollect(ports.echo!, Buffer.from('hello'));
      expect(r.data.toString()).toBe('hello');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(sessionsStarted(sshd.logs())).toBe(before);
    } finally {
      await session.close(1000);
    }
  });

  it('opens one exec channel running `true`, which closes, while forwards keep working', async () => {
    const startedBefore = sessionsStarted(sshd.logs());
    const closedBefore = sessionsClosed(sshd.logs());
    const { session, ports, logs } = await startSession(
      sshd,
      [
        { id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` },
        { id: 'echo2', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` },
      ],
      { sshdNoDelayExec: true },
    );
    try {
      // traffic while the exec channel may still be in flight
      const early = await Promise.all([connectAndCollect(ports.echo!, Buffer.from('early-1')), connectAndCollect(ports.echo2!, Buffer.from('early-2'))]);
      expect(early.map((r) => r.data.toString())).toEqual(['early-1', 'early-2']);

      await waitUntil(() => logs.find((l) => /^debug sshdNoDelayExec: exited/.test(l)), 10_000, 'the exec channel to close');
      // sshd ran exactly one command for this connection and closed that session again
      await waitUntil(() => sessionsClosed(sshd.logs()) > closedBefore, 10_000, 'sshd to log the closed session');
      expect(sessionsStarted(sshd.logs()) - startedBefore).toBe(1);
      expect(sessionsClosed(sshd.logs()) - closedBefore).toBe(1);
      expect(sshd.logs()).toMatch(/Starting session: command for \S+ from 127\.0\.0\.1/);

      // forwards undisturbed: still up, no channel left over, traffic flows
      expect(session.status().forwards.map((f) => f.state)).toEqual(['up', 'up']);
      const late = await Promise.all(Array.from({ length: 20 }, (_, i) => connectAndCollect(i % 2 ? ports.echo2! : ports.echo!, Buffer.from(`late-${i}`))));
      expect(late.map((r) => r.data.toString())).toEqual(Array.from({ length: 20 }, (_, i) => `late-${i}`));
      expect(session.state).toBe('connected');
      expect(session.status().crypto).toMatchObject({ nativeBinding: true, serverNoDelay: true, writeBatching: true, paddingPool: true });
      expect(logs.filter((l) => /^(warn|error)/.test(l))).toEqual([]);
    } finally {
      await session.close(1000);
    }
  });

  it('a host that refuses the command only costs a debug line', async () => {
    // sshd with every session channel refused (no exec possible), forwarding allowed
    const strict = await startSshd({ extraConfig: ['MaxSessions 0'] });
    try {
      const { session, ports, logs } = await startSession(strict, [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }], { sshdNoDelayExec: true });
      try {
        await waitUntil(() => logs.find((l) => /^debug sshdNoDelayExec: (refused|error)/.test(l)), 10_000, 'the refusal to be logged');
        const r = await connectAndCollect(ports.echo!, Buffer.from('still here'));
        expect(r.data.toString()).toBe('still here');
        expect(session.state).toBe('connected');
        expect(logs.filter((l) => /^(warn|error)/.test(l))).toEqual([]);
      } finally {
        await session.close(1000);
      }
    } finally {
      await strict.dispose();
    }
  });
});

describe('edge-agent gateway', () => {
  it('sends with TCP_NODELAY from the start: the agent batches writes and needs no exec', async () => {
    const { startTestGateway } = await import('../helpers/gateway-fixtures.js');
    const { TunnelSession } = await import('../../src/session/tunnel-session.js');
    const gw = await startTestGateway();
    const echo = await startEchoServer();
    try {
      const key = gw.newKey('device');
      gw.writeAuthorizedKeys([key.publicLine]);
      const session = new TunnelSession({
        id: 'gw', host: '127.0.0.1', port: gw.port,
        auth: { username: 'device-1', privateKeys: [{ key: key.privateKey, source: key.path }] },
        hostKeys: { fingerprints: [gw.fingerprint] },
        sshdNoDelayExec: true, // not needed here, so not used
        forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }],
      });
      const logs: string[] = [];
      session.on('log', (level, message) => logs.push(`${level} ${message}`));
      session.start();
      try {
        const port = await session.waitForForward('echo');
        const r = await connectAndCollect(port, Buffer.from('via gateway'));
        expect(r.data.toString()).toBe('via gateway');
        expect(session.status().crypto).toMatchObject({ serverNoDelay: true, writeBatching: true });
        expect(logs.some((l) => /sshdNoDelayExec/.test(l))).toBe(false);
      } finally {
        await session.close(500);
      }
    } finally {
      await echo.close();
      await gw.close();
    }
  });
});
