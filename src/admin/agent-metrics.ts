// The numbers /metrics exposes, in Prometheus text format. Gauges and byte/channel totals come
// from the sessions' status; counters that status does not keep (reconnects, rejections by
// reason, channel durations) are counted here from the workers' events.
import type { WorkerEvent } from '../protocol.js';
import type { HandleStatus } from '../supervisor/session-handle.js';

const DURATION_BUCKETS_S = [0.01, 0.1, 1, 10, 60, 600, 3600];
const SESSION_STATES = ['idle', 'connecting', 'connected', 'backoff', 'failed', 'draining', 'stopped'] as const;

interface Histogram { buckets: number[]; sum: number; count: number }

export class AgentMetrics {
  private readonly reconnects = new Map<string, number>();
  private readonly rejected = new Map<string, number>(); // "session\0forward\0reason"
  private readonly durations = new Map<string, Histogram>(); // "session\0forward"

  record(sessionId: string, event: WorkerEvent): void {
    if (event.type === 'reconnectAttempt' && event.kind === 'ssh') {
      this.reconnects.set(sessionId, (this.reconnects.get(sessionId) ?? 0) + 1);
    } else if (event.type === 'channelRejected') {
      const key = [sessionId, event.info.forwardId, event.info.reason].join('\0');
      this.rejected.set(key, (this.rejected.get(key) ?? 0) + 1);
    } else if (event.type === 'channelClose') {
      const key = [sessionId, event.info.forwardId].join('\0');
      const h = this.durations.get(key) ?? { buckets: DURATION_BUCKETS_S.map(() => 0), sum: 0, count: 0 };
      const seconds = event.info.durationMs / 1000;
      DURATION_BUCKETS_S.forEach((le, i) => { if (seconds <= le) h.buckets[i]! += 1; });
      h.sum += seconds;
      h.count += 1;
      this.durations.set(key, h);
    }
  }

  render(sessions: HandleStatus[]): string {
    const out: string[] = [];
    const metric = (name: string, type: 'gauge' | 'counter' | 'histogram', help: string, rows: string[]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...rows);
    };
    const fwdRows = (name: string, value: (f: HandleStatus['forwards'][number]) => number) =>
      sessions.flatMap((s) => s.forwards.map((f) => `${name}${labels({ session: s.id, forward: f.id })} ${value(f)}`));

    metric('edge_agent_session_state', 'gauge', 'Session state (1 for the current state).',
      sessions.flatMap((s) => SESSION_STATES.map((st) => `edge_agent_session_state${labels({ session: s.id, state: st })} ${s.state === st ? 1 : 0}`)));
    metric('edge_agent_connect_attempts_total', 'counter', 'SSH connection attempts.',
      sessions.map((s) => `edge_agent_connect_attempts_total${labels({ session: s.id })} ${s.attempt}`));
    metric('edge_agent_reconnects_total', 'counter', 'Reconnect attempts after a failure or a lost link.',
      sessions.map((s) => `edge_agent_reconnects_total${labels({ session: s.id })} ${this.reconnects.get(s.id) ?? 0}`));
    metric('edge_agent_worker_restarts_total', 'counter', 'Worker threads restarted after a crash.',
      sessions.map((s) => `edge_agent_worker_restarts_total${labels({ session: s.id })} ${s.workerRestarts}`));
    // Sessions with several gateways (hosts): one row per gateway connection.
    const gatewayRows = (name: string, value: (g: NonNullable<HandleStatus['gateways']>[number]) => number) =>
      sessions.flatMap((s) => (s.gateways ?? []).map((g) => `${name}${labels({ session: s.id, gateway: g.host.includes(':') ? `[${g.host}]:${g.port}` : `${g.host}:${g.port}` })} ${value(g)}`));
    metric('edge_agent_gateway_connected', 'gauge', 'Whether the SSH connection to this gateway of the session is up (1) or not (0).', gatewayRows('edge_agent_gateway_connected', (g) => (g.state === 'connected' ? 1 : 0)));
    metric('edge_agent_gateway_active', 'gauge', 'Whether this gateway holds the session\'s forwards (1) or not (0; failover: a probe or idle).', gatewayRows('edge_agent_gateway_active', (g) => (g.role === 'active' ? 1 : 0)));
    metric('edge_agent_forward_up', 'gauge', 'Whether the forward is listening on the SSH host (1) or not (0).', fwdRows('edge_agent_forward_up', (f) => (f.state === 'up' ? 1 : 0)));
    metric('edge_agent_channels_open', 'gauge', 'Tunnelled channels open now.', fwdRows('edge_agent_channels_open', (f) => f.channels.open));
    metric('edge_agent_channels_total', 'counter', 'Tunnelled channels accepted.', fwdRows('edge_agent_channels_total', (f) => f.channels.total));
    metric('edge_agent_channels_rejected_total', 'counter', 'Tunnelled channels rejected, by reason.',
      [...this.rejected.entries()].map(([key, n]) => {
        const [session, forward, reason] = key.split('\0');
        return `edge_agent_channels_rejected_total${labels({ session: session!, forward: forward!, reason: reason! })} ${n}`;
      }));
    metric('edge_agent_bytes_in_total', 'counter', 'Bytes from outside clients into targets.', fwdRows('edge_agent_bytes_in_total', (f) => f.bytesIn));
    metric('edge_agent_bytes_out_total', 'counter', 'Bytes from targets back to outside clients.', fwdRows('edge_agent_bytes_out_total', (f) => f.bytesOut));
    // Local (-L) and dynamic (-D) forwards: listeners on the device (direction="local"|"dynamic").
    const listenerRows = (name: string, value: (f: HandleStatus['localForwards'][number] | HandleStatus['dynamicForwards'][number]) => number) =>
      sessions.flatMap((s) => [...(s.localForwards ?? []), ...(s.dynamicForwards ?? [])].map((f) => `${name}${labels({ session: s.id, forward: f.id, direction: f.kind })} ${value(f)}`));
    metric('edge_agent_local_forward_up', 'gauge', 'Whether a local or dynamic forward is listening on the device (1) or not (0).', listenerRows('edge_agent_local_forward_up', (f) => (f.state === 'up' ? 1 : 0)));
    metric('edge_agent_local_forward_channels_open', 'gauge', 'Connections to local/dynamic forwards open now (including those waiting for their channel).', listenerRows('edge_agent_local_forward_channels_open', (f) => f.channels.open));
    metric('edge_agent_local_forward_channels_total', 'counter', 'Connections to local/dynamic forwards carried over a channel.', listenerRows('edge_agent_local_forward_channels_total', (f) => f.channels.total));
    metric('edge_agent_local_forward_channels_rejected_total', 'counter', 'Connections to local/dynamic forwards closed without a channel.', listenerRows('edge_agent_local_forward_channels_rejected_total', (f) => f.channels.rejected));
    metric('edge_agent_local_forward_bytes_in_total', 'counter', 'Bytes from device clients toward destinations.', listenerRows('edge_agent_local_forward_bytes_in_total', (f) => f.bytesIn));
    metric('edge_agent_local_forward_bytes_out_total', 'counter', 'Bytes from destinations back to device clients.', listenerRows('edge_agent_local_forward_bytes_out_total', (f) => f.bytesOut));
    metric('edge_agent_channel_duration_seconds', 'histogram', 'How long tunnelled channels stayed open.',
      [...this.durations.entries()].flatMap(([key, h]) => {
        const [session, forward] = key.split('\0') as [string, string];
        return [
          ...DURATION_BUCKETS_S.map((le, i) => `edge_agent_channel_duration_seconds_bucket${labels({ session, forward, le: String(le) })} ${h.buckets[i]}`),
          `edge_agent_channel_duration_seconds_bucket${labels({ session, forward, le: '+Inf' })} ${h.count}`,
          `edge_agent_channel_duration_seconds_sum${labels({ session, forward })} ${h.sum}`,
          `edge_agent_channel_duration_seconds_count${labels({ session, forward })} ${h.count}`,
        ];
      }));
    return out.join('\n') + '\n';
  }
}

function labels(values: Record<string, string>): string {
  const body = Object.entries(values).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`).join(',');
  return `{${body}}`;
}
