// The library entry: `import { ReverseTunnel } from 'ssh-edge-agent'`.
export { ReverseTunnel } from './reverse-tunnel.js';
export type { ReverseTunnelOptions, ForwardingRequest, ChannelOpenRequest, ReverseTunnelEvents } from './reverse-tunnel.js';
export { TunnelSession } from './session/tunnel-session.js';
export type { SessionStatus, SessionState, ChannelInfo, ChannelClosedInfo, ReconnectAttemptInfo, IncomingChannel } from './session/tunnel-session.js';
export type { ForwardStatus, ForwardState } from './session/forward-runtime.js';
export type { SessionConfig, SessionConfigInput, ForwardConfig, ForwardConfigInput, HttpForwardConfig, AuthConfig, KeepaliveConfig, ReconnectConfig, ReconnectMode } from './session/session-config.js';
export type { HostKeyPolicy } from './session/host-keys/host-key-verifier.js';
export { EdgeError, ERROR_CODES, isEdgeError } from './errors.js';
export type { ErrorCode, PlainError } from './errors.js';
export { VERSION } from './version.js';
export { startAgent } from './agent.js';
export type { AgentHandle, StartAgentOptions } from './agent.js';
export type { AgentStatus, ApplyAssignmentsResult, AssignmentsStatus } from './agent.js';
export { RemoteAssignmentSource } from './assignments/remote-source.js';
export type { RemoteSourceOptions, RemoteSourceTuning, FetchResult, FetchCycle, FetchTrigger } from './assignments/remote-source.js';
export { SIGNATURE_HEADER, signAssignmentBody, verifyAssignmentSignature, loadSigningPrivateKey } from './assignments/signature.js';
export { Gateway } from './gateway/gateway.js';
export type { GatewayOptions, GatewayStatus, GatewayStartInfo } from './gateway/gateway.js';
