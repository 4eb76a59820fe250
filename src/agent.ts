// The agent's composition root: configuration in, a supervisor holding every session in its
// own worker thread, the admin server, and the lifecycle (graceful close, abrupt destroy).
// `edge-agent run` and the library's startAgent() are the same code. With assignments.url set,
// the assignment controller polls the fleet endpoint and applies what it serves (src/assignments/).
import { AgentMetrics } from './admin/agent-metrics.js';
import type { AdminServer } from './admin/admin-server.js';
import { AssignmentApplier, type ApplyAssignmentsResult } from './assignments/assignment-applier.js';
import type { AssignmentController } from './assignments/assignment-controller.js';
import type { RemoteSourceTuning } from './assignments/remote-source.js';
import type { AssignmentsStatus } from './assignments/status.js';
import { assignmentStateFile } from './assignments/state-dir.js';
import { EdgeError } from './errors.js';
import { HeldEvents } from './lifecycle/held-events.js';
import { createLogger, type Logger } from './log.js';
import { sameJson } from './supervisor/reconcile.js';
import { applyRuntimeFlags, applySessionlessMainThreadFlags, runtimeSettings } from './runtime-flags.js';
import { Supervisor } from './supervisor/supervisor.js';
import { workerResourceLimits } from './supervisor/worker-limits.js';
import type { HandleStatus } from './supervisor/session-handle.js';
import { VERSION } from './version.js';
import type { StatusReporter, StatusReporterTuning } from './report/status-reporter.js';
import type { AgentStatus } from './agent-status.js';
import type { WorkerEvent } from './protocol.js';
import type { AgentTelemetry } from '../telemetry/agent-telemetry.js';
import { parseListenAddress } from '../config/formats.js';
import { loadConfig, resolveSession } from '../config/load-config.js';
import { takePreloadedConfig } from './preloaded-config.js';
import type { AgentConfig, SessionSpec } from '../config/types.js';

export type { ApplyAssignmentsResult } from './assignments/assignment-applier.js';
export type { AssignmentsStatus } from './assignments/status.js';

export type { AgentStatus } from './agent-status.js';

export interface AgentHandle {
  /** Base URL of the admin server, or null when it is disabled. */
  readonly adminUrl: string | null;
  status(): Promise<AgentStatus>;
  metrics(): Promise<string>;
  /**
   * Applies an assignment document (`{ revision, sessions }`). A document that fails
   * validation is rejected whole (EDGE_ERR_INVALID_CONFIG, details.errors listing every error
   * with its JSON path) and the running sessions are untouched. A forward the local policy
   * forbids is refused (listed in `refusedForwards` and /status, EDGE_ERR_POLICY_DENIED) while
   * the rest applies. A revision not above the running one is ignored (outcome `stale`, or
   * `unchanged` for the same revision and content). Rejected with their own codes: a revision
   * that is not a safe integer (EDGE_ERR_ASSIGNMENT_REVISION), a past `expires`
   * (EDGE_ERR_ASSIGNMENT_EXPIRED), more sessions/forwards than the policy budget
   * (EDGE_ERR_POLICY_BUDGET). `source` is what /status reports (default `remote`).
   */
  applyAssignments(doc: unknown, options?: { source?: 'remote' | 'cache' }): Promise<ApplyAssignmentsResult>;
  /**
   * Fetches the fleet endpoint now (as POST /assignments/refresh and SIGHUP do) and resolves with
   * the `assignments` status once the answer was handled. Throws EDGE_ERR_INVALID_CONFIG when
   * assignments.url is not set.
   */
  refreshAssignments(): Promise<AssignmentsStatus>;
  /** Makes a session retry now (as POST /sessions/<id>/reconnect); throws EDGE_ERR_UNKNOWN_SESSION. */
  reconnectSession(sessionId: string): Promise<HandleStatus>;
  /**
   * Reads the configuration again (the config file, EDGE_AGENT_CONFIG_JSON, EDGE_AGENT_* — as at
   * start; SIGHUP in `edge-agent run`) and reconciles static sessions, credentials and policy with
   * what runs: unchanged sessions are untouched, a session whose credential changed restarts,
   * the running assignment is checked again under the new policy. An invalid config throws
   * EDGE_ERR_INVALID_CONFIG and changes nothing. Settings that need a restart (admin.listen,
   * agent.*, assignments.*, telemetry.*) are listed in `restartNeeded` and logged.
   */
  reloadConfig(): Promise<{ file: string | null; sessions: number; restartNeeded: string[] }>;
  /** Test and diagnostic hook: kills a session's worker thread as a crash would. */
  terminateWorker(sessionId: string): Promise<void>;
  /** Test hook (needs EDGE_AGENT_TEST_HOOKS=1): a session's worker grows its heap until agent.workerMaxHeapMb stops it. */
  exhaustWorkerHeapForTest(sessionId: string): void;
  /**
   * Graceful: every session drains up to agent.drainTimeoutMs. Idempotent. Resolves false when
   * channels still open at the deadline had to be cut.
   */
  close(): Promise<boolean>;
  /** Abrupt. Idempotent. */
  destroy(): Promise<void>;
}

export interface StartAgentOptions {
  /** Receives every log line; default: JSON or text lines on stderr per agent.logFormat. */
  log?: Logger;
  /** Where telemetry.exporter "console" prints its one line per span (default stdout). */
  consoleSpans?: (line: string) => void;
  /** Every event from every session's worker (channel opens and closes, forward states, …). */
  onEvent?: (sessionId: string, event: WorkerEvent) => void;
  /** Library-only tuning of the fleet endpoint polling (timeouts, backoff, jitter source, clock, proxy). */
  assignments?: RemoteSourceTuning;
  /** Library-only tuning of the status reports to assignments.reportUrl (debounce, backoff, jitter source, clock, proxy). */
  report?: StatusReporterTuning;
  /**
   * Apply the agent's V8 settings (src/runtime-flags.ts: single-threaded GC) to this process
   * before the session workers start, as the CLI does (default true). They are process-wide:
   * pass false to keep the host program's own garbage-collector settings.
   */
  runtimeFlags?: boolean;
}


/**
 * Starts the whole agent from a configuration object (the config file's shape; defaults and
 * EDGE_AGENT_* environment overrides apply) or from an already loaded AgentConfig.
 */
export async function startAgent(config: Partial<AgentConfig> | AgentConfig = {}, options: StartAgentOptions = {}): Promise<AgentHandle> {
  if (options.runtimeFlags !== false) {
    applyRuntimeFlags();
    applySessionlessMainThreadFlags(); // the sessions run in workers: this thread moves no data
  }
  // `run` hands over the load it made to check the files (src/preloaded-config.ts).
  const cfg = takePreloadedConfig(config) ?? loadConfig({ argsJson: JSON.stringify(config), env: process.env });
  // Credentials and policy as of the last (re)load; reloadConfig() replaces it.
  let current = cfg;
  // The credential's settings ride along with each session spec, so that a changed credential
  // restarts exactly the sessions using it (reconcile compares specs).
  const withCredential = (spec: SessionSpec): SessionSpec => ({ ...spec, credentialSettings: current.credentials[spec.credential] ?? null } as SessionSpec);
  const log = options.log ?? createLogger({ level: cfg.agent.logLevel, format: cfg.agent.logFormat });
  // The static sessions' workers start first: each boots a thread and loads ssh2 (200–600 ms on
  // a slow core) while this thread loads telemetry and the fleet client, so on two cores the two
  // overlap. Whether workers record spans follows telemetry.exporter, as the telemetry's
  // `enabled` does; the sessions' first events wait in `held` until metrics and spans can take them.
  const supervisor = new Supervisor<SessionSpec>({
    log,
    resolve: (spec) => resolveSession(spec, current, process.env),
    drainTimeoutMs: cfg.agent.drainTimeoutMs,
    tracing: cfg.telemetry.exporter !== 'none',
    workerHeap: cfg.agent,
  });
  const held = new HeldEvents<[sessionId: string, event: WorkerEvent]>(HELD_EVENTS_LIMIT);
  supervisor.on('event', (sessionId, event) => {
    held.push([sessionId, event]);
    options.onEvent?.(sessionId, event);
  });
  const staticSessions = cfg.sessions;
  await supervisor.apply(staticSessions.map(withCredential));

  let telemetry: AgentTelemetry | undefined;
  let controller: AssignmentController | undefined;
  let reporter: StatusReporter | undefined;
  let closing: Promise<boolean> | undefined;
  const applyAndReport = async (doc: unknown, source: 'remote' | 'cache') => {
    try {
      return await applier.apply(doc, source);
    } finally {
      reporter?.changed(); // a new revision, or a new lastError
    }
  };
  const applier = new AssignmentApplier({ applySessions: (desired) => supervisor.apply(desired.map(withCredential)), staticSessions, validation: { credentials: cfg.credentials, policy: cfg.policy }, log });
  const status = async (): Promise<AgentStatus> => ({
    agentId: cfg.agent.id,
    version: VERSION,
    draining: closing !== undefined,
    assignments: structuredClone(controller ? controller.status() : applier.state),
    sessions: applier.addRefusedForwards(await supervisor.status()),
    ...(reporter ? { report: reporter.status() } : {}),
    runtime: { ...runtimeSettings(), workerResourceLimits: workerResourceLimits(cfg.agent) },
  });
  // A start that fails from here on stops what began: fleet client, reporter, sessions, telemetry.
  const stopAfterFailedStart = async () => {
    await controller?.close();
    await reporter?.close();
    await supervisor.destroy();
    await telemetry?.shutdown(250);
  };
  let metrics: AgentMetrics;
  try {
    // The OpenTelemetry SDK (its metrics part serves /metrics), the OTLP exporters and the fleet
    // client (undici) are imported here, not at module load: `import` of this file stays light.
    telemetry = await (await import('../telemetry/agent-telemetry.js')).startTelemetry({ exporter: cfg.telemetry.exporter, agentId: cfg.agent.id, version: VERSION, write: options.consoleSpans, log });
    metrics = new AgentMetrics(telemetry.meter, () => supervisor.status());
    telemetry.setSeriesFilter((name, attributes) => metrics.isCurrent(name, attributes));
    // An unreadable caFile or a bad signing key fails the start (the sessions started meanwhile
    // are destroyed). The cached document doubles as the revision floor, so it always lives
    // somewhere (state dir).
    controller = cfg.assignments.url
      ? new (await import('./assignments/assignment-controller.js')).AssignmentController({
        settings: { ...cfg.assignments, cacheFile: assignmentStateFile(cfg) }, agentId: cfg.agent.id, state: applier.state, log, tuning: options.assignments,
        validate: (doc) => applier.validate(doc),
        apply: (doc, source) => applyAndReport(doc, source),
        setFloor: (floor) => applier.setFloor(floor),
      })
      : undefined;
    reporter = cfg.assignments.reportUrl
      ? new (await import('./report/status-reporter.js')).StatusReporter({
        url: cfg.assignments.reportUrl, intervalMs: cfg.assignments.reportIntervalMs, tokenEnv: cfg.assignments.tokenEnv, caFile: cfg.assignments.caFile,
        log, status, meter: telemetry.meter, ...options.report,
      })
      : undefined;
  } catch (err) {
    await stopAfterFailedStart();
    throw err;
  }
  const agentTelemetry = telemetry;
  const dropped = held.release(([sessionId, event]) => {
    if (event.type === 'spans') agentTelemetry.ingest(event.spans);
    else metrics.record(sessionId, event);
    if (REPORTABLE_EVENTS.has(event.type)) reporter?.changed();
  });
  if (dropped > 0) log('warn', `${dropped} session event(s) arrived while telemetry was loading, past the ${HELD_EVENTS_LIMIT} kept: they are missing from /metrics and traces`);
  log('info', `agent ${cfg.agent.id} started with ${staticSessions.length} session(s)`, { agent: cfg.agent.id });

  const renderMetrics = () => agentTelemetry.renderMetrics();
  const reconnectSession = async (sessionId: string) => {
    const handle = supervisor.handle(sessionId);
    if (!handle) throw new EdgeError('EDGE_ERR_UNKNOWN_SESSION', `No session "${sessionId}".`);
    return handle.reconnectNow();
  };
  const refreshAssignments = async (): Promise<AssignmentsStatus> => {
    if (!controller) throw new EdgeError('EDGE_ERR_INVALID_CONFIG', 'assignments.url is not set: there is no fleet endpoint to fetch from (static sessions only).');
    return structuredClone(await controller.refresh());
  };

  let admin: AdminServer | undefined;
  if (cfg.admin.listen) {
    try {
      // loaded only when the admin listener is on (admin.listen "" turns it off)
      const { startAdminServer } = await import('./admin/admin-server.js');
      admin = await startAdminServer(parseListenAddress(cfg.admin.listen), { status, metrics: renderMetrics, reconnectSession, ...(controller ? { refreshAssignments } : {}) });
      log('info', `admin server on ${admin.url} (status page at /, /status, /readyz, /healthz, /metrics, POST /sessions/<id>/reconnect${controller ? ', POST /assignments/refresh' : ''})`);
    } catch (err) {
      await stopAfterFailedStart();
      throw err;
    }
  }
  try {
    await controller?.start();
  } catch (err) {
    await admin?.close();
    await stopAfterFailedStart();
    throw err;
  }
  reporter?.start();

  const reloadConfig = async () => {
    const next = loadConfig({ argsJson: JSON.stringify(config), env: process.env });
    const restartNeeded = (['agent', 'admin', 'assignments', 'telemetry'] as const)
      .flatMap((section) => Object.keys({ ...cfg[section], ...next[section] }).map((k) => `${section}.${k}`)
        .filter((key) => {
          const k = key.slice(section.length + 1);
          return !sameJson((cfg[section] as Record<string, unknown>)[k], (next[section] as Record<string, unknown>)[k]);
        }));
    const previous = current;
    current = next;
    try {
      await applier.reconfigure(next.sessions, { credentials: next.credentials, policy: next.policy });
    } catch (err) {
      current = previous;
      throw err;
    }
    const file = next.origin.file ?? null;
    log('info', `configuration reloaded${file ? ` from ${file}` : ''}: ${next.sessions.length} static session(s)`);
    for (const key of restartNeeded) log('warn', `configuration reload: ${key} changed; it takes effect when the agent restarts`, { key });
    return { file, sessions: next.sessions.length, restartNeeded };
  };

  return {
    adminUrl: admin?.url ?? null,
    status,
    metrics: renderMetrics,
    applyAssignments: (doc: unknown, opts: { source?: 'remote' | 'cache' } = {}) => applyAndReport(doc, opts.source ?? 'remote'),
    refreshAssignments,
    reconnectSession,
    reloadConfig,
    async terminateWorker(sessionId: string) {
      const handle = supervisor.handle(sessionId);
      if (!handle) throw new EdgeError('EDGE_ERR_UNKNOWN_SESSION', `No session "${sessionId}".`);
      await handle.terminateWorker();
    },
    exhaustWorkerHeapForTest(sessionId: string) {
      supervisor.handle(sessionId)?.exhaustWorkerHeapForTest();
    },
    close() {
      closing ??= (async () => {
        await reporter?.close();
        await controller?.close();
        const drained = await supervisor.close();
        await admin?.close();
        await agentTelemetry.shutdown(); // flush spans before the process exits
        return drained;
      })();
      return closing;
    },
    async destroy() {
      closing ??= Promise.resolve(false);
      await reporter?.close();
      const stopping = controller?.close(); // not awaited first: an apply in flight may be draining
      await supervisor.destroy();
      await stopping;
      await admin?.close();
      await agentTelemetry.shutdown(250); // abrupt: a last, short chance to export
    },
  };
}

/** Session events kept while telemetry loads (a handful per session in practice: state, connected, forward up). */
const HELD_EVENTS_LIMIT = 10_000;

/** Worker events after which the status report may differ in more than its counters. */
const REPORTABLE_EVENTS: ReadonlySet<WorkerEvent['type']> = new Set(['state', 'forward', 'localForward', 'connected']);
