// The status report a device POSTs to assignments.reportUrl (config/report.schema.json): what
// the fleet needs to see a device without reaching it — which revision runs and from where,
// each session's gateway connection(s), each forward's state and where it really listens on
// the SSH host, and the last errors. Built from /status, which is already free of secrets
// (credentials, tokens and proxy passwords never enter it); only what the fleet needs is copied.
import type { AgentStatus } from '../agent-status.js';
import { redactCredentials } from '../grammar/redact.js';

export const REPORT_SCHEMA_VERSION = 1;

type CodedError = { code: string; message: string } | null;

export interface ReportedGateway {
  host: string;
  port: number;
  state: string;
  serverBanner: string | null;
  hostKeyFingerprint: string | null;
  lastError: CodedError;
}

export interface ReportedForward {
  id: string;
  state: string;
  /** What was asked for. */
  bind: string;
  port: number;
  /** Where it really listens on the SSH host: the port it bound (port 0 = the host picked one), or a socket path. */
  remotePort: number | null;
  remoteSocket: string | null;
  target: string | null;
  channels: { open: number; total: number; rejected: number };
  bytesIn: number;
  bytesOut: number;
  lastError: CodedError;
}

export interface ReportedListener {
  id: string;
  kind: 'local' | 'dynamic';
  state: string;
  bind: string;
  port: number;
  localPort: number | null;
  lastError: CodedError;
}

export interface StatusReport {
  schemaVersion: 1;
  agentId: string;
  version: string;
  /** ISO time the report was built. */
  sentAt: string;
  /** Increases with every report sent (failed attempts leave gaps); 1 after a restart. */
  sequence: number;
  /** Why it was sent: start, a change, or the interval. */
  reason: 'start' | 'change' | 'interval';
  assignments: { source: string; revision: number | null; lastError: (CodedError & { kind?: string }) | null; refusedForwards: number };
  sessions: Array<{
    id: string;
    state: string;
    gateways: ReportedGateway[];
    lastError: CodedError;
    forwards: ReportedForward[];
    localForwards: ReportedListener[];
    dynamicForwards: ReportedListener[];
  }>;
}

const coded = (e: { code: string; message: string } | null | undefined): CodedError => (e ? { code: e.code, message: e.message } : null);

export function buildStatusReport(status: AgentStatus, meta: { sequence: number; reason: StatusReport['reason']; now?: Date }): StatusReport {
  const a = status.assignments;
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    agentId: status.agentId,
    version: status.version,
    sentAt: (meta.now ?? new Date()).toISOString(),
    sequence: meta.sequence,
    reason: meta.reason,
    assignments: {
      source: a.source,
      revision: a.revision,
      lastError: a.lastError ? { code: a.lastError.code, message: a.lastError.message, ...(a.lastError.kind ? { kind: a.lastError.kind } : {}) } : null,
      refusedForwards: a.refusedForwards?.length ?? 0,
    },
    sessions: status.sessions.map((s) => {
      // Sessions that hold several gateway connections list them in `gateways`; otherwise
      // the session's one connection is its only gateway.
      const listed = (s as { gateways?: Array<Partial<ReportedGateway> & { host: string; port: number; state: string }> }).gateways;
      const gateways: ReportedGateway[] = listed
        ? listed.map((g) => ({ host: g.host, port: g.port, state: g.state, serverBanner: g.serverBanner ?? null, hostKeyFingerprint: g.hostKeyFingerprint ?? null, lastError: coded(g.lastError) }))
        : [{ host: s.host, port: s.port, state: s.state, serverBanner: s.serverBanner, hostKeyFingerprint: s.hostKeyFingerprint, lastError: coded(s.lastError) }];
      return {
        id: s.id,
        state: s.state,
        gateways,
        lastError: coded(s.lastError),
        forwards: s.forwards.map((f) => ({
          id: f.id,
          state: f.state,
          bind: f.bind,
          port: f.port,
          remotePort: f.remotePort,
          remoteSocket: (f as { remoteSocket?: string | null }).remoteSocket ?? null,
          target: f.target === null ? null : redactCredentials(f.target),
          channels: { open: f.channels.open, total: f.channels.total, rejected: f.channels.rejected },
          bytesIn: f.bytesIn,
          bytesOut: f.bytesOut,
          lastError: coded(f.lastError),
        })),
        localForwards: (s.localForwards ?? []).map(listener),
        dynamicForwards: (s.dynamicForwards ?? []).map(listener),
      };
    }),
  };
}

function listener(f: AgentStatus['sessions'][number]['localForwards'][number] | AgentStatus['sessions'][number]['dynamicForwards'][number]): ReportedListener {
  return { id: f.id, kind: f.kind, state: f.state, bind: f.bind, port: f.port, localPort: f.localPort, lastError: coded(f.lastError) };
}

/**
 * What makes a report worth sending before the interval: states, where forwards listen,
 * revisions and error codes — not the byte and channel counters, which change all the time.
 */
export function reportFingerprint(report: StatusReport): string {
  return JSON.stringify([
    report.assignments.source, report.assignments.revision, report.assignments.lastError?.code ?? null, report.assignments.refusedForwards,
    report.sessions.map((s) => [
      s.id, s.state, s.lastError?.code ?? null,
      s.gateways.map((g) => [g.host, g.port, g.state]),
      s.forwards.map((f) => [f.id, f.state, f.remotePort, f.remoteSocket, f.target, f.lastError?.code ?? null]),
      [...s.localForwards, ...s.dynamicForwards].map((f) => [f.id, f.state, f.localPort, f.lastError?.code ?? null]),
    ]),
  ]);
}
