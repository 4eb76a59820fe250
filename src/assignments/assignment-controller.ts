// Wires the fleet endpoint to the agent: remote source → signature → JSON → validation and
// apply (agent.applyAssignments: schema, semantic checks, local policy, revision rule, live
// reconcile) → cache. Records what happened in the `assignments` part of /status.
//
// Nothing the endpoint sends can take running tunnels down: a network error, a timeout, an
// error status, garbage, a bad signature or an invalid document leaves the last good document
// running and is shown in `lastError`; only a valid, newer document changes anything.
//
// Offline boot: a valid cache file is read at start (a corrupt one is logged and ignored) and
// its ETag sent with the first request. The cache is applied (source `cache`) when that first
// request fails or brings nothing acceptable; a 304 applies it as confirmed (source `remote`);
// a remote document older than the cache is treated as stale, exactly as if the cached
// revision had been running all along.
import type { KeyObject } from 'node:crypto';
import { parseSigningPublicKey } from '../../config/formats.js';
import type { ParsedAssignment } from '../../config/validate-sessions.js';
import type { AgentConfig } from '../../config/types.js';
import { EdgeError, isEdgeError } from '../errors.js';
import type { Logger } from '../log.js';
import { sameJson } from '../supervisor/reconcile.js';
import { readAssignmentCache, writeAssignmentCache, type CachedAssignment } from './cache.js';
import { RemoteAssignmentSource, type FetchResult, type FetchTrigger, type RemoteSourceTuning } from './remote-source.js';
import { verifyAssignmentSignature } from './signature.js';
import { isoTime } from '../iso-time.js';
import type { ApplyAssignmentsResult, RevisionFloor } from './assignment-applier.js';
import type { AssignmentError, AssignmentsStatus, FetchCounters, FetchOutcome } from './status.js';

export interface AssignmentControllerOptions {
  settings: AgentConfig['assignments'];
  agentId: string;
  /** The agent's `assignments` status object; the controller fills in the fetch fields and lastError. */
  state: AssignmentsStatus;
  /** Validation against the local config (used for the cache file at start). */
  validate(doc: unknown): ParsedAssignment;
  /** agent.applyAssignments. Throws EdgeError (details.errors) when the document is rejected. */
  apply(doc: unknown, source: 'remote' | 'cache'): Promise<ApplyAssignmentsResult>;
  /** Receives the revision floor found in the state file at start (AssignmentApplier.setFloor). */
  setFloor?(floor: RevisionFloor | null): void;
  log: Logger;
  /** Where assignments.tokenEnv is looked up. Default process.env. */
  env?: NodeJS.ProcessEnv;
  tuning?: RemoteSourceTuning;
}

interface CachedDocument {
  entry: CachedAssignment;
  json: unknown;
}

type Decoded = { ok: true; json: unknown; revision: number | null } | { ok: false; error: AssignmentError; revision: null };

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class AssignmentController {
  private readonly source: RemoteAssignmentSource;
  private readonly signingKey: KeyObject | null;
  private readonly state: AssignmentsStatus;
  private readonly log: Logger;
  private readonly cacheFile: string;
  private cached: CachedDocument | null = null;
  private bootPending = true;
  private rejected = 0;
  private applied = 0;
  private started = false;

  constructor(private readonly options: AssignmentControllerOptions) {
    const { settings } = options;
    this.state = options.state;
    this.log = options.log;
    this.cacheFile = settings.cacheFile;
    this.signingKey = null;
    if (settings.signingPublicKey) {
      try {
        this.signingKey = parseSigningPublicKey(settings.signingPublicKey);
      } catch (err) {
        throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `assignments.signingPublicKey: ${(err as Error).message}.`, { details: { key: 'assignments.signingPublicKey' } });
      }
    }
    this.source = new RemoteAssignmentSource({
      ...(options.tuning ?? {}),
      url: settings.url,
      pollIntervalMs: settings.pollIntervalMs,
      tokenEnv: settings.tokenEnv,
      env: options.env,
      caFile: settings.caFile,
      headers: { 'x-edge-agent-id': options.agentId },
      log: options.log,
      onResult: (result, trigger) => this.onResult(result, trigger),
    });
    this.state.endpoint = this.source.endpoint;
    this.state.signed = this.signingKey !== null;
    this.state.lastFetch = null;
    this.state.nextPollAt = null;
    this.state.fetches = this.counters();
    this.state.cache = this.cacheFile ? { file: this.cacheFile, loadedRevision: null, lastWriteAt: null, lastError: null } : null;
  }

  /** Reads the cache file (if any) and starts polling. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.cacheFile) await this.loadCache();
    if (this.cached?.entry.etag) this.source.setEtag(this.cached.entry.etag);
    this.source.start();
    this.log('info', `assignments: polling ${this.source.endpoint} every ~${this.options.settings.pollIntervalMs} ms (jittered)${this.signingKey ? ', signed documents only' : ''}`);
  }

  /** Fetches now (POST /assignments/refresh, SIGHUP); resolves with the status once handled. */
  async refresh(): Promise<AssignmentsStatus> {
    await this.source.refresh();
    return this.status();
  }

  /** The fetch-related fields, fresh. */
  status(): AssignmentsStatus {
    const next = this.source.stats.nextPollAt;
    this.state.nextPollAt = next === null ? null : isoTime(next);
    this.state.fetches = this.counters();
    return this.state;
  }

  async close(): Promise<void> {
    await this.source.close();
  }

  // ---------------------------------------------------------------- one answer

  private async onResult(result: FetchResult, trigger: FetchTrigger): Promise<boolean> {
    const startedAt = Date.now() - result.durationMs;
    const record = (outcome: FetchOutcome, lastError: AssignmentError | null, revision: number | null = null) => {
      this.state.lastFetch = {
        at: isoTime(startedAt),
        trigger,
        outcome,
        httpStatus: result.httpStatus,
        durationMs: result.durationMs,
        revision,
      };
      this.state.lastError = lastError;
      this.state.fetches = this.counters();
    };

    if (result.kind === 'not-modified') {
      if (this.bootPending) await this.applyCache('remote', 'the endpoint confirmed it (304 Not Modified)');
      this.bootPending = false;
      // The ETag sent is the cache's until a remote document is accepted: the endpoint confirms the cache.
      if (this.state.source === 'cache') this.state.source = 'remote';
      record('not-modified', null, this.state.revision);
      return true;
    }

    if (result.kind === 'error') {
      const error: AssignmentError = { code: result.error.code, message: result.error.message, kind: result.errorKind, at: isoTime() };
      if (result.httpStatus !== null) error.httpStatus = result.httpStatus;
      if (this.bootPending) await this.applyCache('cache', `the endpoint is unreachable: ${result.error.message}`);
      this.bootPending = false;
      record('error', error);
      return false;
    }

    const decoded = this.decode(result);
    if (!decoded.ok) {
      this.rejected += 1;
      this.log('error', `assignments: document from ${this.source.endpoint} rejected, the running assignment is unchanged: ${decoded.error.message}`, { code: decoded.error.code });
      if (this.bootPending) await this.applyCache('cache', 'the endpoint sent an unusable document');
      this.bootPending = false;
      record('rejected', decoded.error, decoded.revision);
      return false;
    }

    // At boot, a remote document that is not newer than the cache is judged against the cache.
    if (this.bootPending && this.cached && !this.newerThanCache(decoded)) await this.applyCache('cache', `the endpoint's revision ${decoded.revision ?? '?'} is not newer`);
    this.bootPending = false;

    let applied;
    try {
      applied = await this.options.apply(decoded.json, 'remote');
    } catch (err) {
      this.rejected += 1;
      const edge = isEdgeError(err) ? err : new EdgeError('EDGE_ERR_INVALID_CONFIG', String(err));
      const errors = Array.isArray(edge.details?.errors) ? (edge.details.errors as string[]) : undefined;
      const kind = typeof edge.details?.kind === 'string' ? (edge.details.kind as AssignmentError['kind']) : 'invalid';
      const error: AssignmentError = { code: edge.code, message: edge.message, kind, at: isoTime() };
      if (errors) error.errors = errors;
      if (decoded.revision !== null) error.revision = decoded.revision;
      // applyAssignments logged it already.
      if (this.cached && this.state.revision === null) await this.applyCache('cache', 'the endpoint sent an invalid document');
      record('rejected', error, decoded.revision);
      return false;
    }

    if (applied.outcome === 'stale') {
      const error: AssignmentError = { code: 'EDGE_ERR_ASSIGNMENT_STALE', message: `assignments: ${applied.message ?? 'stale revision ignored'}`, kind: 'stale', at: isoTime() };
      if (decoded.revision !== null) error.revision = decoded.revision;
      record('stale', error, decoded.revision);
      return false;
    }
    if (applied.outcome === 'applied') {
      this.applied += 1;
      await this.writeCache(result, applied.revision);
    }
    record(applied.outcome, null, decoded.revision);
    return true;
  }

  private decode(result: Extract<FetchResult, { kind: 'document' }>): Decoded {
    const at = isoTime();
    const fail = (kind: 'signature' | 'invalid', message: string): Decoded => ({ ok: false, revision: null, error: { code: kind === 'signature' ? 'EDGE_ERR_ASSIGNMENT_SIGNATURE' : 'EDGE_ERR_INVALID_CONFIG', message, kind, at } });
    if (this.signingKey) {
      const verdict = verifyAssignmentSignature(result.body, result.signature, this.signingKey);
      if (!verdict.ok) return fail('signature', `signature check failed: ${verdict.reason}`);
    }
    let text: string;
    try {
      text = utf8.decode(result.body);
    } catch {
      return fail('invalid', `the body (${result.body.length} bytes${result.contentType ? `, ${result.contentType}` : ''}) is not UTF-8 text, so not a JSON assignment document`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text.replace(/^\uFEFF/, ''));
    } catch (err) {
      return fail('invalid', `the body (${result.body.length} bytes${result.contentType ? `, ${result.contentType}` : ''}) is not JSON: ${(err as Error).message}`);
    }
    const revision = json !== null && typeof json === 'object' && Number.isInteger((json as { revision?: unknown }).revision) ? ((json as { revision: number }).revision) : null;
    return { ok: true, json, revision };
  }

  private newerThanCache(decoded: { json: unknown; revision: number | null }): boolean {
    const cached = this.cached!;
    if (decoded.revision === null) return true; // invalid: let validation say so
    if (decoded.revision !== cached.entry.revision) return decoded.revision > cached.entry.revision;
    return sameJson(decoded.json, cached.json);
  }

  // ---------------------------------------------------------------- cache

  private async loadCache(): Promise<void> {
    const file = this.cacheFile;
    const ignore = (reason: string) => {
      this.log('warn', `assignments: the cache file ${file} is corrupt or unusable and was ignored: ${reason}`, { cacheFile: file });
      this.state.cache = { ...this.state.cache!, lastError: `ignored at start: ${reason}` };
    };
    const read = await readAssignmentCache(file);
    if (read.status === 'missing') return;
    if (read.status === 'invalid') return ignore(read.reason);
    const { entry } = read;
    if (this.signingKey) {
      const verdict = verifyAssignmentSignature(Buffer.from(entry.body, 'utf8'), entry.signature, this.signingKey);
      if (!verdict.ok) return ignore(`signature check failed: ${verdict.reason}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(entry.body.replace(/^\uFEFF/, ''));
    } catch (err) {
      return ignore(`the cached document is not JSON (${(err as Error).message})`);
    }
    if ((json as { revision?: unknown } | null)?.revision !== entry.revision) return ignore('the cached document\'s revision does not match the file\'s');
    // The floor holds even when the document no longer validates here (changed local config):
    // an older document is still a replay.
    if (Number.isSafeInteger(entry.revision)) this.options.setFloor?.({ revision: entry.revision, json });
    const parsed = this.options.validate(json);
    if (!parsed.document || parsed.errors.length > 0) return ignore(`the cached document is not valid against the local config: ${parsed.errors.join('; ')}`);
    this.cached = { entry, json };
    this.state.cache = { ...this.state.cache!, loadedRevision: entry.revision };
    this.log('info', `assignments: cache file ${file} holds revision ${entry.revision} (saved ${entry.savedAt || 'at an unknown time'})`);
  }

  private async applyCache(as: 'remote' | 'cache', why: string): Promise<void> {
    const cached = this.cached;
    if (!cached || this.state.revision !== null) return;
    try {
      const r = await this.options.apply(cached.json, as);
      if (r.applied) this.log(as === 'cache' ? 'warn' : 'info', `assignments: applied cached revision ${r.revision} from ${this.cacheFile} (${why})`);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.log('error', `assignments: the cached revision ${cached.entry.revision} could not be applied: ${message}`);
      this.state.cache = { ...this.state.cache!, lastError: `could not apply revision ${cached.entry.revision}: ${message}` };
    }
  }

  private async writeCache(result: Extract<FetchResult, { kind: 'document' }>, revision: number | null): Promise<void> {
    if (!this.cacheFile || revision === null) return;
    const signature = result.signature === undefined ? null : Array.isArray(result.signature) ? result.signature.join(', ') : result.signature;
    try {
      await writeAssignmentCache(this.cacheFile, { revision, etag: result.etag, signature, body: result.body.toString('utf8') });
      this.state.cache = { ...this.state.cache!, lastWriteAt: isoTime(), lastError: null };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const message = `cannot write ${this.cacheFile} (${e.code ?? e.message})`;
      this.log('warn', `assignments: ${message}; the agent runs on, but an offline boot would not have revision ${revision}`);
      this.state.cache = { ...this.state.cache!, lastError: message };
    }
  }

  private counters(): FetchCounters {
    const s = this.source.stats;
    return { requests: s.requests, documents: s.documents, notModified: s.notModified, errors: s.errors, rejected: this.rejected, applied: this.applied, consecutiveErrors: s.consecutiveErrors };
  }
}
