// Tracing inside a session's worker thread: a real tracer provider whose finished spans are
// batched (a busy tunnel sends one message per batch, not per span) and posted to the main
// thread, which owns the exporter. Domain code only ever sees @opentelemetry/api. Loaded by
// worker-tracing.ts only when tracing is on (the SDK's weight stays out of other workers).
import { propagation, trace } from '@opentelemetry/api';
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { toPlainSpan, type PlainSpan } from './plain-span.js';
import { samplerFromEnv } from './sampler.js';
import type { WorkerTracing } from './worker-tracing.js';

class MainThreadSpanExporter implements SpanExporter {
  constructor(private readonly send: (spans: PlainSpan[]) => void) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    try {
      this.send(spans.map(toPlainSpan));
      done({ code: ExportResultCode.SUCCESS });
    } catch (error) {
      done({ code: ExportResultCode.FAILED, error: error as Error });
    }
  }

  async shutdown(): Promise<void> {}
}

// One provider per thread: piscina may run a later session in the same thread, and the global
// tracer provider can be set only once, so later sessions just redirect where spans go.
let installed: { flush(): Promise<void>; sink: { send: (spans: PlainSpan[]) => void } } | undefined;

export function installSdkTracing(send: (spans: PlainSpan[]) => void): WorkerTracing {
  if (installed) {
    installed.sink.send = send;
    return installed;
  }
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const sink = { send };
  const provider = new BasicTracerProvider({
    sampler: samplerFromEnv(),
    spanProcessors: [new BatchSpanProcessor(new MainThreadSpanExporter((spans) => sink.send(spans)), {
      scheduledDelayMillis: 200,
      maxExportBatchSize: 256,
      maxQueueSize: 4096, // bounded: beyond this, spans are dropped rather than memory grown
    })],
  });
  trace.setGlobalTracerProvider(provider);
  installed = { flush: () => provider.forceFlush(), sink };
  return installed;
}
