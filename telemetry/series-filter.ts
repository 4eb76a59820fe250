// Drops series that no longer exist from a collection. The OTel SDK keeps reporting the last
// value of an observable instrument's attribute set after the callback stops observing it (a
// removed forward would stay `edge_agent_forward_up 1` forever); the owner of the instruments
// says which series are current, and both readers (/metrics and OTLP) apply it.
import type { Attributes } from '@opentelemetry/api';
import type { MetricData, ResourceMetrics } from '@opentelemetry/sdk-metrics';

export type SeriesFilter = (metricName: string, attributes: Attributes) => boolean;

export function filterSeries(resourceMetrics: ResourceMetrics, keep: SeriesFilter | undefined): ResourceMetrics {
  if (!keep) return resourceMetrics;
  return {
    resource: resourceMetrics.resource,
    scopeMetrics: resourceMetrics.scopeMetrics.map((sm) => ({
      ...sm,
      metrics: sm.metrics.map((m) => ({ ...m, dataPoints: (m.dataPoints as Array<{ attributes: Attributes }>).filter((p) => keep(m.descriptor.name, p.attributes)) }) as MetricData),
    })),
  };
}
