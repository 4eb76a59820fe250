// One CLIENT span per request the agent sends to the service, and the W3C Trace Context
// (`traceparent`, `tracestate`) that tells the service which span it is a child of.
//
// The span starts through @opentelemetry/api (`trace.getTracer('ssh-edge-agent')`): with an
// SDK registered it is recorded and exported; without one the API's no-op tracer hands back a
// span that is either invalid (no parent) or merely echoes the parent's ids. In those cases the
// agent still makes up a valid span context of its own — a new span id, and a new trace id when
// there is no parent (random ids as the SDK's RandomIdGenerator makes them, never all zeros) —
// so that the service always receives a well-formed traceparent naming a hop of its own. A new
// trace is marked sampled, so that a parent-based sampler in the service keeps recording; a
// continued one keeps its parent's flags.
//
// The parent is the context the session passes in (e.g. the channel's span), unless the
// forward trusts the client's own traceparent, which then wins (the outside caller's trace is
// continued). Untrusted traceparent/tracestate headers never reach the service.
import { randomBytes } from 'node:crypto';
import {
  context as otelContext,
  defaultTextMapGetter,
  defaultTextMapSetter,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';
import type { IncomingHttpHeaders } from 'node:http';
import { traceContextPropagator as propagator } from '../../../../telemetry/propagator.js';
import { TRACER_NAME } from '../../../../telemetry/semconv.js';

/** Request headers the agent sets itself (and so removes from what the client sent). */
export const TRACE_HEADERS: ReadonlySet<string> = new Set(['traceparent', 'tracestate']);

const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE', 'QUERY']);

export interface RequestSpanInput {
  method: string;
  /** The URL of the request as sent to the service. */
  urlFull: string;
  serverAddress: string;
  serverPort?: number;
  /** The outside client (the channel's origin). */
  peerAddress: string;
  peerPort: number;
  /** The client's request headers (for a trusted traceparent). */
  incoming: IncomingHttpHeaders;
  trustIncoming: boolean;
  /** Parent given by the session (e.g. the channel's span); ROOT_CONTEXT when absent. */
  parent?: Context;
  attributes?: Attributes;
}

export interface RequestTrace {
  readonly span: Span;
  /** The context the request runs in (the span set on its parent context). */
  readonly context: Context;
  /** traceparent (and tracestate) for the upstream request, as a flat raw header list. */
  readonly headers: string[];
  readonly traceId: string;
  readonly spanId: string;
  /** Records the status (and error, if any) and ends the span. Idempotent. */
  end(status: number | undefined, error?: { type: string; message: string }): void;
}

export function startRequestSpan(input: RequestSpanInput): RequestTrace {
  let parent = input.parent ?? ROOT_CONTEXT;
  if (input.trustIncoming) parent = propagator.extract(parent, input.incoming, defaultTextMapGetter);

  const method = input.method.toUpperCase();
  const known = KNOWN_METHODS.has(method);
  const attributes: Attributes = {
    'http.request.method': known ? method : '_OTHER',
    'url.full': input.urlFull,
    'server.address': input.serverAddress,
    'network.peer.address': input.peerAddress,
    'network.peer.port': input.peerPort,
    ...input.attributes,
  };
  if (!known) attributes['http.request.method_original'] = input.method;
  if (input.serverPort !== undefined) attributes['server.port'] = input.serverPort;

  const span = trace.getTracer(TRACER_NAME).startSpan(known ? method : 'HTTP', { kind: SpanKind.CLIENT, attributes }, parent);
  const spanContext = ownSpanContext(span, trace.getSpanContext(parent));
  const carrier: Record<string, string> = {};
  propagator.inject(trace.setSpanContext(ROOT_CONTEXT, spanContext), carrier, defaultTextMapSetter);
  const headers: string[] = [];
  for (const [name, value] of Object.entries(carrier)) headers.push(name, value);

  let ended = false;
  return {
    span,
    context: trace.setSpan(parent, span),
    headers,
    traceId: spanContext.traceId,
    spanId: spanContext.spanId,
    end(status, error) {
      if (ended) return;
      ended = true;
      if (status !== undefined) span.setAttribute('http.response.status_code', status);
      if (error) {
        span.setAttribute('error.type', error.type);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      } else if (status !== undefined && status >= 400) {
        // CLIENT spans: 4xx and 5xx are errors (HTTP semantic conventions).
        span.setAttribute('error.type', String(status));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    },
  };
}

/** Runs `fn` with the request's span as the active one (for any instrumentation below). */
export function withRequestContext<T>(requestTrace: RequestTrace, fn: () => T): T {
  return otelContext.with(requestTrace.context, fn);
}

/**
 * The span context to propagate: the span's own when it is a real one; otherwise (no SDK) a
 * new span id under the parent's trace, or an entirely new sampled trace.
 */
function ownSpanContext(span: Span, parent: SpanContext | undefined): SpanContext {
  const own = span.spanContext();
  const echoesParent = parent !== undefined && own.spanId === parent.spanId;
  if (isSpanContextValid(own) && !echoesParent) return own;
  if (parent && isSpanContextValid(parent)) {
    return { traceId: parent.traceId, spanId: newSpanId(), traceFlags: parent.traceFlags, traceState: parent.traceState, isRemote: false };
  }
  return { traceId: newTraceId(), spanId: newSpanId(), traceFlags: TraceFlags.SAMPLED, isRemote: false };
}

export function newTraceId(): string {
  return nonZeroHex(16);
}

export function newSpanId(): string {
  return nonZeroHex(8);
}

function nonZeroHex(bytes: number): string {
  for (;;) {
    const id = randomBytes(bytes);
    if (id.some((b) => b !== 0)) return id.toString('hex');
  }
}
