// OTLP export failures, made visible: every failed export is counted (the caller's counter,
// `edge_agent_telemetry_export_failures_total{signal}`) and logged, at most one line per signal
// per minute carrying how many failed since the last line, so a dead collector cannot flood the
// log. The exporters themselves (and their retries) are untouched: these wrappers only watch the
// result each export reports.
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { AggregationOption, AggregationTemporality, InstrumentType, PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Logger } from '../src/log.js';
import { redactCredentials } from '../src/grammar/redact.js';
import { filterSeries, type SeriesFilter } from './series-filter.js';

export type TelemetrySignal = 'traces' | 'metrics';

export interface ExportFailureLogOptions {
  log?: Logger;
  /** Counts every failure (the metric). */
  count?: (signal: TelemetrySignal) => void;
  /** Minimum time between two log lines of one signal. Default 60 000. */
  logIntervalMs?: number;
  /** Injected clock (ms). Default Date.now. */
  now?: () => number;
}

export class ExportFailureLog {
  private readonly state = new Map<TelemetrySignal, { lastLogAt: number; unlogged: number; total: number }>();
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(private readonly options: ExportFailureLogOptions = {}) {
    this.intervalMs = options.logIntervalMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Failures of a signal since start. */
  total(signal: TelemetrySignal): number {
    return this.state.get(signal)?.total ?? 0;
  }

  failed(signal: TelemetrySignal, error: Error | undefined): void {
    this.options.count?.(signal);
    const s = this.state.get(signal) ?? { lastLogAt: Number.NEGATIVE_INFINITY, unlogged: 0, total: 0 };
    this.state.set(signal, s);
    s.total += 1;
    s.unlogged += 1;
    const now = this.now();
    if (now - s.lastLogAt < this.intervalMs) return;
    // OTLPExporterError carries the HTTP status in `code`.
    const code = (error as { code?: unknown } | undefined)?.code;
    const status = typeof code === 'number' ? `HTTP ${code} ` : '';
    const why = status + redactCredentials(error?.message ?? 'unknown error').replace(/\s+/g, ' ').slice(0, 200);
    const what = signal === 'traces' ? 'spans' : 'metrics';
    this.options.log?.('warn', `telemetry: OTLP ${signal} export failed ${s.unlogged} time(s) since the last report (${s.total} in total); latest: ${why}. The ${what} of those exports are dropped; the tunnels are not affected`, { signal, failures: s.unlogged });
    s.lastLogAt = now;
    s.unlogged = 0;
  }

  watchSpans(exporter: SpanExporter): SpanExporter {
    return new WatchedSpanExporter(exporter, this);
  }

  /** Also applies `keep` (the current series) to what is exported. */
  watchMetrics(exporter: PushMetricExporter, keep: () => SeriesFilter | undefined = () => undefined): PushMetricExporter {
    return new WatchedMetricExporter(exporter, this, keep);
  }
}

class WatchedSpanExporter implements SpanExporter {
  constructor(private readonly inner: SpanExporter, private readonly failures: ExportFailureLog) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) this.failures.failed('traces', result.error);
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

class WatchedMetricExporter implements PushMetricExporter {
  // The OTLP exporter's temporality and aggregation preferences pass through unchanged.
  readonly selectAggregationTemporality?: (instrumentType: InstrumentType) => AggregationTemporality;
  readonly selectAggregation?: (instrumentType: InstrumentType) => AggregationOption;

  constructor(private readonly inner: PushMetricExporter, private readonly failures: ExportFailureLog, private readonly keep: () => SeriesFilter | undefined) {
    if (inner.selectAggregationTemporality) this.selectAggregationTemporality = (t) => inner.selectAggregationTemporality!(t);
    if (inner.selectAggregation) this.selectAggregation = (t) => inner.selectAggregation!(t);
  }

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    this.inner.export(filterSeries(metrics, this.keep()), (result) => {
      if (result.code !== ExportResultCode.SUCCESS) this.failures.failed('metrics', result.error);
      done(result);
    });
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}
