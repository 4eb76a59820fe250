// Finished spans cross from a session's worker thread to the main thread's exporter as plain,
// structured-clone-safe objects, and become ReadableSpans again on the other side.
import type { Attributes, HrTime, SpanKind, SpanStatus } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

export interface PlainSpan {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  traceFlags: number;
  traceState?: string;
  parentSpanId?: string;
  startTime: HrTime;
  endTime: HrTime;
  duration: HrTime;
  status: SpanStatus;
  attributes: Attributes;
  events: Array<{ name: string; time: HrTime; attributes?: Attributes }>;
  scope: InstrumentationScope;
  dropped: { attributes: number; events: number; links: number };
}

export function toPlainSpan(span: ReadableSpan): PlainSpan {
  const ctx = span.spanContext();
  return {
    name: span.name,
    kind: span.kind,
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    traceFlags: ctx.traceFlags,
    traceState: ctx.traceState?.serialize(),
    parentSpanId: span.parentSpanContext?.spanId,
    startTime: span.startTime,
    endTime: span.endTime,
    duration: span.duration,
    status: span.status,
    attributes: span.attributes,
    events: span.events.map((e) => ({ name: e.name, time: e.time, attributes: e.attributes })),
    scope: span.instrumentationScope,
    dropped: { attributes: span.droppedAttributesCount, events: span.droppedEventsCount, links: span.droppedLinksCount },
  };
}

export function fromPlainSpan(plain: PlainSpan, resource: Resource): ReadableSpan {
  const context = { traceId: plain.traceId, spanId: plain.spanId, traceFlags: plain.traceFlags };
  return {
    name: plain.name,
    kind: plain.kind,
    spanContext: () => context,
    parentSpanContext: plain.parentSpanId ? { traceId: plain.traceId, spanId: plain.parentSpanId, traceFlags: plain.traceFlags } : undefined,
    startTime: plain.startTime,
    endTime: plain.endTime,
    duration: plain.duration,
    status: plain.status,
    attributes: plain.attributes,
    links: [],
    events: plain.events,
    ended: true,
    resource,
    instrumentationScope: plain.scope,
    droppedAttributesCount: plain.dropped.attributes,
    droppedEventsCount: plain.dropped.events,
    droppedLinksCount: plain.dropped.links,
  };
}
