// The tools under test, each holding four remote forwards through the same sshd to the same
// backends: OpenSSH's `ssh -R` and `edge-agent tunnel` (the built CLI), or nothing at all
// ("direct": the client talks to the backends).
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { SshdHandle } from '../../test/helpers/sshd.js';
import { sleep } from './stats.js';

export interface Backends {
  sink: number;
  source: number;
  echo: number;
  http: number;
  pid: number;
}

export type Condition = 'forward-only' | 'nodelay';
export type Tool = 'direct' | 'ssh' | 'agent';

export interface TunnelSpec {
  /** Unique label, e.g. agent-aes-fo. */
  id: string;
  tool: Tool;
  cipher?: 'aes128-gcm@openssh.com' | 'chacha20-poly1305@openssh.com';
  /** forward-only: `ssh -N` / agent default; nodelay: `ssh -R … 'sleep infinity'` / agent --sshd-nodelay-exec. */
  condition: Condition;
  /** The HTTP forward's target: a raw tcp:// pipe, or http:// (the agent's HTTP-aware target). */
  httpTarget: 'tcp' | 'http';
  /** EDGE_DIAG_DISABLE for the agent (before/after figures of the levers). */
  disableLevers?: string;
  /** Extra node flags for the agent process (e.g. --single-threaded-gc). */
  nodeFlags?: string[];
  /** Human label for the table. */
  label: string;
}

export interface Tunnel {
  spec: TunnelSpec;
  /** The process holding the SSH session (null for direct). */
  pid: number | null;
  /** Where the client connects for each backend. */
  ports: { sink: number; source: number; echo: number; http: number };
  /** Spawn to every forward up, ms. */
  startupMs: number;
  /** Spawn to the first forward up, ms. */
  firstUpMs: number;
  stderr(): string;
  stop(): Promise<void>;
}

export interface ToolEnv {
  sshd: SshdHandle;
  backends: Backends;
  /** Built CLI entry (bench/.build/src/cli.js). */
  agentCli: string;
  /** When set, agent processes run with --cpu-prof and write ID.cpuprofile here. */
  profileDir?: string;
}

const NAMES = ['sink', 'source', 'echo', 'http'] as const;

/** `names`: the forwards to hold (default all four; the agent only — e.g. ['echo'] for the one-forward footprint). */
export async function startTunnel(spec: TunnelSpec, env: ToolEnv, names: readonly (typeof NAMES)[number][] = NAMES): Promise<Tunnel> {
  const { backends } = env;
  if (spec.tool === 'direct') {
    return { spec, pid: null, ports: { sink: backends.sink, source: backends.source, echo: backends.echo, http: backends.http }, startupMs: 0, firstUpMs: 0, stderr: () => '', stop: async () => {} };
  }
  return spec.tool === 'ssh' ? startSsh(spec, env) : startAgentCli(spec, env, names);
}

function waitFor(child: ChildProcess, text: () => string, done: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new Error(`${what}: not up within ${timeoutMs} ms:\n${text()}`)); }, timeoutMs);
    const check = () => { if (done()) { cleanup(); resolve(); } };
    const onExit = (code: number | null) => { cleanup(); reject(new Error(`${what}: exited (${code}) before its forwards were up:\n${text()}`)); };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', onExit);
    check();
  });
}

function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const ok = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
    if (!ok) {
      child.kill('SIGKILL');
      await exited;
    }
  };
}

export function sshArgs(spec: TunnelSpec, env: ToolEnv, forwards: string[]): string[] {
  const { sshd } = env;
  return [
    '-F', '/dev/null',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${sshd.knownHostsPath}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'IdentitiesOnly=yes',
    '-o', `IdentityFile=${sshd.userKeyPath}`,
    '-o', `Ciphers=${spec.cipher ?? 'aes128-gcm@openssh.com'}`,
    '-o', 'ExitOnForwardFailure=yes',
    '-o', 'ControlMaster=no',
    '-o', 'ControlPath=none',
    '-o', 'ServerAliveInterval=0',
    '-p', String(sshd.port),
    '-l', sshd.username,
    ...forwards.flatMap((f) => ['-R', f]),
    ...(spec.condition === 'forward-only' ? ['-N', sshd.host] : [sshd.host, 'sleep infinity']),
  ];
}

async function startSsh(spec: TunnelSpec, env: ToolEnv): Promise<Tunnel> {
  const { backends } = env;
  const forwards = NAMES.map((n) => `127.0.0.1:0:127.0.0.1:${backends[n]}`);
  const t0 = performance.now();
  const child = spawn('/usr/bin/ssh', sshArgs(spec, env, forwards), { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  child.stdout!.resume();
  const ports: Partial<Record<(typeof NAMES)[number], number>> = {};
  let firstUpMs = 0;
  const parse = () => {
    if (!firstUpMs && /Allocated port/.test(err)) firstUpMs = performance.now() - t0;
    for (const m of err.matchAll(/Allocated port (\d+) for remote forward to 127\.0\.0\.1:(\d+)/g)) {
      const name = NAMES.find((n) => backends[n] === Number(m[2]));
      if (name) ports[name] = Number(m[1]);
    }
    return NAMES.every((n) => ports[n]);
  };
  await waitFor(child, () => err, parse, spec.id);
  const startupMs = performance.now() - t0;
  return { spec, pid: child.pid!, ports: ports as Tunnel['ports'], startupMs, firstUpMs, stderr: () => err, stop: stopper(child) };
}

export function agentArgs(spec: TunnelSpec, env: ToolEnv, forwards: string[]): string[] {
  const { sshd } = env;
  return [
    'tunnel',
    '-p', String(sshd.port),
    '-i', sshd.userKeyPath,
    '--known-hosts', sshd.knownHostsPath,
    '--ciphers', spec.cipher ?? 'aes128-gcm@openssh.com',
    ...(spec.condition === 'nodelay' ? ['--sshd-nodelay-exec'] : []),
    '--log-level', 'warn',
    ...forwards.flatMap((f) => ['-R', f]),
    `${sshd.username}@${sshd.host}`,
  ];
}

async function startAgentCli(spec: TunnelSpec, env: ToolEnv, names: readonly (typeof NAMES)[number][]): Promise<Tunnel> {
  const { backends } = env;
  const forwards = names.map((n) => (n === 'http' && spec.httpTarget === 'http'
    ? `127.0.0.1:0:http://127.0.0.1:${backends.http}`
    : `127.0.0.1:0:127.0.0.1:${backends[n]}`));
  const t0 = performance.now();
  const nodeFlags = [...(spec.nodeFlags ?? []), ...(process.env.BENCH_AGENT_NODE_FLAGS ?? '').split(' ').filter(Boolean)];
  const prof = env.profileDir ? ['--cpu-prof', '--cpu-prof-dir', env.profileDir, '--cpu-prof-name', `${spec.id}.cpuprofile`] : [];
  const child = spawn(process.execPath, [...nodeFlags, ...prof, env.agentCli, ...agentArgs(spec, env, forwards)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // a variant's own levers, else the bench's EDGE_DIAG_DISABLE (footprint before/after runs)
    env: { ...process.env, NODE_OPTIONS: '', EDGE_DIAG_DISABLE: spec.disableLevers ?? process.env.EDGE_DIAG_DISABLE ?? '' },
    cwd: path.dirname(env.agentCli),
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const ports: Partial<Record<(typeof NAMES)[number], number>> = {};
  let firstUpMs = 0;
  const parse = () => {
    if (!firstUpMs && /forward R\d up: /.test(out)) firstUpMs = performance.now() - t0;
    for (const m of out.matchAll(/forward R(\d) up: 127\.0\.0\.1:(\d+) on /g)) ports[names[Number(m[1]) - 1]!] = Number(m[2]);
    return names.every((n) => ports[n]);
  };
  await waitFor(child, () => out + err, parse, spec.id);
  const startupMs = performance.now() - t0;
  return { spec, pid: child.pid!, ports: ports as Tunnel['ports'], startupMs, firstUpMs, stderr: () => err, stop: stopper(child) };
}
