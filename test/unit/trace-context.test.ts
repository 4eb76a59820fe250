// The traceparent an HTTP target sends when tracing is off (no SDK registered in this process),
// then the same with a tracer provider registered: the fast path must give the service what the
// span path gives it.
import { trace, TraceFlags, ROOT_CONTEXT } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { startRequestSpan as start, tracingOff, type RequestSpanDetails, type RequestTraceParent } from '../../src/session/targets/http/trace-context.js';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;
const CALLER = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

const details: RequestSpanDetails = { method: 'GET', urlFull: 'http://svc/x', serverAddress: 'svc', peerAddress: '10.0.0.1', peerPort: 4000 };
let described = 0;
const startRequestSpan = (from: RequestTraceParent) => start(from, () => {
  described += 1;
  return details;
});

function input(over: Partial<RequestTraceParent> = {}): RequestTraceParent {
  return { incoming: {}, trustIncoming: false, ...over };
}

function traceparent(headers: string[]): string {
  expect(headers[0]).toBe('traceparent');
  return headers[1]!;
}

describe('request trace context', () => {
  it('with tracing off, every request gets a new sampled trace with non-zero, distinct ids', () => {
    expect(tracingOff()).toBe(true);
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const t = startRequestSpan(input());
      const m = TRACEPARENT.exec(traceparent(t.headers))!;
      expect(m).not.toBeNull();
      expect(m[1]).not.toMatch(/^0+$/);
      expect(m[2]).not.toMatch(/^0+$/);
      expect(m[3]).toBe('01');
      expect([t.traceId, t.spanId]).toEqual([m[1], m[2]]);
      seen.add(m[1]!);
      seen.add(m[2]!);
      t.end(200);
    }
    expect(seen.size).toBe(2000);
    expect(described).toBe(0); // no span details are built for a no-op span
  });

  it('with tracing off, an untrusted caller traceparent is not continued', () => {
    const t = startRequestSpan(input({ incoming: { traceparent: CALLER } }));
    expect(traceparent(t.headers)).not.toContain('0af7651916cd43dd8448eb211c80319c');
  });

  it('with tracing off, a trusted caller trace is continued under a new span id, with its flags and tracestate', () => {
    const t = startRequestSpan(input({ trustIncoming: true, incoming: { traceparent: CALLER.replace(/01$/, '00'), tracestate: 'vendor=1' } }));
    const m = TRACEPARENT.exec(traceparent(t.headers))!;
    expect(m[1]).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(m[2]).not.toBe('b7ad6b7169203331');
    expect(m[3]).toBe('00');
    expect(t.headers.slice(2)).toEqual(['tracestate', 'vendor=1']);
  });

  it('with tracing off, a parent context given by the session is continued', () => {
    const parent = trace.setSpanContext(ROOT_CONTEXT, { traceId: '1'.repeat(32), spanId: '2'.repeat(16), traceFlags: TraceFlags.SAMPLED, isRemote: false });
    const t = startRequestSpan(input({ parent }));
    expect(traceparent(t.headers)).toMatch(new RegExp(`^00-${'1'.repeat(32)}-(?!${'2'.repeat(16)})[0-9a-f]{16}-01$`));
  });

  it('with a tracer provider registered, the traceparent names the recorded span', () => {
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    try {
      expect(tracingOff()).toBe(false);
      const t = startRequestSpan(input());
      const m = TRACEPARENT.exec(traceparent(t.headers))!;
      t.end(200);
      const [span] = exporter.getFinishedSpans();
      expect(span?.spanContext()).toMatchObject({ traceId: m[1], spanId: m[2] });
      expect(span?.attributes['network.peer.address']).toBe('10.0.0.1');
      expect(described).toBe(1);
    } finally {
      trace.disable();
    }
    expect(tracingOff()).toBe(true);
  });
});
