// How every long-running command (run, tunnel, gateway, demo) stops on a signal, in one place:
// the first SIGINT/SIGTERM drains, a second one stops at once, a drain that hangs past its
// deadline is stopped as if the signal came twice, and the handlers are removed once the
// command has its exit code (so a later signal gets Node's default: the process ends).
// SIGHUP is optional (`run` reloads its configuration on it).
import { systemClock, type Clock } from './clock.js';

/** What stops: 'SIGINT' / 'SIGTERM', or 'deadline' when the drain ran past `deadlineMs`. */
export type StopCause = NodeJS.Signals | 'deadline';

export interface ShutdownHooks {
  /** First signal: stop gracefully; resolves with the exit code. */
  drain(signal: NodeJS.Signals): Promise<number>;
  /**
   * Second signal (or the drain deadline): stop now; returns the exit code. Once it ran, the
   * drain's own result no longer counts.
   */
  stop(cause: StopCause): number | Promise<number>;
  /** SIGHUP, while the command runs. */
  hangup?(): void;
  /** The drain gets this long before stop('deadline') runs (default: no deadline). */
  deadlineMs?: number;
}

/** The parts of `process` used here: tests pass an EventEmitter. */
export interface SignalSource {
  on(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface Shutdown {
  /** The exit code: from drain, stop, or finish, whichever settles it first. */
  readonly exitCode: Promise<number>;
  /** Ends the command with `code` now (a failure seen by the command itself); idempotent. */
  finish(code: number): void;
  /** Signals received so far. */
  readonly signals: number;
}

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/** Installs the signal handlers; they stay until the exit code is known. */
export function onShutdown(hooks: ShutdownHooks, source: SignalSource = process, clock: Clock = systemClock): Shutdown {
  let signals = 0;
  let stopped = false;
  let done = false;
  let deadline: unknown;
  let resolveCode!: (code: number) => void;
  const exitCode = new Promise<number>((resolve) => { resolveCode = resolve; });

  const finish = (code: number) => {
    if (done) return;
    done = true;
    if (deadline !== undefined) clock.clearTimeout(deadline);
    for (const s of STOP_SIGNALS) source.off(s, onSignal);
    if (hooks.hangup) source.off('SIGHUP', onHangup);
    resolveCode(code);
  };
  const stop = (cause: StopCause) => {
    if (stopped || done) return;
    stopped = true;
    if (deadline !== undefined) clock.clearTimeout(deadline);
    void Promise.resolve(hooks.stop(cause)).then(finish);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) return stop(signal);
    if (hooks.deadlineMs !== undefined) deadline = clock.setTimeout(() => stop('deadline'), hooks.deadlineMs);
    void hooks.drain(signal).then((code) => {
      if (!stopped) finish(code);
    });
  };
  const onHangup = () => hooks.hangup?.();

  for (const s of STOP_SIGNALS) source.on(s, onSignal);
  if (hooks.hangup) source.on('SIGHUP', onHangup);
  return {
    exitCode,
    finish,
    get signals() { return signals; },
  };
}

/**
 * Added to a command's own drain timeout as its deadline here: the drain ends itself by then;
 * this only catches one that hangs (a stuck close), which then stops as on a second signal.
 */
export const DRAIN_BACKSTOP_MS = 5_000;
