// The agent's composition root: configuration in, a supervisor holding every session in its
// own worker thread, the admin server, and the lifecycle (graceful close, abrupt destroy).
// `edge-agent run` and the library's startAgent() are the same code.
import { AgentMetrics } from './admin/agent-metrics.js';
import { parseListen, startAdminServer, type AdminServer, type AgentStatusDocument } from './admin/admin-server.js';
import { EdgeError, isEdgeError } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { Supervisor } from './supervisor/supervisor.js';
import type { HandleStatus } from './supervisor/session-handle.js';
import { VERSION } from './version.js';
import type { WorkerEvent } from './protocol.js';
import { startTelemetry } from '../telemetry/agent-telemetry.js';
import { loadConfig, resolveSession } from '../config/load-config.js';
import { parseAssignmentDocument } from '../config/validate-sessions.js';
import type { AgentConfig, SessionSpec } from '../config/types.js';

export interface AgentHandle {
  /** Base URL of the admin server, or null when it is disabled. */
  readonly adminUrl: string | null;
  status(): Promise<AgentStatusDocument & { sessions: HandleStatus[] }>;
  metrics(): Promise<string>;
  /**
   * Applies an assignment document (`{ revision, sessions }`). A document that fails
   * validation is rejected whole (EDGE_ERR_INVALID_CONFIG listing every error) and the running
   * sessions are untouched; a revision not above the running one is ignored.
   */
  applyAssignments(doc: unknown): Promise<{ applied: boolean; revision: number | null }>;
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
}

/**
 * Starts the whole agent from a configuration object (the config file's shape; defaults and
 * EDGE_AGENT_* environment overrides apply) or from an already loaded AgentConfig.
 */
export async function startAgent(config: Partial<AgentConfig> | AgentConfig = {}, options: StartAgentOptions = {}): Promise<AgentHandle> {
  const cfg = loadConfig({ argsJson: JSON.stringify(config), env: process.env });
  const log = options.log ?? createLogger({ level: cfg.agent.logLevel, format: cfg.agent.logFormat });
  const metrics = new AgentMetrics();
  const telemetry = startTelemetry({ exporter: cfg.telemetry.exporter, agentId: cfg.agent.id, version: VERSION, write: options.consoleSpans });
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

  const assignments: AgentStatusDocument['assignments'] = { source: 'static', revision: null, lastError: null };
  const staticSessions = cfg.sessions;
  await supervisor.apply(staticSessions);
  log('info', `agent ${cfg.agent.id} started with ${staticSessions.length} session(s)`, { agent: cfg.agent.id });

  const status = async () => ({
    agentId: cfg.agent.id,
    version: VERSION,
    assignments: { ...assignments },
    sessions: await supervisor.status(),
  });
  const renderMetrics = async () => metrics.render(await supervisor.status());

  let admin: AdminServer | undefined;
  if (cfg.admin.listen) {
    try {
      admin = await startAdminServer(parseListen(cfg.admin.listen, 'admin.listen'), { status, metrics: renderMetrics });
      log('info', `admin server on ${admin.url} (/status, /readyz, /healthz, /metrics)`);
    } catch (err) {
      await supervisor.destroy();
      throw err;
    }
  }

  let closing: Promise<boolean> | undefined;
  return {
    adminUrl: admin?.url ?? null,
    status,
    metrics: renderMetrics,
    async applyAssignments(doc: unknown) {
      const { document, errors } = parseAssignmentDocument(doc, { credentials: cfg.credentials, policy: cfg.policy });
      if (!document || errors.length > 0) {
        const error = new EdgeError('EDGE_ERR_INVALID_CONFIG', `Assignment rejected, the running sessions are unchanged: ${errors.join('; ')}`, { details: { errors } });
        assignments.lastError = { code: error.code, message: error.message };
        log('error', error.message, { code: error.code });
        throw error;
      }
      if (assignments.revision !== null && document.revision <= assignments.revision) {
        log('info', `assignment revision ${document.revision} ignored: revision ${assignments.revision} is running`);
        return { applied: false, revision: assignments.revision };
      }
      // Remote sessions win over static ones with the same id.
      const remoteIds = new Set(document.sessions.map((s) => s.id));
      const desired = [...staticSessions.filter((s) => !remoteIds.has(s.id)), ...document.sessions];
      try {
        await supervisor.apply(desired);
      } catch (err) {
        const error = isEdgeError(err) ? err : new EdgeError('EDGE_ERR_INVALID_CONFIG', String(err));
        assignments.lastError = { code: error.code, message: error.message };
        throw error;
      }
      assignments.source = 'remote';
      assignments.revision = document.revision;
      assignments.lastError = null;
      log('info', `assignment revision ${document.revision} applied: ${document.sessions.length} session(s)`);
      return { applied: true, revision: document.revision };
    },
    async terminateWorker(sessionId: string) {
      const handle = supervisor.handle(sessionId);
      if (!handle) throw new EdgeError('EDGE_ERR_UNKNOWN_FORWARD', `No session "${sessionId}".`);
      await handle.terminateWorker();
    },
    close() {
      closing ??= (async () => {
        const drained = await supervisor.close();
        await admin?.close();
        await telemetry.shutdown(); // flush spans before the process exits
        return drained;
      })();
      return closing;
    },
    async destroy() {
      closing ??= Promise.resolve(false);
      await supervisor.destroy();
      await admin?.close();
      await telemetry.shutdown();
    },
  };
}
