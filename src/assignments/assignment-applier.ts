// Applying one assignment document to the supervisor: validation against the LOCAL config
// (schema, semantic checks, local policy — forwards it forbids are refused, the rest applies),
// the revision rule (only a higher revision changes anything), the merge with static sessions
// (remote wins per session id) and the live reconcile. Owns the `assignments` status fields
// source, revision, lastError and refusedForwards. One document at a time.
//
// What a document can never do: run with a revision that is not a safe integer
// (EDGE_ERR_ASSIGNMENT_REVISION), run after its `expires` (EDGE_ERR_ASSIGNMENT_EXPIRED), go
// below the revision floor — the running revision, or the last applied one recorded in the state
// dir before a restart (EDGE_ERR_ASSIGNMENT_STALE) — or ask for more sessions or forwards than
// the local budget (EDGE_ERR_POLICY_BUDGET), or set a key only the local config may set
// (EDGE_ERR_POLICY_LOCAL_ONLY, config/document-policy.ts). Each leaves the running document
// running. A SIGHUP reload checks the running document the same way under the new config.
import { checkBudget } from '../../config/policy.js';
import { parseAssignmentDocument } from '../../config/validate-sessions.js';
import type { AssignmentDocument, SessionSpec, ValidationContext } from '../../config/types.js';
import { EdgeError, isEdgeError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { sameJson } from '../supervisor/reconcile.js';
import type { HandleStatus } from '../supervisor/session-handle.js';
import type { AssignmentErrorKind, AssignmentsStatus, ClampedValue, RefusedForward } from './status.js';

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
  /** HTTP settings of the running document lowered to the local ceilings. */
  clampedValues?: ClampedValue[];
}

export interface AssignmentApplierOptions {
  /** Makes the running sessions match (Supervisor.apply). */
  applySessions(desired: SessionSpec[]): Promise<void>;
  staticSessions: SessionSpec[];
  validation: ValidationContext;
  log: Logger;
  /** Clock for `expires` (ms since the epoch). Default Date.now. */
  now?: () => number;
}

/** The last applied document from before a restart: nothing below its revision is applied. */
export interface RevisionFloor {
  revision: number;
  /** The document as served (parsed JSON), so the same revision with the same content is not "stale". */
  json: unknown;
}

export class AssignmentApplier {
  /** The `assignments` status object (the controller adds the fetch fields to it). */
  readonly state: AssignmentsStatus = { source: 'static', revision: null, lastError: null, refusedForwards: [], clampedValues: [] };
  /** The running document as parsed, and the forwards refused from it (for the "same content" check). */
  private running: { document: AssignmentDocument; refusedForwards: RefusedForward[]; clampedValues: ClampedValue[]; raw: unknown } | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private floor: RevisionFloor | null = null;

  constructor(private readonly options: AssignmentApplierOptions) {}

  /** Sets the revision floor read from the state dir at start (the controller does). */
  setFloor(floor: RevisionFloor | null): void {
    this.floor = floor;
  }

  /**
   * A new local config (SIGHUP): new static sessions, credentials and policy. The running
   * document is checked again against them (a tighter policy refuses its forwards, a removed
   * credential rejects the reload) and everything is reconciled; unchanged sessions are
   * untouched. On any error nothing changes and the error is thrown.
   */
  reconfigure(staticSessions: SessionSpec[], validation: ValidationContext): Promise<void> {
    const next = this.chain.then(() => this.reconfigureNow(staticSessions, validation));
    this.chain = next.catch(() => undefined);
    return next;
  }

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
        const lastError = { code: 'EDGE_ERR_POLICY_DENIED', message: `refused by the local policy: ${r.reason}` };
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
        lastError: { code: 'EDGE_ERR_POLICY_DENIED', message: `refused by the local policy: ${r.reason}` },
      });
    }
    return sessions;
  }

  private async reconfigureNow(staticSessions: SessionSpec[], validation: ValidationContext): Promise<void> {
    const before = { staticSessions: this.options.staticSessions, validation: this.options.validation };
    this.options.staticSessions = staticSessions;
    this.options.validation = validation;
    try {
      let running = this.running;
      if (running) {
        // The same checks as applying it: validation, local-only keys, the budget, the ceilings.
        const { document, errors, localOnly, refusedForwards, clampedValues } = this.validate(running.raw);
        const why = `the running assignment revision ${running.document.revision} is not valid under the new config`;
        if (!document || errors.length > 0) {
          const code = errors.length === localOnly.length ? 'EDGE_ERR_POLICY_LOCAL_ONLY' : 'EDGE_ERR_INVALID_CONFIG';
          throw new EdgeError(code, `${why}: ${errors.join('; ')}`, { details: { errors } });
        }
        const overBudget = this.overBudget(running.raw, staticSessions, validation);
        if (overBudget.length > 0) throw new EdgeError('EDGE_ERR_POLICY_BUDGET', `${why}: ${overBudget.join('; ')}`, { details: { errors: overBudget } });
        running = { document, refusedForwards, clampedValues, raw: running.raw };
      }
      const remoteIds = new Set(running?.document.sessions.map((s) => s.id) ?? []);
      await this.options.applySessions([...staticSessions.filter((s) => !remoteIds.has(s.id)), ...(running?.document.sessions ?? [])]);
      if (running) {
        this.running = running;
        this.state.refusedForwards = running.refusedForwards;
        this.state.clampedValues = running.clampedValues;
      }
    } catch (err) {
      this.options.staticSessions = before.staticSessions;
      this.options.validation = before.validation;
      throw err;
    }
  }

  private async applyNow(doc: unknown, source: 'remote' | 'cache'): Promise<ApplyAssignmentsResult> {
    const { log } = this.options;
    const state = this.state;
    const reject = (code: ErrorCode, kind: AssignmentErrorKind, message: string, errors: string[], revision?: number): never => {
      const error = new EdgeError(code, message, { details: { errors, kind } });
      state.lastError = { code, message, kind, errors, at: new Date().toISOString() };
      if (revision !== undefined) state.lastError.revision = revision;
      log('error', message, { code });
      throw error;
    };
    // Before the schema: a revision that cannot be ordered would poison the floor for good.
    const rawRevision = (doc as { revision?: unknown } | null)?.revision;
    if (typeof rawRevision === 'number' && (!Number.isSafeInteger(rawRevision) || rawRevision < 0)) {
      const why = `revision: ${rawRevision} is not a safe integer (0 to ${Number.MAX_SAFE_INTEGER})`;
      reject('EDGE_ERR_ASSIGNMENT_REVISION', 'invalid', `Assignment rejected, the running sessions are unchanged: ${why}`, [why]);
    }
    const { document, errors, localOnly, refusedForwards, clampedValues } = this.validate(doc);
    if (!document || errors.length > 0) {
      // Only local-only keys: a policy refusal with its own code; anything else wrong: invalid.
      const policy = errors.length === localOnly.length;
      const code: ErrorCode = policy ? 'EDGE_ERR_POLICY_LOCAL_ONLY' : 'EDGE_ERR_INVALID_CONFIG';
      const kind: AssignmentErrorKind = policy ? 'policy' : 'invalid';
      const what = policy ? 'it sets keys only the local config may set' : `${errors.length} problem(s)`;
      const error = new EdgeError(code, `Assignment rejected, the running sessions are unchanged: ${what}: ${errors.join('; ')}`, { details: { errors, kind } });
      state.lastError = { code: error.code, message: error.message, kind, errors, at: new Date().toISOString() };
      const revision = (doc as { revision?: unknown } | null)?.revision;
      if (Number.isInteger(revision)) state.lastError.revision = revision as number;
      log('error', error.message, { code: error.code });
      throw error;
    }
    // What the endpoint meant: the document plus the forwards refused here.
    const meant = { document, refusedForwards };

    if (document.expires !== undefined && Date.parse(document.expires) <= (this.options.now ?? Date.now)()) {
      const why = `expires: ${document.expires} has passed`;
      reject('EDGE_ERR_ASSIGNMENT_EXPIRED', 'expired', `Assignment revision ${document.revision} not applied, the running sessions are unchanged: it expired at ${document.expires}`, [why], document.revision);
    }

    if (state.revision !== null && document.revision <= state.revision) {
      if (document.revision === state.revision && this.running && sameJson(meant, { document: this.running.document, refusedForwards: this.running.refusedForwards })) {
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
    // The floor from before a restart: only the very document recorded there may run again at its revision.
    const floor = this.floor;
    if (floor && (document.revision < floor.revision || (document.revision === floor.revision && !sameJson(doc, floor.json)))) {
      const message = `revision ${document.revision} ignored: revision ${floor.revision} was applied before (the revision floor in the state dir; revisions only move forward, \`edge-agent assignments reset\` clears it)`;
      log('warn', `assignment ${message}`);
      return { applied: false, revision: state.revision, outcome: 'stale', refusedForwards: state.refusedForwards, message };
    }

    // The budget, on what the document asks for (before any forward is refused) merged with the static sessions.
    const overBudget = this.overBudget(doc, this.options.staticSessions, this.options.validation);
    if (overBudget.length > 0) {
      reject('EDGE_ERR_POLICY_BUDGET', 'budget', `Assignment revision ${document.revision} rejected whole, the running sessions are unchanged: ${overBudget.join('; ')}`, overBudget, document.revision);
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
    state.clampedValues = clampedValues;
    this.running = { ...meant, clampedValues, raw: doc };
    for (const r of refusedForwards) {
      log('warn', `assignment revision ${document.revision}: forward ${r.session}/${r.forward} (${r.path}) refused: ${r.reason}`, { session: r.session, forward: r.forward });
    }
    for (const c of clampedValues) {
      log('warn', `assignment revision ${document.revision}: ${c.path} (${c.session}/${c.forward}) lowered from ${c.asked} to ${c.applied} by the local ${c.limit}`, { session: c.session, forward: c.forward });
    }
    const forwards = document.sessions.reduce((n, s) => n + s.forwards.length, 0);
    log('info', `assignment revision ${document.revision} applied from ${source}: ${document.sessions.length} session(s), ${forwards} forward(s)${refusedForwards.length ? `, ${refusedForwards.length} refused by the local policy` : ''}`);
    return { applied: true, revision: document.revision, outcome: 'applied', refusedForwards, clampedValues };
  }

  /** The budget, on what the document asks for (before any forward is refused) merged with the static sessions. */
  private overBudget(doc: unknown, staticSessions: SessionSpec[], validation: ValidationContext): string[] {
    const asked = structuredClone((doc as { sessions: Array<{ id: string }> }).sessions);
    const askedIds = new Set(asked.map((s) => s.id));
    return checkBudget([...staticSessions.filter((s) => !askedIds.has(s.id)), ...asked], validation.policy, 'sessions');
  }
}
