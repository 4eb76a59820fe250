// Per-forward HTTP counters for status(): requests received, requests in flight, responses by
// class (the agent's own error answers included), and how many of those the agent made itself.
export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx';

export interface HttpStats {
  /** Requests received from outside clients (upgrades included). */
  requests: number;
  /** Requests being served right now. */
  active: number;
  /** Connections switched to a raw byte pipe after a 101. */
  upgrades: number;
  /** Responses sent to clients, by status class. */
  responses: Record<StatusClass, number>;
  /** Responses the agent answered itself (502, 504, 400, 431, 413, 503). */
  agentResponses: number;
}

export function newHttpStats(): HttpStats {
  return { requests: 0, active: 0, upgrades: 0, responses: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 }, agentResponses: 0 };
}

export function countResponse(stats: HttpStats, status: number): void {
  const cls = `${Math.min(5, Math.max(1, Math.floor(status / 100)))}xx` as StatusClass;
  stats.responses[cls] += 1;
}

export function snapshotHttpStats(stats: HttpStats): HttpStats {
  return { ...stats, responses: { ...stats.responses } };
}
