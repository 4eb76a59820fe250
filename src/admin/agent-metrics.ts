// The agent's metrics as OpenTelemetry instruments: /metrics renders them in Prometheus text and
// the OTLP reader pushes the same ones (telemetry/agent-telemetry.ts). Names and labels are the
// ones dashboards already use. Gauges and byte/channel totals are observed from the sessions'
// status at each collection; what status does not keep (reconnects, rejections by reason,
// channel durations) is counted here from the workers' events.
import type { Attributes, Meter, Observable } from '@opentelemetry/api';
import type { WorkerEvent } from '../protocol.js';
import type { HandleStatus } from '../supervisor/session-handle.js';

const DURATION_BUCKETS_S = [0.01, 0.1, 1, 10, 60, 600, 3600];
const SESSION_STATES = ['idle', 'connecting', 'connected', 'backoff', 'failed', 'draining', 'stopped'] as const;

type RemoteForward = HandleStatus['forwards'][number];
type DeviceListener = HandleStatus['localForwards'][number] | HandleStatus['dynamicForwards'][number];

export class AgentMetrics {
  private readonly reconnects = new Map<string, number>();
  /** Finished connection attempts (connected or failed), counted here so that a parked or restarted worker cannot reset them. */
  private readonly attempts = new Map<string, number>();
  /** Series observed by the last collection ("name{json attributes}"): the current sessions and forwards. */
  private current = new Set<string>();
  private readonly observedNames = new Set<string>();
  private readonly rejected;
  private readonly durations;

  constructor(meter: Meter, sessions: () => Promise<HandleStatus[]>) {
    this.rejected = meter.createCounter('edge_agent_channels_rejected_total', { description: 'Tunnelled channels rejected, by reason.' });
    this.durations = meter.createHistogram('edge_agent_channel_duration_seconds', {
      description: 'How long tunnelled channels stayed open.',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS_S },
    });

    const names = new Map<Observable, string>();
    const named = <T extends Observable>(name: string, instrument: T): T => {
      names.set(instrument, name);
      this.observedNames.add(name);
      return instrument;
    };
    const gauge = (name: string, description: string) => named(name, meter.createObservableGauge(name, { description }));
    const counter = (name: string, description: string) => named(name, meter.createObservableCounter(name, { description }));
    const sessionState = gauge('edge_agent_session_state', 'Session state (1 for the current state).');
    const connectAttempts = counter('edge_agent_connect_attempts_total', 'SSH connection attempts that finished, failed ones included.');
    const reconnects = counter('edge_agent_reconnects_total', 'Reconnect attempts after a failure or a lost link.');
    const workerRestarts = counter('edge_agent_worker_restarts_total', 'Worker threads restarted after a crash.');
    const certificateExpiry = gauge('edge_agent_certificate_expiry_seconds', 'Seconds until the user certificate the session logged in with expires (valid-before); negative once expired.');
    // Sessions with several gateways (hosts): one series per gateway connection.
    const gatewayConnected = gauge('edge_agent_gateway_connected', 'Whether the SSH connection to this gateway of the session is up (1) or not (0).');
    const gatewayActive = gauge('edge_agent_gateway_active', 'Whether this gateway holds the session\'s forwards (1) or not (0; failover: a probe or idle).');
    const forwardUp = gauge('edge_agent_forward_up', 'Whether the forward is listening on the SSH host (1) or not (0).');
    const channelsOpen = gauge('edge_agent_channels_open', 'Tunnelled channels open now.');
    const channelsTotal = counter('edge_agent_channels_total', 'Tunnelled channels accepted.');
    const bytesIn = counter('edge_agent_bytes_in_total', 'Bytes from outside clients into targets.');
    const bytesOut = counter('edge_agent_bytes_out_total', 'Bytes from targets back to outside clients.');
    // Local (-L) and dynamic (-D) forwards: listeners on the device (direction="local"|"dynamic").
    const localUp = gauge('edge_agent_local_forward_up', 'Whether a local or dynamic forward is listening on the device (1) or not (0).');
    const localOpen = gauge('edge_agent_local_forward_channels_open', 'Connections to local/dynamic forwards open now (including those waiting for their channel).');
    const localTotal = counter('edge_agent_local_forward_channels_total', 'Connections to local/dynamic forwards carried over a channel.');
    const localRejected = counter('edge_agent_local_forward_channels_rejected_total', 'Connections to local/dynamic forwards closed without a channel.');
    const localIn = counter('edge_agent_local_forward_bytes_in_total', 'Bytes from device clients toward destinations.');
    const localOut = counter('edge_agent_local_forward_bytes_out_total', 'Bytes from destinations back to device clients.');

    // One status round-trip to the workers per collection, feeding every observable instrument.
    const observables = [sessionState, connectAttempts, reconnects, workerRestarts, certificateExpiry, gatewayConnected, gatewayActive, forwardUp, channelsOpen, channelsTotal, bytesIn, bytesOut, localUp, localOpen, localTotal, localRejected, localIn, localOut];
    meter.addBatchObservableCallback(async (batch) => {
      const all = await sessions();
      const seen = new Set<string>();
      const result = {
        observe: (instrument: Observable, value: number, attributes: Attributes) => {
          batch.observe(instrument, value, attributes);
          seen.add(seriesKey(names.get(instrument)!, attributes));
        },
      };
      for (const s of all) {
        const session = { session: s.id };
        for (const state of SESSION_STATES) result.observe(sessionState, s.state === state ? 1 : 0, { session: s.id, state });
        result.observe(connectAttempts, this.attempts.get(s.id) ?? 0, session);
        result.observe(reconnects, this.reconnects.get(s.id) ?? 0, session);
        result.observe(workerRestarts, s.workerRestarts, session);
        // Only sessions that logged in with an expiring certificate.
        const certificate = s.auth?.certificate;
        if (certificate?.validBefore) {
          result.observe(certificateExpiry, Math.round((Date.parse(certificate.validBefore) - Date.now()) / 1000), { session: s.id, key_id: certificate.keyId });
        }
        for (const g of s.gateways ?? []) {
          const gateway = { session: s.id, gateway: g.host.includes(':') ? `[${g.host}]:${g.port}` : `${g.host}:${g.port}` };
          result.observe(gatewayConnected, g.state === 'connected' ? 1 : 0, gateway);
          result.observe(gatewayActive, g.role === 'active' ? 1 : 0, gateway);
        }
        const remote = (f: RemoteForward): Attributes => ({ session: s.id, forward: f.id });
        for (const f of s.forwards) {
          result.observe(forwardUp, f.state === 'up' ? 1 : 0, remote(f));
          result.observe(channelsOpen, f.channels.open, remote(f));
          result.observe(channelsTotal, f.channels.total, remote(f));
          result.observe(bytesIn, f.bytesIn, remote(f));
          result.observe(bytesOut, f.bytesOut, remote(f));
        }
        const device = (f: DeviceListener): Attributes => ({ session: s.id, forward: f.id, direction: f.kind });
        for (const f of [...(s.localForwards ?? []), ...(s.dynamicForwards ?? [])]) {
          result.observe(localUp, f.state === 'up' ? 1 : 0, device(f));
          result.observe(localOpen, f.channels.open, device(f));
          result.observe(localTotal, f.channels.total, device(f));
          result.observe(localRejected, f.channels.rejected, device(f));
          result.observe(localIn, f.bytesIn, device(f));
          result.observe(localOut, f.bytesOut, device(f));
        }
      }
      this.current = seen;
    }, observables);
  }

  /** Whether a series is current: status-derived series of removed sessions and forwards are not. */
  isCurrent(metricName: string, attributes: Attributes): boolean {
    return !this.observedNames.has(metricName) || this.current.has(seriesKey(metricName, attributes));
  }

  record(sessionId: string, event: WorkerEvent): void {
    if (event.type === 'connected' || event.type === 'connectFailed') {
      this.attempts.set(sessionId, (this.attempts.get(sessionId) ?? 0) + 1);
    } else if (event.type === 'reconnectAttempt' && event.kind === 'ssh') {
      this.reconnects.set(sessionId, (this.reconnects.get(sessionId) ?? 0) + 1);
    } else if (event.type === 'channelRejected') {
      this.rejected.add(1, { session: sessionId, forward: event.info.forwardId, reason: event.info.reason });
    } else if (event.type === 'channelClose') {
      this.durations.record(event.info.durationMs / 1000, { session: sessionId, forward: event.info.forwardId });
    }
  }
}


function seriesKey(name: string, attributes: Attributes): string {
  return `${name}${JSON.stringify(attributes)}`;
}
