// The agent's composition root: configuration in, a supervisor holding every session in its
// own worker thread, the admin server, and the lifecycle (graceful close, abrupt destroy).
// `edge-agent run` and the library's startAgent() are the same code. With assignments.url set,
// the assignment controller polls the fleet endpoint and applies what it serves (src/assignments/).
import { AgentMetrics } from './admin/agent-metrics.js';
import { startAdminServer, type AdminServer, type AgentStatusDocument } from './admin/admin-server.js';
import { AssignmentApplier, type ApplyAssignmentsResult } from './assignments/assignment-applier.js';
import type { AssignmentController } from './assignments/assignment-controller.js';
import type { RemoteSourceTuning } from './assignments/remote-source.js';
import type { AssignmentsStatus } from './assignments/status.js';
import { EdgeError } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { applyRuntimeFlags } from './runtime-flags.js';
import { Supervisor } from './supervisor/supervisor.js';
import type { HandleStatus } from './supervisor/session-handle.js';
import { VERSION } from './version.js';
import type { WorkerEvent } from './protocol.js';
import type { AgentTelemetry } from '../telemetry/agent-telemetry.js';
import { parseListenAddress } from '../config/formats.js';
import { loadConfig, resolveSession } from '../config/load-config.js';
import type { AgentConfig, SessionSpec } from '../config/types.js';

export type { ApplyAssignmentsResult } from './assignments/assignment-applier.js';
export type { AssignmentsStatus } from './assignments/status.js';

/** /status: the admin document, with the full assignments status and the sessions' live status. */
export type AgentStatus = Omit<AgentStatusDocument, 'assignments' | 'sessions'> & { assignments: AssignmentsStatus; sessions: HandleStatus[] };

export interface AgentHandle {
  /** Base URL of the admin server, or null when it is disabled. */
  readonly adminUrl: string | null;
  status(): Promise<AgentStatus>;
  metrics(): Promise<string>;
  /**
   * Applies an assignment document (`{ revision, sessions }`). A document that fails
   * validation is rejected whole (EDGE_ERR_INVALID_CONFIG, details.errors listing every error
   * with its JSON path) and the running sessions are untouched. A forward the local policy
   * forbids is refused (listed in `refusedForwards` and /status) while the rest applies. A
   * revision not above the running one is ignored (outcome `stale`, or `unchanged` for the same
   * revision and content). `source` is what /status reports (default `remote`).
   */
  applyAssignments(doc: unknown, options?: { source?: 'remote' | 'cache' }): Promise<ApplyAssignmentsResult>;
  /**
   * Fetches the fleet endpoint now (as POST /assignments/refresh and SIGHUP do) and resolves with
   * the `assignments` status once the answer was handled. Throws EDGE_ERR_INVALID_CONFIG when
   * assignments.url is not set.
   */
  refreshAssignments(): Promise<AssignmentsStatus>;
  /** Test and diagnostic hook: kills a session's worker thread as a crash would. */
  terminateWorker(sessionId: string): Promise<void>;
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
  /** Library-only tuning of the fleet endpoint polling (timeouts, backoff, jitter source, proxy). */
  assignments?: RemoteSourceTuning;
  /**
   * Apply the agent's V8 settings (src/runtime-flags.ts: single-threaded GC) to this process
   * before the session workers start, as the CLI does (default true). They are process-wide:
   * pass false to keep the host program's own garbage-collector settings.
   */
  runtimeFlags?: boolean;
}

const TELEMETRY_OFF: AgentTelemetry = { enabled: false, ingest: () => {}, shutdown: async () => {} };

/**
 * Starts the whole agent from a configuration object (the config file's shape; defaults and
 * EDGE_AGENT_* environment overrides apply) or from an already loaded AgentConfig.
 */
export async function startAgent(config: Partial<AgentConfig> | AgentConfig = {}, options: StartAgentOptions = {}): Promise<AgentHandle> {
  if (options.runtimeFlags !== false) applyRuntimeFlags();
  const cfg = loadConfig({ argsJson: JSON.stringify(config), env: process.env });
  const log = options.log ?? createLogger({ level: cfg.agent.logLevel, format: cfg.agent.logFormat });
  const metrics = new AgentMetrics();
  // The OpenTelemetry SDK and exporters, and the fleet client (undici), are loaded only when
  // configured: an agent without them does not carry their memory and start-up time.
  const telemetry: AgentTelemetry = cfg.telemetry.exporter === 'none'
    ? TELEMETRY_OFF
    : (await import('../telemetry/agent-telemetry.js')).startTelemetry({ exporter: cfg.telemetry.exporter, agentId: cfg.agent.id, version: VERSION, write: options.consoleSpans });
  const supervisor = new Supervisor<SessionSpec>({
    log,
    resolve: (spec) => resolveSession(spec, cfg, process.env),
    drainTimeoutMs: cfg.agent.drainTimeoutMs,
    tracing: telemetry.enabled,
  });
  supervisor.on('event', (sessionId, event) => {
    if (event.type === 'spans') telemetry.ingest(event.spans);
    else metrics.record(sessionId, event);
    options.onEvent?.(sessionId, event);
  });

  const staticSessions = cfg.sessions;
  const applier = new AssignmentApplier({ applySessions: (desired) => supervisor.apply(desired), staticSessions, validation: { credentials: cfg.credentials, policy: cfg.policy }, log });
  // Built before anything starts, so an unreadable caFile or a bad signing key fails fast.
  const controller = cfg.assignments.url
    ? new (await import('./assignments/assignment-controller.js')).AssignmentController({
      settings: cfg.assignments, agentId: cfg.agent.id, state: applier.state, log, tuning: options.assignments,
      validate: (doc) => applier.validate(doc),
      apply: (doc, source) => applier.apply(doc, source),
    })
    : undefined;
  await supervisor.apply(staticSessions);
  log('info', `agent ${cfg.agent.id} started with ${staticSessions.length} session(s)`, { agent: cfg.agent.id });

  const status = async (): Promise<AgentStatus> => ({
    agentId: cfg.agent.id,
    version: VERSION,
    assignments: structuredClone(controller ? controller.status() : applier.state),
    sessions: applier.addRefusedForwards(await supervisor.status()),
  });
  const renderMetrics = async () => metrics.render(await supervisor.status());
  const refreshAssignments = async (): Promise<AssignmentsStatus> => {
    if (!controller) throw new EdgeError('EDGE_ERR_INVALID_CONFIG', 'assignments.url is not set: there is no fleet endpoint to fetch from (static sessions only).');
    return structuredClone(await controller.refresh());
  };

  let admin: AdminServer | undefined;
  if (cfg.admin.listen) {
    try {
      admin = await startAdminServer(parseListenAddress(cfg.admin.listen), { status, metrics: renderMetrics, ...(controller ? { refreshAssignments } : {}) });
      log('info', `admin server on ${admin.url} (/status, /readyz, /healthz, /metrics${controller ? ', POST /assignments/refresh' : ''})`);
    } catch (err) {
      await controller?.close();
      await supervisor.destroy();
      throw err;
    }
  }
  await controller?.start();

  let closing: Promise<boolean> | undefined;
  return {
    adminUrl: admin?.url ?? null,
    status,
    metrics: renderMetrics,
    applyAssignments: (doc: unknown, opts: { source?: 'remote' | 'cache' } = {}) => applier.apply(doc, opts.source ?? 'remote'),
    refreshAssignments,
    async terminateWorker(sessionId: string) {
      const handle = supervisor.handle(sessionId);
      if (!handle) throw new EdgeError('EDGE_ERR_UNKNOWN_FORWARD', `No session "${sessionId}".`);
      await handle.terminateWorker();
    },
    close() {
      closing ??= (async () => {
        await controller?.close();
        const drained = await supervisor.close();
        await admin?.close();
        await telemetry.shutdown(); // flush spans before the process exits
        return drained;
      })();
      return closing;
    },
    async destroy() {
      closing ??= Promise.resolve(false);
      const stopping = controller?.close(); // not awaited first: an apply in flight may be draining
      await supervisor.destroy();
      await stopping;
      await admin?.close();
      await telemetry.shutdown(250); // abrupt: a last, short chance to export
    },
  };
}
