// A real OpenSSH ssh-agent on a socket of the test's choosing, started and waited for in one place.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

export interface SshAgentHandle {
  child: ChildProcess;
  socket: string;
  /** `ssh-add ARGS` against this agent (throws on a non-zero exit). */
  add(...args: string[]): Buffer;
  kill(): void;
}

/**
 * Starts `ssh-agent -D -a SOCKET` and resolves once `ssh-add -l` reaches it (exit 0 or 1: up,
 * with or without identities). Waits up to 15 s: a 2-core machine under load can take seconds
 * to schedule the agent, and an ssh-add before it listens fails with a confusing error.
 */
export async function startSshAgent(socket: string, timeoutMs = 15_000): Promise<SshAgentHandle> {
  const child = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
  const env = { ...process.env, SSH_AUTH_SOCK: socket };
  const handle: SshAgentHandle = {
    child,
    socket,
    add: (...args) => execFileSync('ssh-add', args, { env, stdio: 'pipe' }),
    kill: () => { child.kill(); },
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      execFileSync('ssh-add', ['-l'], { env, stdio: 'ignore' });
      return handle;
    } catch (err) {
      if ((err as { status?: number }).status === 1) return handle; // up, no identities
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill();
      throw new Error(`ssh-agent on ${socket} did not answer within ${timeoutMs} ms (exit code ${child.exitCode})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
