// Span names and attribute keys in one place. OpenTelemetry semantic-convention names where one
// exists (network.*, server.*, error.type, http.*), `edge_agent.*` for the rest. Span names are
// low-cardinality: ids and addresses go into attributes, never into names.
//
// The semantic-convention names are written out rather than imported from
// @opentelemetry/semantic-conventions: that package is one large module (~1.4 MB and ~100 ms to
// load on a 2-core device) and this file is loaded by every session worker.
// test/unit/semconv.test.ts checks them against the package.

export const TRACER_NAME = 'ssh-edge-agent';
/** The instrumentation scope of the agent's metrics. */
export const METER_NAME = 'ssh-edge-agent';

/** The resource attributes naming the agent (stable semantic conventions). */
export const RESOURCE_ATTR = {
  serviceName: 'service.name',
  serviceVersion: 'service.version',
  serviceInstanceId: 'service.instance.id',
} as const;

export const SPAN = {
  channel: 'tunnel.channel',
  connect: 'ssh.connect',
  forwardRequest: 'ssh.forward.request',
} as const;

export const ATTR = {
  // semantic conventions
  networkPeerAddress: 'network.peer.address',
  networkPeerPort: 'network.peer.port',
  networkTransport: 'network.transport',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  errorType: 'error.type',
  // ours
  sessionId: 'edge_agent.session.id',
  forwardId: 'edge_agent.forward.id',
  channelId: 'edge_agent.channel.id',
  bindAddress: 'edge_agent.forward.bind',
  requestedPort: 'edge_agent.forward.requested_port',
  remotePort: 'edge_agent.forward.remote_port',
  target: 'edge_agent.target',
  bytesIn: 'edge_agent.bytes_in',
  bytesOut: 'edge_agent.bytes_out',
  closeReason: 'edge_agent.close_reason',
  rejectReason: 'edge_agent.reject_reason',
  /** remote (-R: the SSH host opened the channel), local (-L) or dynamic (-D: SOCKS). */
  direction: 'edge_agent.direction',
  /** How the SSH host is reached: a masked proxy URL, or "direct (NO_PROXY)". */
  proxy: 'edge_agent.ssh.proxy',
  attempt: 'edge_agent.ssh.attempt',
  outcome: 'edge_agent.outcome',
  serverBanner: 'edge_agent.ssh.server_banner',
  hostKeyFingerprint: 'edge_agent.ssh.host_key_fingerprint',
  hostKeyVerifiedBy: 'edge_agent.ssh.host_key_verified_by',
} as const;
