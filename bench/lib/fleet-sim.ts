// The reconnect-storm simulation behind `npm run fleet-sim`: N agents (TunnelSessions through the
// library, in this one process), each with one remote forward to a shared echo service, against
// one real OpenSSH sshd left at its default MaxStartups (10:30:100), or (`gateway: 'builtin'`)
// the built-in gateway with its default maxStartups 10:30:100 (fleet-gateway.ts). Once every forward serves,
// the gateway dies (SIGKILL, as a crash or a hard restart) and comes straight back on the same
// port; the simulation measures how the fleet gets back in: time until every forward serves again
// (checked with bytes through each one), connection attempts per second, attempts sshd dropped
// past MaxStartups, and the library's memory per session.
import net from 'node:net';
import { startBuiltinGateway, startSshdGateway } from './fleet-gateway.js';
import { TunnelSession } from '../../src/session/tunnel-session.js';
import type { ReconnectConfig } from '../../src/session/session-config.js';

export interface FleetSimOptions {
  agents: number;
  /** Give up waiting for the fleet after this long (then `leftBehind` > 0). Default 180 s. */
  timeoutMs?: number;
  /** Sessions' reconnect settings; default: the library's defaults (what a fleet runs). */
  reconnect?: Partial<ReconnectConfig>;
  /** What the fleet dials: OpenSSH sshd (default) or the built-in gateway. */
  gateway?: 'sshd' | 'builtin';
  /** MaxStartups (sshd) / maxStartups (built-in); default 10:30:100, both servers' own default. */
  maxStartups?: string;
  /**
   * Built-in gateway only: perSourceMaxStartups. Default 0 (no limit): every simulated agent
   * comes from 127.0.0.1, where a real fleet comes from as many addresses as devices (the
   * session core has no option to bind the agents' sockets to other 127.0.0.x addresses).
   * The gateway's own default, 10, models a whole fleet behind one NAT address.
   */
  perSourceMaxStartups?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface FleetSimResult {
  agents: number;
  gateway: 'sshd' | 'builtin';
  /** The server's SSH banner. */
  sshd: string;
  maxStartups: string;
  /** Built-in gateway only (null for sshd, which has no such limit by default). */
  perSourceMaxStartups: number | null;
  /** From start until every forward was up the first time. */
  initialConnectMs: number;
  /** From the gateway's death until every forward served again (null: not all came back). */
  recoveryMs: number | null;
  /** Agents whose forward did not serve again before the timeout. */
  leftBehind: number;
  attempts: { total: number; maxPerSecond: number; meanPerSecond: number; peakToMean: number; perSecond: number[] };
  /** How long the gateway was gone (SIGKILL until listening again). */
  gatewayDownMs: number;
  /** Connections dropped before the handshake (sshd: "past MaxStartups" in its log; built-in: its droppedStartups total). */
  refusedByMaxStartups: number;
  /** Failed attempts by error code. */
  failuresByCode: Record<string, number>;
  memoryPerSession: { rssBytes: number; heapBytes: number };
}

export async function runFleetSim(options: FleetSimOptions): Promise<FleetSimResult> {
  const log = options.log ?? (() => {});
  const maxStartups = options.maxStartups ?? '10:30:100';
  const timeoutMs = options.timeoutMs ?? 180_000;
  const kind = options.gateway ?? 'sshd';
  const perSourceMaxStartups = options.perSourceMaxStartups ?? 0;
  const gw = kind === 'builtin'
    ? await startBuiltinGateway({ agents: options.agents, maxStartups, perSourceMaxStartups })
    : await startSshdGateway(maxStartups);
  const echo = await startEcho();
  const sessions: TunnelSession[] = [];
  try {
    const before = memory();
    const started = Date.now();
    const attempts: number[] = []; // timestamps of every connection attempt
    const losses: number[] = []; // when each session noticed the gateway was gone
    const failuresByCode: Record<string, number> = {};
    for (let i = 0; i < options.agents; i++) {
      const session = new TunnelSession({
        id: `agent-${i}`,
        host: gw.host,
        port: gw.port,
        auth: { username: gw.username, privateKeys: [{ key: gw.privateKey, source: gw.keySource }] },
        hostKeys: gw.hostKeys,
        ...(options.reconnect ? { reconnect: options.reconnect } : {}),
        forwards: [{ id: 'f', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }],
      });
      session.on('state', (state) => { if (state === 'connecting') attempts.push(Date.now()); });
      session.on('disconnected', () => losses.push(Date.now()));
      session.on('connectFailed', ({ error }) => { failuresByCode[error.code] = (failuresByCode[error.code] ?? 0) + 1; });
      sessions.push(session.start());
    }
    const firstUp = await allServing(sessions, started, started + timeoutMs, log, 'initial connect');
    const initialConnectMs = Date.now() - started;
    const after = memory();
    log(`all ${options.agents} forwards up after ${initialConnectMs} ms; killing the ${kind} gateway`);

    attempts.length = 0;
    for (const k of Object.keys(failuresByCode)) delete failuresByCode[k];
    await gw.markRefusals();
    const killedAt = Date.now();
    const { downMs } = await gw.killAndRestart();
    log(`${kind} gateway back after ${downMs} ms; ${losses.length} sessions noticed the loss, the last after ${losses.length ? Math.max(...losses) - killedAt : '-'} ms; ${attempts.length} attempts so far`);
    const recovered = await allServing(sessions, killedAt, killedAt + timeoutMs, log, 'recovery');
    const recoveryMs = recovered.leftBehind === 0 ? recovered.lastUpAt - killedAt : null;

    const perSecond: number[] = [];
    for (const t of attempts) {
      const second = Math.floor((t - killedAt) / 1000);
      while (perSecond.length <= second) perSecond.push(0);
      perSecond[second]! += 1;
    }
    const windowSeconds = Math.max(1, Math.ceil(((recoveryMs ?? timeoutMs)) / 1000));
    const maxPerSecond = Math.max(0, ...perSecond);
    const meanPerSecond = attempts.length / windowSeconds;
    return {
      agents: options.agents,
      gateway: kind,
      sshd: sessions[0]?.status().serverBanner ?? kind,
      gatewayDownMs: downMs,
      maxStartups,
      perSourceMaxStartups: kind === 'builtin' ? perSourceMaxStartups : null,
      initialConnectMs,
      recoveryMs,
      leftBehind: recovered.leftBehind,
      attempts: { total: attempts.length, maxPerSecond, meanPerSecond: round(meanPerSecond), peakToMean: round(meanPerSecond > 0 ? maxPerSecond / meanPerSecond : 0), perSecond },
      refusedByMaxStartups: await gw.refusedSinceMark(),
      failuresByCode,
      memoryPerSession: {
        rssBytes: Math.round(Math.max(0, after.rss - before.rss) / options.agents),
        heapBytes: Math.round(Math.max(0, after.heap - before.heap) / options.agents),
      },
      ...(firstUp.leftBehind > 0 ? { note: `${firstUp.leftBehind} never connected at first` } : {}),
    };
  } finally {
    for (const s of sessions) s.destroy();
    await echo.close();
    await gw.dispose();
  }
}

/**
 * Waits until every session's forward is up (the moment each came up is recorded from its
 * `forward` event), then proves each one serves: a byte echoed through it, 100 at a time.
 * Sessions not up, or not echoing, by the deadline are left behind.
 */
async function allServing(sessions: TunnelSession[], since: number, deadline: number, log: (line: string) => void, phase: string): Promise<{ leftBehind: number; lastUpAt: number }> {
  const upAt = new Map<TunnelSession, number>();
  const isUp = (s: TunnelSession) => s.status().forwards[0]?.state === 'up';
  const listeners = sessions.map((s) => {
    const onForward = (f: { state: string }) => { if (f.state === 'up' && !upAt.has(s)) upAt.set(s, Date.now()); };
    s.on('forward', onForward);
    return () => s.off('forward', onForward);
  });
  let lastReport = 0;
  try {
    for (;;) {
      const up = sessions.filter(isUp).length;
      if (up === sessions.length || Date.now() > deadline) break;
      if (Date.now() - lastReport > 5_000) {
        lastReport = Date.now();
        log(`${phase}: ${up}/${sessions.length} forwards up after ${((Date.now() - since) / 1000).toFixed(1)} s`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    for (const off of listeners) off();
  }
  let serving = 0;
  for (let i = 0; i < sessions.length; i += 100) {
    const batch = sessions.slice(i, i + 100).map((s) => {
      const fwd = s.status().forwards[0];
      return fwd?.state === 'up' && fwd.remotePort !== null ? echoThrough(fwd.remotePort) : Promise.resolve(false);
    });
    serving += (await Promise.all(batch)).filter(Boolean).length;
  }
  return { leftBehind: sessions.length - serving, lastUpAt: Math.max(since, ...upAt.values()) };
}

function echoThrough(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => { sock.destroy(); resolve(false); }, 5_000);
    sock.once('connect', () => sock.write('x'));
    sock.once('data', () => { clearTimeout(timer); sock.destroy(); resolve(true); });
    sock.once('error', () => { clearTimeout(timer); resolve(false); });
    sock.once('close', () => { clearTimeout(timer); resolve(false); });
  });
}

function startEcho(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    s.pipe(s);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((done) => { for (const s of sockets) s.destroy(); server.close(() => done()); }),
  })));
}

function memory(): { rss: number; heap: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.external };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
