// /metrics: a pull MetricReader on the agent's MeterProvider, rendered in the Prometheus text
// format by the OTel Prometheus serializer. The same instruments feed the OTLP reader, so the
// numbers a scrape sees and the numbers a Collector receives are one model.
//
// Only the serializer's own file is loaded, at the first scrape: the package's index also loads
// its PrometheusExporter (an HTTP server the agent does not use), and an agent that is never
// scraped needs neither (≈ 0.5 MB of the main thread's idle RSS).
import type { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { AggregationTemporality, MetricReader } from '@opentelemetry/sdk-metrics';
import { filterSeries, type SeriesFilter } from './series-filter.js';

export class PrometheusPullReader extends MetricReader {
  private serializer: PrometheusSerializer | undefined;

  constructor(private readonly keep: () => SeriesFilter | undefined = () => undefined) {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }

  /** Collects every instrument now (observable callbacks run) and renders the text exposition. */
  async render(): Promise<string> {
    const { resourceMetrics } = await this.collect();
    // No prefix, no timestamps, no resource labels, no `target_info`, no `otel_scope_*` labels:
    // the series keep the exact names and labels dashboards have always used.
    // import(), not require(): the build bundles it (scripts/bundle.mjs) into a chunk of its own
    this.serializer ??= new (await import('@opentelemetry/exporter-prometheus/build/src/PrometheusSerializer.js')).PrometheusSerializer(undefined, false, undefined, true, true);
    return this.serializer.serialize(filterSeries(resourceMetrics, this.keep()));
  }

  protected async onForceFlush(): Promise<void> {}

  protected async onShutdown(): Promise<void> {}
}
