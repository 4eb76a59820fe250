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
//
// With tracing off (no SDK registered: the API's global provider still has no delegate) there
// is no span to make: the request gets its traceparent straight from a fresh span context, and
// no attributes, span or context objects are built — per request that was ~10% of the agent's
// CPU on a keep-alive benchmark, most of it one randomBytes() (an OpenSSL call and getpid()) per
// id; ids now come from a pooled random buffer.
import { randomFillSync } from 'node:crypto';
import {
  context as otelContext,
  defaultTextMapGetter,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  ProxyTracerProvider,
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

/** Where a request's trace continues from. */
export interface RequestTraceParent {
  /** The client's request headers (for a trusted traceparent). */
  incoming: IncomingHttpHeaders;
  trustIncoming: boolean;
  /** Parent given by the session (e.g. the channel's span); ROOT_CONTEXT when absent. */
  parent?: Context;
}

/** What the span records (built only when tracing is on). */
export interface RequestSpanDetails {
  method: string;
  /** The URL of the request as sent to the service. */
  urlFull: string;
  serverAddress: string;
  serverPort?: number;
  /** The outside client (the channel's origin). */
  peerAddress: string;
  peerPort: number;
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

/** What the API's global provider delegates to while no SDK is registered. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/** True while no tracer provider is registered (spans would all be no-ops). */
export function tracingOff(): boolean {
  const provider = trace.getTracerProvider();
  return provider instanceof ProxyTracerProvider && provider.getDelegate() === NOOP_PROVIDER;
}

export function startRequestSpan(from: RequestTraceParent, describe: () => RequestSpanDetails): RequestTrace {
  let parent = from.parent ?? ROOT_CONTEXT;
  if (from.trustIncoming) parent = propagator.extract(parent, from.incoming, defaultTextMapGetter);
  if (tracingOff()) return untracedRequest(parent);
  const input = describe();

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
  const headers = w3cHeaders(spanContext);

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

/** Tracing off: the no-op span the API would make, and a traceparent naming a hop of our own. */
function untracedRequest(parent: Context): RequestTrace {
  const parentSpan = trace.getSpanContext(parent);
  const spanContext = ownSpanContext(undefined, parentSpan);
  const span = trace.wrapSpanContext(parentSpan ?? INVALID_SPAN_CONTEXT);
  return {
    span,
    context: parent,
    headers: w3cHeaders(spanContext),
    traceId: spanContext.traceId,
    spanId: spanContext.spanId,
    end: noop,
  };
}

function noop(): void {}

/**
 * traceparent (and tracestate) for a valid span context, as a flat raw header list: what the
 * W3C propagator's inject() writes, without a context and a carrier object per request.
 */
function w3cHeaders(sc: SpanContext): string[] {
  const headers = ['traceparent', `00-${sc.traceId}-${sc.spanId}-0${Number(sc.traceFlags || TraceFlags.NONE).toString(16)}`];
  if (sc.traceState) headers.push('tracestate', sc.traceState.serialize());
  return headers;
}

/** Runs `fn` with the request's span as the active one (for any instrumentation below). */
export function withRequestContext<T>(requestTrace: RequestTrace, fn: () => T): T {
  return otelContext.with(requestTrace.context, fn);
}

/**
 * The span context to propagate: the span's own when it is a real one; otherwise (no SDK) a
 * new span id under the parent's trace, or an entirely new sampled trace.
 */
function ownSpanContext(span: Span | undefined, parent: SpanContext | undefined): SpanContext {
  const own = span?.spanContext();
  if (own && isSpanContextValid(own) && !(parent !== undefined && own.spanId === parent.spanId)) return own;
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

// Ids are cut from one random buffer, refilled when used up: one OpenSSL call per ~170 requests.
const POOL = Buffer.allocUnsafe(4096);
let poolOffset = POOL.length;

function nonZeroHex(bytes: number): string {
  for (;;) {
    if (poolOffset + bytes > POOL.length) {
      randomFillSync(POOL);
      poolOffset = 0;
    }
    const start = poolOffset;
    poolOffset += bytes;
    for (let i = start; i < poolOffset; i++) {
      if (POOL[i] !== 0) return POOL.toString('hex', start, poolOffset);
    }
  }
}
