// Holds the set of running sessions and makes it match each new assignment: a pure
// reconcile() decides, the supervisor carries it out — new sessions start in their own worker,
// removed ones drain, changed connection settings restart that session only, and a changed
// forward list is applied inside the running session without reconnecting.
import { EventEmitter } from 'node:events';
import type { Piscina } from 'piscina';
import type { Logger } from '../log.js';
import type { WorkerEvent } from '../protocol.js';
import { mainThreadCipherOrder } from '../session/cipher-order.js';
import { normaliseSession, type SessionConfig, type SessionConfigInput } from '../session/session-config.js';
import { forwardChanges } from './forward-changes.js';
import { reconcile, type SessionLike } from './reconcile.js';
import { SessionHandle, type HandleStatus } from './session-handle.js';
import { createSessionPool, MAX_SESSIONS } from './worker-pool.js';
import { workerResourceLimits, type WorkerHeapSettings } from './worker-limits.js';
import { EdgeError } from '../errors.js';

export interface SupervisorEvents {
  /** Every worker event, tagged with its session (metrics and telemetry listen here). */
  event: [sessionId: string, event: WorkerEvent];
}

export interface SupervisorOptions<S extends SessionLike> {
  log: Logger;
  /**
   * Turns a session spec (config/assignment shape) into what the session core takes (reading
   * key files, env vars). Called only for a session that is new or whose spec changed.
   */
  resolve(spec: S): SessionConfigInput;
  drainTimeoutMs: number;
  /** Whether session workers record spans (they arrive as `spans` events). */
  tracing?: boolean;
  /** V8 heap limits of each session worker (agent.workerMaxHeapMb / workerMaxYoungHeapMb). */
  workerHeap?: WorkerHeapSettings;
}

export class Supervisor<S extends SessionLike> extends EventEmitter<SupervisorEvents> {
  private readonly pool: Piscina;
  private readonly handles = new Map<string, SessionHandle>();
  /** Sessions that were stopped and are still draining: listed in status() until they end. */
  private readonly draining = new Map<string, SessionHandle>();
  private readonly specs = new Map<string, S>();
  private closed = false;

  constructor(private readonly options: SupervisorOptions<S>) {
    super();
    this.pool = createSessionPool(workerResourceLimits(options.workerHeap));
  }

  /** Makes the running sessions match `desired`. Resolves once every change was applied. */
  async apply(desired: readonly S[]): Promise<void> {
    if (this.closed) throw new EdgeError('EDGE_ERR_CLOSED', 'The agent is shutting down; assignments are no longer applied.');
    if (desired.length > MAX_SESSIONS) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `sessions: ${desired.length} sessions exceed the limit of ${MAX_SESSIONS} per agent.`);
    }
    const plan = reconcile(desired, this.specs);
    // Resolve only what changed (an unchanged session keeps what it was resolved from: its key
    // files are not read again), and all of it first: a spec that cannot be resolved changes
    // nothing at all. normaliseSession: the one place defaults are applied (a no-op on an
    // already normalised, frozen session).
    const changed = [...plan.start, ...plan.restart, ...plan.update];
    const resolved = new Map(changed.map((spec) => [spec.id, normaliseSession(this.options.resolve(spec))] as const));
    this.logForwardChanges(plan, desired);
    const work: Array<Promise<unknown>> = [];
    for (const id of plan.stop) work.push(this.stopSession(id));
    for (const spec of plan.restart) work.push(this.stopSession(spec.id).then(() => this.startSession(spec, resolved.get(spec.id)!)));
    for (const spec of plan.start) this.startSession(spec, resolved.get(spec.id)!);
    for (const spec of plan.update) {
      this.specs.set(spec.id, spec);
      const next = resolved.get(spec.id)!;
      work.push(this.handles.get(spec.id)!.setForwards(next.forwards, { localForwards: next.localForwards, dynamicForwards: next.dynamicForwards }));
    }
    await Promise.all(work);
  }

  handle(id: string): SessionHandle | undefined {
    return this.handles.get(id);
  }

  /** Running sessions, then the ones still draining (removed, or the agent is stopping) until they end. */
  async status(): Promise<HandleStatus[]> {
    const draining = [...this.draining.values()].filter((h) => !this.handles.has(h.id));
    return Promise.all([...this.handles.values(), ...draining].map((h) => h.status()));
  }

  /**
   * Graceful stop of every session (each drains up to the deadline). Resolves false when some
   * channel had to be cut at the deadline.
   */
  async close(): Promise<boolean> {
    this.closed = true;
    const drained = await Promise.all([...this.handles.keys()].map((id) => this.stopSession(id)));
    await this.pool.destroy();
    return drained.every(Boolean);
  }

  /** Abrupt stop. */
  async destroy(): Promise<void> {
    this.closed = true;
    for (const h of this.handles.values()) h.destroy();
    for (const h of this.draining.values()) h.destroy();
    this.handles.clear();
    this.draining.clear();
    this.specs.clear();
    await this.pool.destroy();
  }

  private logForwardChanges(plan: ReturnType<typeof reconcile<S>>, desired: readonly S[]): void {
    const next = new Map(desired.map((s) => [s.id, s]));
    const touched = [...plan.start.map((s) => s.id), ...plan.stop, ...plan.restart.map((s) => s.id), ...plan.update.map((s) => s.id)];
    for (const id of touched) {
      for (const c of forwardChanges(this.specs.get(id), next.get(id))) {
        this.options.log('info', c.message, { session: c.session, forward: c.forward, change: c.change });
      }
    }
  }

  private startSession(spec: S, input: Readonly<SessionConfig>): void {
    // The cipher order is decided here, in the main thread: ssh2's own CPU probe fails in all
    // but the first worker thread (src/session/cipher-order.ts).
    const session = normaliseSession({ ...input, id: spec.id, ciphers: input.ciphers ?? mainThreadCipherOrder() });
    const handle = new SessionHandle(this.pool, session, this.options.log, this.options.tracing ?? false);
    handle.on('event', (event) => this.onEvent(spec.id, event));
    this.handles.set(spec.id, handle);
    this.specs.set(spec.id, spec);
    handle.start();
  }

  /** Resolves whether the session's channels all finished within the drain deadline. */
  private async stopSession(id: string): Promise<boolean> {
    const handle = this.handles.get(id);
    if (!handle) return true;
    this.handles.delete(id);
    this.specs.delete(id);
    this.draining.set(id, handle);
    try {
      const result = await handle.close(this.options.drainTimeoutMs);
      return result.drained !== false;
    } finally {
      if (this.draining.get(id) === handle) this.draining.delete(id);
    }
  }

  private onEvent(sessionId: string, event: WorkerEvent): void {
    if (event.type === 'log') {
      this.options.log(event.level, event.message, { session: sessionId, ...event.fields });
    }
    this.emit('event', sessionId, event);
  }
}
