// Runs the real `edge-agent` CLI from the sources (scripts/edge-agent-dev.js, what `npm run dev`
// runs; the installed bin/edge-agent.js runs the build) as a child process and lets a test wait
// for lines it prints, read its RSS from /proc, signal it and collect its exit code.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The CLI from the sources through tsx (`npm run dev`); test/integration/package-install.test.ts covers the installed bin. */
export const BIN = fileURLToPath(new URL('../../scripts/edge-agent-dev.js', import.meta.url));

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resident set size in bytes, from /proc/PID/status. */
  rss(): number;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; for (const w of waiters) w(); });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => { for (const w of waiters) w(); resolve({ code, signal }); });
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exit,
    rss() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      return kb * 1024;
    },
    waitForLine(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = out.split('\n').map((l) => pattern.exec(l)).find(Boolean);
          if (match) { cleanup(); resolve(match); return; }
          if (child.exitCode !== null) { cleanup(); reject(new Error(`CLI exited (${child.exitCode}) before printing ${pattern}; stderr:\n${err}`)); }
        };
        const timer = setTimeout(() => { cleanup(); reject(new Error(`timed out waiting for ${pattern}; stdout:\n${out}\nstderr:\n${err}`)); }, timeoutMs);
        const cleanup = () => { clearTimeout(timer); waiters.delete(check); };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Runs the CLI to completion (for usage errors). */
export async function runCliToExit(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000) {
  const cli = runCli(args, env);
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), timeoutMs);
  const { code } = await cli.exit;
  clearTimeout(timer);
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}
