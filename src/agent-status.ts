// The shape of the agent's /status, on its own so that the parts it is built from (and the
// status report, which reads it) need not import the agent's composition root (src/agent.ts).
import type { AgentStatusDocument } from './admin/admin-server.js';
import type { AssignmentsStatus } from './assignments/status.js';
import type { HandleStatus } from './supervisor/session-handle.js';
import type { runtimeSettings } from './runtime-flags.js';
import type { workerResourceLimits } from './supervisor/worker-limits.js';

/** /status: the admin document, with the full assignments status and the sessions' live status. */
export type AgentStatus = Omit<AgentStatusDocument, 'assignments' | 'sessions'> & {
  assignments: AssignmentsStatus;
  sessions: HandleStatus[];
  /** How sending status reports to assignments.reportUrl goes (present when it is set). */
  report?: ReportStatus;
  /** The settings the performance figures depend on, as this process runs them (src/runtime-flags.ts). */
  runtime: ReturnType<typeof runtimeSettings> & { workerResourceLimits: ReturnType<typeof workerResourceLimits> };
};

/** How sending status reports to assignments.reportUrl goes. */
export interface ReportStatus {
  endpoint: string;
  intervalMs: number;
  sent: number;
  failed: number;
  consecutiveFailures: number;
  /** ISO time of the last report the endpoint accepted. */
  lastSentAt: string | null;
  lastError: { code: string; message: string; at: string } | null;
  /** ISO time of the next scheduled report. */
  nextAt: string | null;
}
