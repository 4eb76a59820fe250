// /metrics: a pull MetricReader on the agent's MeterProvider, rendered in the Prometheus text
// format by the OTel Prometheus serializer. The same instruments feed the OTLP reader, so the
// numbers a scrape sees and the numbers a Collector receives are one model.
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { AggregationTemporality, MetricReader } from '@opentelemetry/sdk-metrics';
import { filterSeries, type SeriesFilter } from './series-filter.js';

export class PrometheusPullReader extends MetricReader {
  // No prefix, no timestamps, no resource labels, no `target_info`, no `otel_scope_*` labels:
  // the series keep the exact names and labels dashboards have always used.
  private readonly serializer = new PrometheusSerializer(undefined, false, undefined, true, true);

  constructor(private readonly keep: () => SeriesFilter | undefined = () => undefined) {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }

  /** Collects every instrument now (observable callbacks run) and renders the text exposition. */
  async render(): Promise<string> {
    const { resourceMetrics } = await this.collect();
    return this.serializer.serialize(filterSeries(resourceMetrics, this.keep()));
  }

  protected async onForceFlush(): Promise<void> {}

  protected async onShutdown(): Promise<void> {}
}
