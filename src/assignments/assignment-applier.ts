// Applying one assignment document to the supervisor: validation against the LOCAL config
// (schema, semantic checks, local policy — forwards it forbids are refused, the rest applies),
// the revision rule (only a higher revision changes anything), the merge with static sessions
// (remote wins per session id) and the live reconcile. Owns the `assignments` status fields
// source, revision, lastError and refusedForwards. One document at a time.
import { parseAssignmentDocument } from '../../config/validate-sessions.js';
import type { AssignmentDocument, SessionSpec, ValidationContext } from '../../config/types.js';
import { EdgeError, isEdgeError } from '../errors.js';
import type { Logger } from '../log.js';
import { sameJson } from '../supervisor/reconcile.js';
import type { HandleStatus } from '../supervisor/session-handle.js';
import type { AssignmentsStatus, RefusedForward } from './status.js';

/** What applying one document did. */
export interface ApplyAssignmentsResult {
  applied: boolean;
  /** The running revision afterwards. */
  revision: number | null;
  outcome: 'applied' | 'unchanged' | 'stale';
  /** Forwards of the running document the local policy refused. */
  refusedForwards: RefusedForward[];
  /** Why it was not applied (stale). */
  message?: string;
}

export interface AssignmentApplierOptions {
  /** Makes the running sessions match (Supervisor.apply). */
  applySessions(desired: SessionSpec[]): Promise<void>;
  staticSessions: SessionSpec[];
  validation: ValidationContext;
  log: Logger;
}

export class AssignmentApplier {
  /** The `assignments` status object (the controller adds the fetch fields to it). */
  readonly state: AssignmentsStatus = { source: 'static', revision: null, lastError: null, refusedForwards: [] };
  /** The running document as parsed, and the forwards refused from it (for the "same content" check). */
  private running: { document: AssignmentDocument; refusedForwards: RefusedForward[] } | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: AssignmentApplierOptions) {}

  /** Validation only (schema, semantic, policy in refuse mode), for the cache file at start. */
  validate(doc: unknown) {
    return parseAssignmentDocument(doc, this.options.validation, { policy: 'refuse-forwards' });
  }

  /**
   * Applies `doc`. Rejects with EDGE_ERR_INVALID_CONFIG (details.errors: every problem with its
   * JSON path) when it is invalid, or with the supervisor's error when a session cannot be
   * started; either way the running sessions are unchanged.
   */
  apply(doc: unknown, source: 'remote' | 'cache' = 'remote'): Promise<ApplyAssignmentsResult> {
    const next = this.chain.then(() => this.applyNow(doc, source));
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Adds each refused forward to its session's forwards in a status, state `refused`, with the reason. */
  addRefusedForwards(sessions: HandleStatus[]): HandleStatus[] {
    for (const r of this.state.refusedForwards) {
      const session = sessions.find((s) => s.id === r.session);
      if (!session || session.forwards.some((f) => f.id === r.forward)) continue;
      if (r.kind) {
        const lastError = { code: 'EDGE_ERR_INVALID_CONFIG', message: `refused by the local policy: ${r.reason}` };
        const base = { id: r.forward, state: 'refused' as const, bind: r.bind, port: r.port, localPort: null, allowRelay: false, channels: { open: 0, total: 0, rejected: 0 }, bytesIn: 0, bytesOut: 0, lastError };
        if (r.kind === 'local' && !session.localForwards.some((f) => f.id === r.forward)) {
          const m = /^tcp:\/\/\[?(.*?)\]?:(\d+)$/.exec(r.target);
          session.localForwards.push({ ...base, kind: 'local', host: m?.[1] ?? r.target, hostPort: Number(m?.[2] ?? 0), target: r.target });
        } else if (r.kind === 'dynamic' && !session.dynamicForwards.some((f) => f.id === r.forward)) {
          session.dynamicForwards.push({ ...base, kind: 'dynamic', allowDestinations: [], auth: false });
        }
        continue;
      }
      session.forwards.push({
        id: r.forward, state: 'refused', bind: r.bind, port: r.port, remotePort: null, ...(r.remoteSocket !== undefined ? { remoteSocket: r.remoteSocket } : {}), target: r.target,
        channels: { open: 0, total: 0, rejected: 0 }, bytesIn: 0, bytesOut: 0,
        lastError: { code: 'EDGE_ERR_INVALID_CONFIG', message: `refused by the local policy: ${r.reason}` },
      });
    }
    return sessions;
  }

  private async applyNow(doc: unknown, source: 'remote' | 'cache'): Promise<ApplyAssignmentsResult> {
    const { log } = this.options;
    const state = this.state;
    const { document, errors, refusedForwards } = this.validate(doc);
    if (!document || errors.length > 0) {
      const error = new EdgeError('EDGE_ERR_INVALID_CONFIG', `Assignment rejected, the running sessions are unchanged: ${errors.length} problem(s): ${errors.join('; ')}`, { details: { errors } });
      state.lastError = { code: error.code, message: error.message, kind: 'invalid', errors, at: new Date().toISOString() };
      const revision = (doc as { revision?: unknown } | null)?.revision;
      if (Number.isInteger(revision)) state.lastError.revision = revision as number;
      log('error', error.message, { code: error.code });
      throw error;
    }
    // What the endpoint meant: the document plus the forwards refused here.
    const meant = { document, refusedForwards };

    if (state.revision !== null && document.revision <= state.revision) {
      if (document.revision === state.revision && this.running && sameJson(meant, this.running)) {
        // E.g. the endpoint confirms what a cache boot started with.
        if (source === 'remote' && state.source === 'cache') state.source = 'remote';
        return { applied: false, revision: state.revision, outcome: 'unchanged', refusedForwards: state.refusedForwards };
      }
      const message = document.revision === state.revision
        ? `revision ${document.revision} ignored: it differs from the running revision ${state.revision} (a changed document needs a higher revision)`
        : `revision ${document.revision} ignored: revision ${state.revision} is running (revisions only move forward)`;
      log('warn', `assignment ${message}`);
      return { applied: false, revision: state.revision, outcome: 'stale', refusedForwards: state.refusedForwards, message };
    }

    // Remote sessions win over static ones with the same id.
    const remoteIds = new Set(document.sessions.map((s) => s.id));
    const desired = [...this.options.staticSessions.filter((s) => !remoteIds.has(s.id)), ...document.sessions];
    try {
      await this.options.applySessions(desired);
    } catch (err) {
      const error = isEdgeError(err) ? err : new EdgeError('EDGE_ERR_INVALID_CONFIG', String(err));
      const message = `Assignment revision ${document.revision} rejected, the running sessions are unchanged: ${error.message}`;
      state.lastError = { code: error.code, message, kind: 'invalid', errors: [error.message], revision: document.revision, at: new Date().toISOString() };
      log('error', message, { code: error.code });
      throw new EdgeError(error.code, message, { details: { ...(error.details ?? {}), errors: [error.message] } });
    }
    state.source = source;
    state.revision = document.revision;
    state.lastError = null;
    state.refusedForwards = refusedForwards;
    this.running = meant;
    for (const r of refusedForwards) {
      log('warn', `assignment revision ${document.revision}: forward ${r.session}/${r.forward} (${r.path}) refused: ${r.reason}`, { session: r.session, forward: r.forward });
    }
    const forwards = document.sessions.reduce((n, s) => n + s.forwards.length, 0);
    log('info', `assignment revision ${document.revision} applied from ${source}: ${document.sessions.length} session(s), ${forwards} forward(s)${refusedForwards.length ? `, ${refusedForwards.length} refused by the local policy` : ''}`);
    return { applied: true, revision: document.revision, outcome: 'applied', refusedForwards };
  }
}
