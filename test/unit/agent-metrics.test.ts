// The metrics model: OTel instruments rendered by the OTel Prometheus serializer keep the
// names and labels dashboards use, and series of removed forwards disappear.
import { describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../src/admin/agent-metrics.js';
import type { HandleStatus } from '../../src/supervisor/session-handle.js';
import { startTelemetry } from '../../telemetry/agent-telemetry.js';

function forward(id: string, total: number) {
  return { id, state: 'up', bind: '127.0.0.1', port: 0, remotePort: 4000, target: 'tcp://127.0.0.1:1', channels: { open: 1, total, rejected: 0 }, bytesIn: 10, bytesOut: 20, lastError: null };
}

async function setup() {
  const telemetry = await startTelemetry({ exporter: 'none', agentId: 'dev-1', version: '0.0.0' });
  const sessions = [{
    id: 'a', state: 'connected', attempt: 2, workerRestarts: 0, forwards: [forward('f1', 5), forward('f2', 7)],
    localForwards: [{ kind: 'local', id: 'db', state: 'up', channels: { open: 0, total: 3, rejected: 1 }, bytesIn: 9, bytesOut: 4 }], dynamicForwards: [],
  }] as unknown as HandleStatus[];
  const metrics = new AgentMetrics(telemetry.meter, async () => sessions);
  telemetry.setSeriesFilter((name, attributes) => metrics.isCurrent(name, attributes));
  return { telemetry, sessions, metrics };
}

describe('agent metrics (OTel instruments, Prometheus text)', () => {
  it('renders every family with the names and labels of the dashboards', async () => {
    const { telemetry, metrics } = await setup();
    metrics.record('a', { type: 'channelClose', info: { forwardId: 'f1', durationMs: 50 } } as never);
    metrics.record('a', { type: 'channelRejected', info: { forwardId: 'f1', reason: 'origin' } } as never);
    metrics.record('a', { type: 'reconnectAttempt', kind: 'ssh' } as never);
    metrics.record('a', { type: 'connectFailed' } as never); // attempts are counted from events, failed ones too
    metrics.record('a', { type: 'connected' } as never);
    const text = await telemetry.renderMetrics();
    for (const line of [
      'edge_agent_session_state{session="a",state="connected"} 1',
      'edge_agent_session_state{session="a",state="backoff"} 0',
      'edge_agent_connect_attempts_total{session="a"} 2',
      'edge_agent_reconnects_total{session="a"} 1',
      'edge_agent_worker_restarts_total{session="a"} 0',
      'edge_agent_forward_up{session="a",forward="f1"} 1',
      'edge_agent_channels_open{session="a",forward="f1"} 1',
      'edge_agent_channels_total{session="a",forward="f2"} 7',
      'edge_agent_channels_rejected_total{session="a",forward="f1",reason="origin"} 1',
      'edge_agent_bytes_in_total{session="a",forward="f1"} 10',
      'edge_agent_bytes_out_total{session="a",forward="f1"} 20',
      'edge_agent_local_forward_up{session="a",forward="db",direction="local"} 1',
      'edge_agent_local_forward_channels_rejected_total{session="a",forward="db",direction="local"} 1',
      'edge_agent_local_forward_bytes_in_total{session="a",forward="db",direction="local"} 9',
      'edge_agent_channel_duration_seconds_bucket{session="a",forward="f1",le="0.01"} 0',
      'edge_agent_channel_duration_seconds_bucket{session="a",forward="f1",le="0.1"} 1',
      'edge_agent_channel_duration_seconds_bucket{session="a",forward="f1",le="+Inf"} 1',
      'edge_agent_channel_duration_seconds_count{session="a",forward="f1"} 1',
      'edge_agent_channel_duration_seconds_sum{session="a",forward="f1"} 0.05',
      '# TYPE edge_agent_channels_total counter',
      '# TYPE edge_agent_forward_up gauge',
      '# TYPE edge_agent_channel_duration_seconds histogram',
    ]) expect(text.split('\n')).toContain(line);
    // no resource/scope labels, no target_info: exactly the series of before
    expect(text).not.toMatch(/otel_scope|target_info|service_/);
    await telemetry.shutdown();
  });

  it('a removed forward\'s series disappear (the SDK alone would repeat its last value)', async () => {
    const { telemetry, sessions } = await setup();
    expect(await telemetry.renderMetrics()).toContain('edge_agent_forward_up{session="a",forward="f2"} 1');
    sessions[0]!.forwards.pop();
    const text = await telemetry.renderMetrics();
    expect(text).not.toContain('forward="f2"');
    expect(text).toContain('edge_agent_forward_up{session="a",forward="f1"} 1');
    await telemetry.shutdown();
  });
});
