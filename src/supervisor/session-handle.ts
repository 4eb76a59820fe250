// The main thread's handle on one session running in its own worker thread: starts the
// piscina task, talks to it over the task's MessagePort, keeps a cached status for when the
// worker is down, and restarts a crashed or terminated worker with backoff. A session that
// ends as `failed` (host key, credentials, reconnect limit) is parked, never hammered.
import { EventEmitter } from 'node:events';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { EdgeError, fromPlainError, type PlainError } from '../errors.js';
import type { Logger } from '../log.js';
import type { SessionTaskInput, SessionTaskResult, WorkerCommand, WorkerEvent } from '../protocol.js';
import { Backoff } from '../lifecycle/backoff.js';
import type { DynamicForwardConfig, ForwardConfig, LocalForwardConfig, SessionConfig } from '../session/session-config.js';
import type { MultiGatewayConfigInput } from '../session/multi-gateway-session.js';
import { maskProxyUrl } from '../grammar/proxy-url.js';
import type { GatewayStrategy } from '../session/gateway-list.js';
import type { GatewayStatus } from '../session/multi-gateway-session.js';
import type { SessionStatus } from '../session/tunnel-session.js';

export interface HandleStatus extends SessionStatus {
  /** The worker thread running the session (null while it is being restarted). */
  threadId: number | null;
  /** Times the worker thread died and was restarted. */
  workerRestarts: number;
  /** Sessions with several gateways (`hosts`): the strategy and each gateway's connection. */
  strategy?: GatewayStrategy;
  gateways?: GatewayStatus[];
}

export interface SessionHandleEvents {
  event: [event: WorkerEvent];
  /** The session ended for good (stopped on request, or failed and parked). */
  ended: [result: SessionTaskResult];
}

/** Worker restarts: 1 s doubling to 30 s; a worker that ran for a minute starts over at 1 s. */
const RESTART_BACKOFF = { baseMs: 1_000, maxMs: 30_000, jitter: 'full' } as const;
const STABLE_AFTER_MS = 60_000;

/** What a handle runs: a normalised session (normaliseSession), with its gateways when it has several. */
export type HandleSession = Readonly<SessionConfig> & Pick<MultiGatewayConfigInput, 'hosts' | 'strategy' | 'failbackAfterMs'>;

export class SessionHandle extends EventEmitter<SessionHandleEvents> {
  readonly id: string;
  private input: HandleSession;
  private port: MessagePort | undefined;
  private threadIdValue: number | null = null;
  private cached: SessionStatus;
  private requests = new Map<number, { resolve(status: SessionStatus): void; reject(err: Error): void }>();
  private nextRequestId = 1;
  private restarts = 0;
  private readonly restartBackoff = new Backoff(RESTART_BACKOFF, { stableAfterMs: STABLE_AFTER_MS });
  private stopping = false;
  private done: Promise<SessionTaskResult> | undefined;
  private finish!: (result: SessionTaskResult) => void;

  private finalReceived: (() => void) | undefined;
  private finalSeen = false;

  constructor(private readonly pool: Piscina, input: HandleSession, private readonly log: Logger, private readonly tracing = false) {
    super();
    this.id = input.id;
    this.input = input;
    this.cached = {
      id: this.id, state: 'idle', host: input.host, port: input.port, attempt: 0,
      serverBanner: null, hostKeyFingerprint: null, lastError: null,
      forwards: input.forwards.map((f) => ({
        id: f.id, state: 'pending' as const, bind: f.remoteSocket ? '' : f.bind, port: f.port, remotePort: null,
        ...(f.remoteSocket ? { remoteSocket: f.remoteSocket } : {}), target: f.target ?? null, channels: { open: 0, total: 0, rejected: 0 }, bytesIn: 0, bytesOut: 0, lastError: null,
      })),
      localForwards: input.localForwards.map((f) => ({
        kind: 'local' as const, id: f.id, state: 'pending' as const, bind: f.bind, port: f.port, localPort: null,
        allowRelay: f.allowRelay, host: f.host, hostPort: f.hostPort, target: `tcp://${f.host.includes(':') ? `[${f.host}]` : f.host}:${f.hostPort}`,
        channels: { open: 0, total: 0, rejected: 0 }, bytesIn: 0, bytesOut: 0, lastError: null,
      })),
      dynamicForwards: input.dynamicForwards.map((f) => ({
        kind: 'dynamic' as const, id: f.id, state: 'pending' as const, bind: f.bind, port: f.port, localPort: null,
        allowRelay: f.allowRelay, allowDestinations: [...f.allowDestinations], auth: f.username !== undefined,
        channels: { open: 0, total: 0, rejected: 0 }, bytesIn: 0, bytesOut: 0, lastError: null,
      })),
      proxy: input.proxy ? { configured: maskProxyUrl(input.proxy), route: null } : null,
    };
  }

  /** Starts the session's worker; resolves at once (the session connects in the background). */
  start(): void {
    this.done ??= new Promise((resolve) => { this.finish = resolve; });
    this.launch();
  }

  get threadId(): number | null {
    return this.threadIdValue;
  }

  get state(): SessionStatus['state'] {
    return this.cached.state;
  }

  /** Live status from the worker, or the last known one while the worker is down. */
  async status(): Promise<HandleStatus> {
    let status = this.cached;
    if (this.port) {
      status = await this.request({ type: 'status', requestId: 0 }, 2_000).catch(() => this.cached);
    }
    return { ...status, threadId: this.threadIdValue, workerRestarts: this.restarts };
  }

  /** Applies new forward lists inside the running session (no reconnect); absent local/dynamic lists are kept. */
  async setForwards(forwards: ForwardConfig[], lists: { localForwards?: LocalForwardConfig[]; dynamicForwards?: DynamicForwardConfig[] } = {}): Promise<void> {
    this.input = Object.freeze({ ...this.input, forwards, ...(lists.localForwards ? { localForwards: lists.localForwards } : {}), ...(lists.dynamicForwards ? { dynamicForwards: lists.dynamicForwards } : {}) }) as HandleSession;
    if (this.port) await this.request({ type: 'setForwards', requestId: 0, forwards, ...lists }, 15_000);
    // A worker that is down picks the new list up from `input` when it is relaunched.
  }

  /**
   * Admin `POST /sessions/<id>/reconnect`: a session waiting in backoff retries now; a session
   * parked as failed (reconnect mode never, retry limit, invalid settings) gets a new worker and
   * starts over. Resolves with the status right after (a connecting or connected session is left alone).
   */
  async reconnectNow(): Promise<HandleStatus> {
    if (this.stopping) throw new EdgeError('EDGE_ERR_CLOSED', `Session ${this.id} is stopping.`);
    if (this.port) {
      const status = await this.request({ type: 'reconnect', requestId: 0 }, 2_000);
      return { ...status, threadId: this.threadIdValue, workerRestarts: this.restarts };
    }
    if (this.cached.state === 'failed' && !this.restartBackoff.pending) {
      this.log('info', `session ${this.id}: restarting the parked session on request`, { session: this.id });
      this.done = new Promise((resolve) => { this.finish = resolve; });
      this.cached = { ...this.cached, state: 'idle' };
      this.launch();
    } else if (this.restartBackoff.pending && this.cached.state === 'backoff') {
      // A crashed worker waiting for its restart: restart it now.
      this.restartBackoff.cancel();
      this.launch();
    }
    return this.status();
  }

  /** Graceful stop; resolves when the session has ended. */
  async close(drainTimeoutMs: number): Promise<SessionTaskResult> {
    this.stopping = true;
    this.restartBackoff.cancel();
    if (!this.port) return this.settle({ state: 'stopped', error: null });
    this.post({ type: 'close', drainTimeoutMs });
    // The worker enforces the deadline; this timer only guards against a wedged worker.
    const guard = setTimeout(() => this.destroy(), drainTimeoutMs + 5_000);
    const result = await this.done!;
    clearTimeout(guard);
    return result;
  }

  /** Abrupt stop. */
  destroy(): void {
    this.stopping = true;
    this.restartBackoff.cancel();
    if (this.port) this.post({ type: 'destroy' });
    else this.settle({ state: 'stopped', error: null });
  }

  /** Test and diagnostic hook: kills the worker thread as a crash would. */
  async terminateWorker(): Promise<void> {
    const worker = this.pool.threads.find((t) => t.threadId === this.threadIdValue);
    if (!worker) throw new EdgeError('EDGE_ERR_CLOSED', `Session ${this.id} has no running worker thread.`);
    await worker.terminate();
  }

  /** Test hook (EDGE_AGENT_TEST_HOOKS=1 in the worker's environment): the worker grows its heap until its limit stops it. */
  exhaustWorkerHeapForTest(): void {
    this.post({ type: 'testExhaustHeap' });
  }

  // ---------------------------------------------------------------- internals

  private launch(): void {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.finalSeen = false;
    this.restartBackoff.markStarted();
    port1.on('message', (event: WorkerEvent) => this.onEvent(event));
    const task: SessionTaskInput = { session: this.input, port: port2, tracing: this.tracing };
    (this.pool.run(task, { transferList: [port2] as never }) as Promise<SessionTaskResult>).then(
      (result) => this.onTaskEnded(port1, result),
      (err: unknown) => this.onWorkerDied(port1, err),
    );
  }

  private onEvent(event: WorkerEvent): void {
    switch (event.type) {
      case 'channelEvents':
        // one turn's channel events of the worker (worker-event-sender.ts), handled one by one
        for (const e of event.events) this.onEvent(e);
        return;
      case 'ready':
        this.threadIdValue = event.threadId;
        break;
      case 'state':
        this.cached = { ...this.cached, state: event.state, lastError: errorSummary(event.error) ?? (event.state === 'connected' ? null : this.cached.lastError) };
        break;
      case 'connected':
      case 'connectFailed':
        // Kept for /status while the worker is down (a parked session still shows its attempts).
        this.cached = { ...this.cached, attempt: event.attempt };
        break;
      case 'forward':
        this.cached = { ...this.cached, forwards: upsert(this.cached.forwards, event.status) };
        break;
      case 'localForward':
        this.cached = event.status.kind === 'local'
          ? { ...this.cached, localForwards: upsert(this.cached.localForwards, event.status) }
          : { ...this.cached, dynamicForwards: upsert(this.cached.dynamicForwards, event.status) };
        break;
      case 'final':
        this.finalSeen = true;
        this.finalReceived?.();
        break;
      case 'reply': {
        const pending = this.requests.get(event.requestId);
        this.requests.delete(event.requestId);
        if (!pending) break;
        if (event.error) pending.reject(fromPlainError(event.error));
        else {
          this.cached = event.status!;
          pending.resolve(event.status!);
        }
        break;
      }
      default:
        break;
    }
    this.emit('event', event);
  }

  private async onTaskEnded(port: MessagePort, result: SessionTaskResult): Promise<void> {
    // The result travels on piscina's channel, the session's last events (final spans) on
    // ours: wait briefly for the worker's `final` marker so none of them is cut off.
    await this.waitForFinal(port);
    this.detach(port);
    if (result.state === 'failed' && result.error) {
      this.cached = { ...this.cached, state: 'failed', lastError: errorSummary(result.error) };
      this.log('error', `session ${this.id} failed and is parked: ${result.error.message}`, { session: this.id, code: result.error.code });
    } else {
      this.cached = { ...this.cached, state: 'stopped' };
    }
    this.settle(result);
  }

  private waitForFinal(port: MessagePort): Promise<void> {
    if (this.port !== port || this.finalSeen) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, 1_000);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.finalReceived = done;
    });
  }

  private onWorkerDied(port: MessagePort, err: unknown): void {
    this.detach(port);
    if (this.stopping) {
      this.settle({ state: 'stopped', error: null });
      return;
    }
    this.restarts += 1;
    const delayMs = this.restartBackoff.next();
    const message = `The worker thread of session ${this.id} exited unexpectedly (${err instanceof Error ? err.message : String(err)}); restarting it in ${delayMs} ms.`;
    this.cached = {
      ...this.cached, state: 'backoff',
      lastError: { code: 'EDGE_ERR_WORKER_CRASHED', message },
      forwards: this.cached.forwards.map((f) => ({ ...f, state: f.state === 'stopped' ? f.state : 'pending', remotePort: null, channels: { ...f.channels, open: 0 } })),
      localForwards: this.cached.localForwards.map((f) => ({ ...f, state: f.state === 'stopped' ? f.state : 'pending', localPort: null, channels: { ...f.channels, open: 0 } })),
      dynamicForwards: this.cached.dynamicForwards.map((f) => ({ ...f, state: f.state === 'stopped' ? f.state : 'pending', localPort: null, channels: { ...f.channels, open: 0 } })),
    };
    this.log('error', message, { session: this.id, code: 'EDGE_ERR_WORKER_CRASHED' });
    this.restartBackoff.schedule(delayMs, () => {
      if (!this.stopping) this.launch();
    });
  }

  private detach(port: MessagePort): void {
    if (this.port === port) {
      this.port = undefined;
      this.threadIdValue = null;
    }
    port.close();
    for (const pending of this.requests.values()) pending.reject(new EdgeError('EDGE_ERR_CLOSED', `Session ${this.id}'s worker ended.`));
    this.requests.clear();
  }

  private settle(result: SessionTaskResult): SessionTaskResult {
    this.done ??= Promise.resolve(result);
    this.finish?.(result);
    this.emit('ended', result);
    return result;
  }

  private post(command: WorkerCommand): void {
    this.port?.postMessage(command);
  }

  private request(command: Extract<WorkerCommand, { requestId: number }>, timeoutMs: number): Promise<SessionStatus> {
    const requestId = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.requests.delete(requestId);
        reject(new EdgeError('EDGE_ERR_CLOSED', `Session ${this.id}'s worker did not answer within ${timeoutMs} ms.`));
      }, timeoutMs);
      this.requests.set(requestId, {
        resolve: (s) => { clearTimeout(timer); resolve(s); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.post({ ...command, requestId });
    });
  }
}

function errorSummary(error: PlainError | null): { code: string; message: string } | null {
  return error ? { code: error.code, message: error.message } : null;
}

function upsert<T extends { id: string }>(list: T[], item: T): T[] {
  const i = list.findIndex((x) => x.id === item.id);
  if (i < 0) return [...list, item];
  const copy = [...list];
  copy[i] = item;
  return copy;
}
