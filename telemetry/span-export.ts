// The span half of the main thread's telemetry (agent-telemetry.ts), loaded only when
// telemetry.exporter is "otlp" or "console": a bounded batch processor fed with the spans the
// session workers send over, exporting over OTLP/HTTP (standard OTEL_* variables) or printing
// one line per span (the demo).
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ExportFailureLog } from './export-failures.js';
import { fromPlainSpan, type PlainSpan } from './plain-span.js';
import { ATTR, SPAN } from './semconv.js';

export interface SpanPipeline {
  ingest(spans: PlainSpan[], resource: Resource): void;
  shutdown(): Promise<void>;
}

export function spanPipeline(exporterKind: 'otlp' | 'console', write: ((line: string) => void) | undefined, failures: ExportFailureLog): SpanPipeline {
  const exporter: SpanExporter = exporterKind === 'console'
    ? new OneLineSpanExporter(write ?? ((line) => process.stdout.write(line + '\n')))
    : failures.watchSpans(new OTLPTraceExporter());
  // Bounded queue: with the collector down the agent drops spans instead of growing.
  const processor = new BatchSpanProcessor(exporter, { maxQueueSize: 4096, maxExportBatchSize: 512, scheduledDelayMillis: exporterKind === 'console' ? 100 : 1000 });
  return {
    ingest(spans, resource) {
      for (const span of spans) processor.onEnd(fromPlainSpan(span, resource));
    },
    shutdown: () => processor.shutdown(),
  };
}

/** The demo's exporter: one readable line per finished span. */
class OneLineSpanExporter implements SpanExporter {
  constructor(private readonly write: (line: string) => void) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    for (const span of spans) this.write(describeSpan(span));
    done({ code: ExportResultCode.SUCCESS });
  }

  async shutdown(): Promise<void> {}
}

export function describeSpan(span: ReadableSpan): string {
  const a = span.attributes;
  const ms = Math.round(span.duration[0] * 1e3 + span.duration[1] / 1e6);
  const error = span.status.code === 2 ? ` ERROR ${a[ATTR.errorType] ?? span.status.message ?? ''}` : '';
  switch (span.name) {
    case SPAN.channel:
      return `[span] ${span.name} ${a[ATTR.sessionId]}/${a[ATTR.forwardId]}${a[ATTR.direction] && a[ATTR.direction] !== 'remote' ? ` (${a[ATTR.direction]})` : ''} from ${a[ATTR.networkPeerAddress]}:${a[ATTR.networkPeerPort]} -> ${a[ATTR.target]} in=${a[ATTR.bytesIn] ?? 0}B out=${a[ATTR.bytesOut] ?? 0}B ${ms}ms ${a[ATTR.closeReason] ?? a[ATTR.rejectReason] ?? ''}${error}`.trimEnd();
    case SPAN.connect:
      return `[span] ${span.name} ${a[ATTR.sessionId]} ${a[ATTR.serverAddress]}:${a[ATTR.serverPort]} attempt ${a[ATTR.attempt]} ${a[ATTR.outcome]} ${ms}ms${error}`;
    case SPAN.forwardRequest:
      return `[span] ${span.name} ${a[ATTR.sessionId]}/${a[ATTR.forwardId]} ${a[ATTR.bindAddress] || '*'}:${a[ATTR.requestedPort]} -> port ${a[ATTR.remotePort] ?? '-'} ${a[ATTR.outcome]} ${ms}ms${error}`;
    default:
      return `[span] ${span.name} ${ms}ms trace ${span.spanContext().traceId}${error}`;
  }
}
