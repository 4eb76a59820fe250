// The main thread's telemetry: the resource that names this agent, the exporter chosen by
// `telemetry.exporter` (OTLP over HTTP with the standard OTEL_* variables, a one-line-per-span
// console printer for the demo, or none), a bounded batch processor fed with the spans every
// session worker sends over, and the one metrics model: a MeterProvider whose instruments are
// read by /metrics (Prometheus text, always) and, with `otlp`, pushed to the collector too.
//
// Only the metrics SDK loads up front (/metrics needs it whatever the exporter); the OTLP
// exporters and the span pipeline (span-export.ts) are imported when telemetry.exporter asks for
// them — with "none" the main thread never loads them (~3 MB, ~0.3 s on a 2-core device).
import os from 'node:os';
import type { Meter } from '@opentelemetry/api';
import { detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type MetricReader } from '@opentelemetry/sdk-metrics';
import type { Logger } from '../src/log.js';
import { ExportFailureLog, type TelemetrySignal } from './export-failures.js';
import type { PlainSpan } from './plain-span.js';
import { PrometheusPullReader } from './prometheus-reader.js';
import type { SeriesFilter } from './series-filter.js';
import { METER_NAME, RESOURCE_ATTR } from './semconv.js';

export type TelemetryExporterKind = 'otlp' | 'console' | 'none';

export interface AgentTelemetry {
  /** Whether session workers should record spans at all. */
  readonly enabled: boolean;
  /** Spans finished in a worker thread, handed to the exporter's batch. */
  ingest(spans: PlainSpan[]): void;
  /** Where the agent's instruments are created (whatever the exporter: /metrics reads them). */
  readonly meter: Meter;
  /** Every instrument, now, in the Prometheus text format (GET /metrics). */
  renderMetrics(): Promise<string>;
  /** Which series are current (see series-filter.ts); applied to /metrics and OTLP alike. */
  setSeriesFilter(keep: SeriesFilter): void;
  /**
   * Exports everything still buffered, then stops; gives up after `timeoutMs` so that an
   * unreachable collector never holds the agent's exit. Idempotent.
   */
  shutdown(timeoutMs?: number): Promise<void>;
}

export interface TelemetryOptions {
  exporter: TelemetryExporterKind;
  agentId: string;
  version: string;
  /** Where the console exporter writes (default stdout). */
  write?: (line: string) => void;
  /** Where OTLP export failures are reported (rate-limited). */
  log?: Logger;
  /** Push interval of OTLP metrics. Default: OTEL_METRIC_EXPORT_INTERVAL, else 30 000 ms. */
  metricExportIntervalMs?: number;
}

export async function startTelemetry(options: TelemetryOptions): Promise<AgentTelemetry> {
  const resource = agentResource(options);
  let keep: SeriesFilter | undefined;
  const pull = new PrometheusPullReader(() => keep);
  let exportFailures: { add(n: number, attributes: { signal: TelemetrySignal }): void } | undefined;
  const failures = new ExportFailureLog({ log: options.log, count: (signal) => exportFailures?.add(1, { signal }) });
  const readers: MetricReader[] = [pull];
  if (options.exporter === 'otlp') {
    const interval = options.metricExportIntervalMs ?? envMs('OTEL_METRIC_EXPORT_INTERVAL') ?? 30_000;
    const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-http');
    readers.push(new PeriodicExportingMetricReader({
      exporter: failures.watchMetrics(new OTLPMetricExporter(), () => keep),
      exportIntervalMillis: interval,
      exportTimeoutMillis: Math.min(interval, envMs('OTEL_METRIC_EXPORT_TIMEOUT') ?? 10_000),
    }));
  }
  // Not the global provider: several agents may run in one process (the library API).
  const meterProvider = new MeterProvider({ resource, readers });
  const meter = meterProvider.getMeter(METER_NAME, options.version);
  exportFailures = meter.createCounter('edge_agent_telemetry_export_failures_total', { description: 'OTLP exports that failed, by signal (traces, metrics); their data is dropped.' });

  const base = {
    meter,
    renderMetrics: () => pull.render(),
    setSeriesFilter: (filter: SeriesFilter) => { keep = filter; },
  };
  if (options.exporter === 'none') {
    return { ...base, enabled: false, ingest: () => {}, shutdown: async () => { await meterProvider.shutdown().catch(() => {}); } };
  }
  const processor = (await import('./span-export.js')).spanPipeline(options.exporter, options.write, failures);

  let stopped: Promise<void> | undefined;
  return {
    ...base,
    enabled: true,
    ingest(spans: PlainSpan[]) {
      processor.ingest(spans, resource);
    },
    shutdown(timeoutMs = 3_000) {
      stopped ??= (async () => {
        const flushing = Promise.all([processor.shutdown().catch(() => {}), meterProvider.shutdown().catch(() => {})]);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([flushing, new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); })]);
        clearTimeout(timer);
      })();
      return stopped;
    },
  };
}

function envMs(name: string): number | undefined {
  const value = process.env[name]?.trim();
  return value && /^\d+$/.test(value) && Number(value) > 0 ? Number(value) : undefined;
}

function agentResource(options: TelemetryOptions): Resource {
  // OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME (envDetector) win over our defaults.
  const defaults = resourceFromAttributes({
    [RESOURCE_ATTR.serviceName]: 'edge-agent',
    [RESOURCE_ATTR.serviceVersion]: options.version,
    // The fleet's Collector tells devices apart by this: every span and metric carries it.
    [RESOURCE_ATTR.serviceInstanceId]: options.agentId,
    'host.name': os.hostname(),
  });
  return defaults.merge(detectResources({ detectors: [envDetector] }));
}
