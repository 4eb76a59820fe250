// A real OTLP/HTTP receiver for tests: accepts POST /v1/traces (and /v1/metrics) in OTLP JSON
// (what @opentelemetry/exporter-*-otlp-http sends) and keeps the decoded spans and metric data
// points. `failWith` makes it answer every request with that status instead (a broken collector).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedSpan {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  status: { code?: number; message?: string };
  attributes: Record<string, string | number | boolean>;
  resource: Record<string, string | number | boolean>;
}

/** One data point of a sum, gauge or histogram (value: the sum's/gauge's value, or the histogram's count). */
export interface ReceivedMetricPoint {
  name: string;
  value: number;
  attributes: Record<string, string | number | boolean>;
  resource: Record<string, string | number | boolean>;
}

export interface OtlpReceiver {
  port: number;
  endpoint: string;
  spans: ReceivedSpan[];
  metrics: ReceivedMetricPoint[];
  metricPosts: number;
  /** Requests answered (any path, any status). */
  requests: number;
  /** Answer every request with this HTTP status (null: accept). */
  failWith: number | null;
  close(): Promise<void>;
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
type KeyValue = { key: string; value: AnyValue };

function attrs(list: KeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of list ?? []) {
    out[key] = value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : undefined) ?? value.boolValue ?? value.doubleValue ?? '';
  }
  return out;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const metrics: ReceivedMetricPoint[] = [];
  let metricPosts = 0;
  let requests = 0;
  const control = { failWith: null as number | null };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests += 1;
      if (control.failWith !== null) {
        res.writeHead(control.failWith, { 'content-type': 'text/plain' });
        res.end('collector broken');
        return;
      }
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.url?.startsWith('/v1/metrics')) {
        metricPosts += 1;
        type Point = { attributes?: KeyValue[]; asInt?: string | number; asDouble?: number; count?: string | number };
        type Metric = { name: string; sum?: { dataPoints?: Point[] }; gauge?: { dataPoints?: Point[] }; histogram?: { dataPoints?: Point[] } };
        const doc = JSON.parse(body) as { resourceMetrics?: Array<{ resource?: { attributes?: KeyValue[] }; scopeMetrics?: Array<{ metrics?: Metric[] }> }> };
        for (const rm of doc.resourceMetrics ?? []) {
          const resource = attrs(rm.resource?.attributes);
          for (const sm of rm.scopeMetrics ?? []) {
            for (const m of sm.metrics ?? []) {
              for (const p of m.sum?.dataPoints ?? m.gauge?.dataPoints ?? m.histogram?.dataPoints ?? []) {
                const value = Number(p.asInt ?? p.asDouble ?? p.count ?? 0);
                metrics.push({ name: m.name, value, attributes: attrs(p.attributes), resource });
              }
            }
          }
        }
      } else if (req.url?.startsWith('/v1/traces')) {
        const doc = JSON.parse(body) as { resourceSpans?: Array<{ resource?: { attributes?: KeyValue[] }; scopeSpans?: Array<{ spans?: Array<Record<string, unknown>> }> }> };
        for (const rs of doc.resourceSpans ?? []) {
          const resource = attrs(rs.resource?.attributes);
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              spans.push({
                name: s.name as string,
                kind: s.kind as number,
                traceId: s.traceId as string,
                spanId: s.spanId as string,
                parentSpanId: (s.parentSpanId as string) || undefined,
                status: (s.status as ReceivedSpan['status']) ?? {},
                attributes: attrs(s.attributes as KeyValue[]),
                resource,
              });
            }
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    metrics,
    get metricPosts() { return metricPosts; },
    get requests() { return requests; },
    get failWith() { return control.failWith; },
    set failWith(status: number | null) { control.failWith = status; },
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}
