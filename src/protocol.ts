// The main ⇄ worker protocol: one dedicated MessagePort per session carries these messages,
// and nothing else crosses the thread boundary. Everything here must survive structured clone
// (no class instances, no functions): errors travel as PlainError and are rebuilt on arrival.
import type { MessagePort } from 'node:worker_threads';
import type { PlainError } from './errors.js';
import type { ChannelClosedInfo, ChannelInfo, LogLevel, SessionState, SessionStatus } from './session/tunnel-session.js';
import type { DynamicForwardConfigInput, ForwardConfigInput, LocalForwardConfigInput, SessionConfigInput } from './session/session-config.js';
import type { ForwardStatus, RejectReason } from './session/forward-runtime.js';
import type { ListenerStatus, LocalRejectReason } from './session/device/listener-types.js';
import type { PlainSpan } from '../telemetry/plain-span.js';

/** What the worker task receives once, at start. */
export interface SessionTaskInput {
  session: SessionConfigInput;
  port: MessagePort;
  /** Whether the worker records spans (sent back as `spans` events). */
  tracing: boolean;
}

/** What the worker task resolves with when the session has ended for good. */
export interface SessionTaskResult {
  state: 'stopped' | 'failed';
  error: PlainError | null;
  /** On a graceful stop: false when open channels had to be cut at the drain deadline. */
  drained?: boolean;
}

// ---------------------------------------------------------------- main → worker

export type WorkerCommand =
  /** New forward lists, applied in place; an absent local/dynamic list is left as it is. */
  | { type: 'setForwards'; requestId: number; forwards: ForwardConfigInput[]; localForwards?: LocalForwardConfigInput[]; dynamicForwards?: DynamicForwardConfigInput[] }
  | { type: 'status'; requestId: number }
  /** Retry now if the session is waiting in backoff (admin POST /sessions/<id>/reconnect); replies with the status. */
  | { type: 'reconnect'; requestId: number }
  | { type: 'close'; drainTimeoutMs: number }
  | { type: 'destroy' }
  /**
   * Test hook, honoured only when EDGE_AGENT_TEST_HOOKS=1 is in the worker's environment: the
   * worker allocates live heap (up to 256 MB) as a leaking session would, so a test can show
   * that agent.workerMaxHeapMb stops it and only that worker dies.
   */
  | { type: 'testExhaustHeap' };

// ---------------------------------------------------------------- worker → main

export type WorkerEvent =
  | { type: 'ready'; threadId: number }
  | { type: 'state'; state: SessionState; error: PlainError | null }
  | { type: 'forward'; status: ForwardStatus }
  /** A local (-L) or dynamic (-D) forward's listener status. */
  | { type: 'localForward'; status: ListenerStatus }
  | { type: 'connected'; attempt: number; serverBanner: string; hostKeyFingerprint: string }
  /** A connection attempt failed (TCP, handshake, host key, authentication). */
  | { type: 'connectFailed'; attempt: number; error: PlainError }
  | { type: 'reconnectAttempt'; kind: 'ssh' | 'forward'; forwardId?: string; retryCount: number; delayMs: number; error: PlainError }
  | { type: 'channelOpen'; info: ChannelInfo }
  | { type: 'channelClose'; info: Omit<ChannelClosedInfo, 'error'> & { error: PlainError | null } }
  | { type: 'channelRejected'; info: ChannelInfo & { reason: RejectReason | LocalRejectReason; error: PlainError | null } }
  | { type: 'log'; level: LogLevel; message: string; fields?: Record<string, unknown> }
  | { type: 'reply'; requestId: number; status?: SessionStatus; error?: PlainError }
  /** Channel events of one event-loop turn, in order (worker-event-sender.ts): one message, not one per event. */
  | { type: 'channelEvents'; events: WorkerChannelEvent[] }
  /** A batch of finished spans for the main thread's exporter. */
  | { type: 'spans'; spans: PlainSpan[] }
  /** The last message a worker sends for a session: everything before it has been delivered. */
  | { type: 'final' };

/** The per-channel events, which a busy session sends many of per turn. */
export type WorkerChannelEvent = Extract<WorkerEvent, { type: 'channelOpen' | 'channelClose' | 'channelRejected' }>;
