// The W3C Trace Context propagator (traceparent / tracestate), from the OTel SDK core. Domain
// code (the HTTP target) imports it from here, so only telemetry/ touches SDK packages.
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { TextMapPropagator } from '@opentelemetry/api';

export const traceContextPropagator: TextMapPropagator = new W3CTraceContextPropagator();
