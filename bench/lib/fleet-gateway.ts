// The gateway a fleet simulation storms (bench/lib/fleet-sim.ts), behind one interface: a real
// OpenSSH sshd (run from a worker thread, sshd-control-worker.ts) or the built-in gateway
// (`edge-agent gateway`, run as a child process, fleet-gateway-child.ts). Both die by SIGKILL,
// as a crashed or hard-restarted gateway host, and come straight back on the same port.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { generateEd25519 } from '../../src/gateway/host-key.js';
import { freeLocalPort } from '../../test/helpers/sshd.js';
import type { HostKeyPolicy } from '../../src/session/host-keys/host-key-verifier.js';

export interface FleetGateway {
  kind: 'sshd' | 'builtin';
  host: string;
  port: number;
  username: string;
  privateKey: Buffer;
  /** Where the key came from (shown in the sessions' status). */
  keySource: string;
  hostKeys: HostKeyPolicy;
  /** SIGKILL, then listening again on the same port. */
  killAndRestart(): Promise<{ downMs: number }>;
  /** Start counting connections dropped before the handshake (MaxStartups, per source). */
  markRefusals(): Promise<void>;
  refusedSinceMark(): Promise<number>;
  dispose(): Promise<void>;
}

/** OpenSSH sshd with `MaxStartups` as given (the test helper's own `MaxStartups 100` comes after and loses). */
export async function startSshdGateway(maxStartups: string): Promise<FleetGateway> {
  const worker = new Worker(new URL('./sshd-control-worker.mjs', import.meta.url), { workerData: { extraConfig: [`MaxStartups ${maxStartups}`] } });
  const reply = async <T>(type: string): Promise<T> => {
    for (;;) {
      const [msg] = (await once(worker, 'message')) as [{ type: string } & T];
      if (msg.type === type) return msg;
    }
  };
  const ready = await Promise.race([
    reply<{ host: string; port: number; username: string; userKeyPath: string; knownHostsPath: string }>('ready'),
    once(worker, 'error').then(([err]) => { throw err; }),
  ]);
  const logs = async () => { worker.postMessage({ type: 'logs' }); return (await reply<{ text: string }>('logs')).text; };
  let logOffset = 0;
  return {
    kind: 'sshd',
    host: ready.host,
    port: ready.port,
    username: ready.username,
    privateKey: readFileSync(ready.userKeyPath),
    keySource: ready.userKeyPath,
    hostKeys: { knownHostsFile: ready.knownHostsPath },
    killAndRestart: () => { worker.postMessage({ type: 'kill-restart' }); return reply<{ downMs: number }>('back'); },
    markRefusals: async () => { logOffset = (await logs()).length; },
    refusedSinceMark: async () => ((await logs()).slice(logOffset).match(/past MaxStartups/g) ?? []).length,
    dispose: async () => { worker.postMessage({ type: 'dispose' }); await reply('disposed'); await worker.terminate(); },
  };
}

/**
 * The built-in gateway with the given maxStartups and perSourceMaxStartups, one authorized key
 * for every agent, maxConnections a little above the fleet (its default, 1000, would refuse the
 * 1001st agent: a sizing choice, not what is measured).
 */
export async function startBuiltinGateway(opts: { agents: number; maxStartups: string; perSourceMaxStartups: number }): Promise<FleetGateway> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-agent-fleet-sim-'));
  const user = generateEd25519('fleet-sim-agent');
  writeFileSync(path.join(dir, 'authorized_keys'), user.public.trim() + '\n');
  const maxConnections = opts.agents + Math.max(100, Math.ceil(opts.agents / 10));
  let child: ChildProcess | null = null;
  const spawn = async (port: number): Promise<{ port: number; fingerprint: string }> => {
    const c = fork(fileURLToPath(new URL('./fleet-gateway-child.ts', import.meta.url)),
      [dir, String(port), String(maxConnections), opts.maxStartups, String(opts.perSourceMaxStartups)],
      { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child = c;
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`built-in gateway exited (code ${code}) before listening`));
      c.once('exit', onExit);
      c.on('message', function onMsg(m: { type: string; port: number; fingerprint: string }) {
        if (m.type !== 'started') return;
        c.off('message', onMsg);
        c.off('exit', onExit);
        resolve(m);
      });
    });
  };
  // Below the ephemeral range: no port-0 listener elsewhere can take it while the gateway is down.
  const first = await spawn(await freeLocalPort());
  const totals = async (): Promise<number> => {
    const c = child!;
    c.send({ type: 'totals' });
    for (;;) {
      const [m] = (await once(c, 'message')) as [{ type: string; totals: { droppedStartups: number } }];
      if (m.type === 'totals') return m.totals.droppedStartups;
    }
  };
  let mark = { of: null as ChildProcess | null, dropped: 0 };
  return {
    kind: 'builtin',
    host: '127.0.0.1',
    port: first.port,
    username: 'fleet',
    privateKey: Buffer.from(user.private),
    keySource: 'fleet-sim generated key',
    hostKeys: { fingerprints: [first.fingerprint] },
    killAndRestart: async () => {
      const started = Date.now();
      const old = child!;
      const exited = once(old, 'exit');
      old.kill('SIGKILL');
      await exited;
      await spawn(first.port);
      return { downMs: Date.now() - started };
    },
    // A restarted gateway counts from zero: a mark taken in an earlier process counts as 0.
    markRefusals: async () => { mark = { of: child, dropped: await totals() }; },
    refusedSinceMark: async () => (await totals()) - (mark.of === child ? mark.dropped : 0),
    dispose: async () => {
      const c = child;
      if (c && c.exitCode === null && c.signalCode === null) {
        const exited = once(c, 'exit');
        c.disconnect();
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
        if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
