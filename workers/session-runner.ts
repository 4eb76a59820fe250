// One SSH session for as long as it lives, in its worker thread (loaded by the worker entry,
// workers/session-worker.ts, once that has set the thread up). The task stays pending for the
// session's whole life (the pool uses atomics: 'disabled', so the thread's event loop keeps
// running); commands and events travel on the task's own MessagePort.
import { threadId } from 'node:worker_threads';
import { EdgeError, isEdgeError, toPlainError, type PlainError } from '../src/errors.js';
import type { SessionTaskInput, SessionTaskResult, WorkerCommand } from '../src/protocol.js';
import { createSession, type MultiGatewaySession } from '../src/session/multi-gateway-session.js';
import { createWorkerEventSender } from '../src/supervisor/worker-event-sender.js';
import type { TunnelSession } from '../src/session/tunnel-session.js';
import type { SessionTracing } from '../src/session/session-tracing.js';
import { importSibling } from '../src/import-sibling.js';
import { installWorkerTracing } from '../telemetry/worker-tracing.js';

export async function runSession({ session: input, port, tracing: tracingEnabled }: SessionTaskInput): Promise<SessionTaskResult> {
  const { send, sendChannelEvent } = createWorkerEventSender(port);
  const tracing = await installWorkerTracing(tracingEnabled, (spans) => send({ type: 'spans', spans }));
  // With tracing off the worker never loads @opentelemetry/api (tens of ms before the first dial).
  const Tracing = tracingEnabled
    ? (await importSibling(import.meta.url, '../src/session/session-tracing', () => import('../src/session/session-tracing.js'))).SessionTracing
    : undefined;
  let session: TunnelSession | MultiGatewaySession;
  // One tracer per SSH connection (a session with several gateways has one per gateway in use).
  const tracers: SessionTracing[] = [];
  try {
    // Buffers arrive as Uint8Array after structured clone; ssh2 wants Buffers.
    session = createSession({
      ...input,
      auth: {
        ...input.auth,
        privateKeys: input.auth.privateKeys?.map((k) => ({ ...k, key: typeof k.key === 'string' ? k.key : Buffer.from(k.key) })),
      },
    }, {
      // HTTP request spans become children of their channel's span.
      channelTraceContext: (info) => {
        for (const t of tracers) {
          const context = t.contextFor(info.id);
          if (context) return context;
        }
        return undefined;
      },
      // With tracing off there is no SDK: no span objects per channel at all.
      onLink: (link) => { if (Tracing) tracers.push(new Tracing(link)); },
    });
  } catch (err) {
    // Invalid configuration is not a crash: report it as a failed session, never restart it.
    send({ type: 'final' });
    port.close();
    return { state: 'failed', error: plainAny(err) };
  }

  session.on('state', (state, error) => send({ type: 'state', state, error: plain(error) }));
  session.on('forward', (status) => send({ type: 'forward', status }));
  session.on('localForward', (status) => send({ type: 'localForward', status }));
  session.on('connected', (info) => send({ type: 'connected', attempt: info.attempt, serverBanner: info.serverBanner, hostKeyFingerprint: info.hostKeyFingerprint }));
  session.on('connectFailed', (info) => send({ type: 'connectFailed', attempt: info.attempt, error: toPlainError(info.error) }));
  session.on('reconnectAttempt', (a) => send({ type: 'reconnectAttempt', kind: a.kind, forwardId: a.forwardId, retryCount: a.retryCount, delayMs: a.delayMs, error: toPlainError(a.lastError) }));
  session.on('channelOpen', (info) => sendChannelEvent({ type: 'channelOpen', info }));
  session.on('channelClose', ({ error, ...info }) => sendChannelEvent({ type: 'channelClose', info: { ...info, error: plainAny(error) } }));
  session.on('channelRejected', ({ error, ...info }) => sendChannelEvent({ type: 'channelRejected', info: { ...info, error: plain(error ?? null) } }));
  session.on('log', (level, message, fields) => send({ type: 'log', level, message, fields }));

  let drained: Promise<boolean> | undefined;
  const ended = new Promise<SessionTaskResult>((resolve) => {
    session.on('state', (state, error) => {
      if (state === 'failed') resolve({ state, error: plain(error) });
      if (state === 'stopped') void (drained ?? Promise.resolve(true)).then((d) => resolve({ state, error: null, drained: d }));
    });
  });

  port.on('message', (command: WorkerCommand) => {
    switch (command.type) {
      case 'status':
        send({ type: 'reply', requestId: command.requestId, status: session.status() });
        break;
      case 'reconnect':
        session.retryNow();
        send({ type: 'reply', requestId: command.requestId, status: session.status() });
        break;
      case 'setForwards':
        (async () => {
          await session.setForwards(command.forwards);
          if (command.localForwards || command.dynamicForwards) {
            await session.setListenerForwards({ localForwards: command.localForwards, dynamicForwards: command.dynamicForwards });
          }
        })().then(
          () => send({ type: 'reply', requestId: command.requestId, status: session.status() }),
          (err: unknown) => send({ type: 'reply', requestId: command.requestId, error: plainAny(err) ?? undefined }),
        );
        break;
      case 'close':
        drained = session.close(command.drainTimeoutMs);
        break;
      case 'destroy':
        session.destroy();
        break;
      case 'testExhaustHeap':
        if (process.env.EDGE_AGENT_TEST_HOOKS === '1') exhaustHeap();
        break;
    }
  });

  send({ type: 'ready', threadId });
  session.start();
  const result = await ended;
  await tracing.flush(); // spans of the session's last moments reach the exporter too
  send({ type: 'final' });
  port.close();
  return result;
}

/** Test hook (see protocol.ts): keeps up to 256 MB of small live objects, 1 MB per turn of the event loop. */
function exhaustHeap(): void {
  const hog: number[][] = [];
  const grow = () => {
    for (let i = 0; i < 16; i++) hog.push(new Array(8192).fill(hog.length + i + 0.5)); // ~64 KB each, doubles
    if (hog.length < 256 * 16) setImmediate(grow);
  };
  grow();
  (globalThis as { edgeAgentTestHog?: unknown }).edgeAgentTestHog = hog;
}

function plain(error: EdgeError | null): PlainError | null {
  return error ? toPlainError(error) : null;
}

function plainAny(error: unknown): PlainError | null {
  if (error === undefined || error === null) return null;
  if (isEdgeError(error)) return toPlainError(error);
  return toPlainError(new EdgeError('EDGE_ERR_CONNECTION_LOST', error instanceof Error ? error.message : String(error)));
}
