// OpenSSH's sshd (up to 10.0) turns on TCP_NODELAY for a connection only when one of its
// session channels runs something (exec, shell or subsystem); a forward-only client, like
// `ssh -N` or this agent, leaves Nagle's algorithm on in sshd, and every request/response
// through a forward waits for the delayed ACK: ~40 ms tails. Once set, it stays set for the
// whole connection. With `sshdNoDelayExec` the agent opens one session channel right after
// connecting and execs `true` (it exits at once), which flips sshd into the low-latency mode.
// Off by default: some operators audit every exec, and some gateways refuse it (a
// `ForceCommand` still counts: sshd sets TCP_NODELAY before running the forced command).
// Failures are ignored and logged at debug; forwards never depend on it.
import type { Client } from 'ssh2';

export type NudgeLog = (level: 'debug', message: string) => void;

export interface NudgeResult {
  /** 'exited' = the command ran (sshd set TCP_NODELAY); 'refused' = channel or exec refused. */
  outcome: 'exited' | 'refused' | 'error';
  detail: string;
}

/** Opens a session channel, execs `true` and lets it close. Never throws or rejects. */
export function nudgeSshdNoDelay(client: Client, log: NudgeLog = () => {}, command = 'true'): Promise<NudgeResult> {
  return new Promise((resolve) => {
    const done = (result: NudgeResult) => {
      log('debug', `sshdNoDelayExec: ${result.outcome}: ${result.detail}`);
      resolve(result);
    };
    try {
      client.exec(command, (err, stream) => {
        if (err) return done({ outcome: 'refused', detail: `exec "${command}" refused: ${err.message}` });
        let code: number | null = null;
        stream.on('exit', (c: number | null) => { code = c; });
        stream.on('error', () => {});
        stream.stderr.resume();
        stream.resume();
        stream.once('close', () => done({ outcome: 'exited', detail: `"${command}" ran on the SSH host and exited (code ${code ?? 'none'}); sshd now sends with TCP_NODELAY` }));
      });
    } catch (err) {
      done({ outcome: 'error', detail: `could not open a session channel: ${(err as Error).message}` });
    }
  });
}
