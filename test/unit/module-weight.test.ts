// Start-up time and memory on small devices are mostly module weight: each thread loads only
// what it uses. ssh2 runs in the session workers (and in `edge-agent tunnel`, whose session is
// in the main thread); undici and the HTTP-target code load in a worker when a forward has an
// http(s):// target; the OpenTelemetry SDK loads in a worker when tracing is on and in the main
// thread when telemetry.exporter is not "none". The fleet client (assignments.url) is node:http(s),
// not undici. Everything else reaches them only through import().
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { reachablePackages, reachableSpecifiers } from '../helpers/import-graph.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OTEL_SDK = ['@opentelemetry/core', '@opentelemetry/sdk-trace-base', '@opentelemetry/sdk-metrics', '@opentelemetry/resources', '@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/exporter-metrics-otlp-http'];

function heavy(entry: string, forbidden: string[]): Record<string, string> {
  const reached = reachablePackages(entry, ROOT);
  return Object.fromEntries(forbidden.filter((p) => reached.has(p)).map((p) => [p, reached.get(p)!]));
}

describe('module weight per thread', () => {
  it('a session worker loads neither undici nor the OpenTelemetry SDK or API up front', () => {
    // (@opentelemetry/api only with tracing on: session-tracing.ts is imported then)
    expect(heavy('workers/session-runner.ts', ['undici', '@opentelemetry/api', ...OTEL_SDK])).toEqual({});
    // …but does load ssh2 (the sanity check that the graph is followed at all)
    expect(reachablePackages('workers/session-runner.ts', ROOT).has('ssh2')).toBe(true);
    // ssh2's client modules, not its index (the server, keygen and HTTP agents): src/ssh2/client-modules.ts
    expect(reachableSpecifiers('workers/session-runner.ts', ROOT).has('ssh2/lib/client.js')).toBe(true);
    expect(reachableSpecifiers('workers/session-runner.ts', ROOT).has('ssh2')).toBe(false);
    // the entry itself loads no package: it sets the thread up, then imports the session code
    expect([...reachablePackages('workers/session-worker.ts', ROOT).keys()]).toEqual([]);
  });

  it('the main thread of `edge-agent run` / startAgent() loads neither ssh2, undici nor the OpenTelemetry SDK up front', () => {
    expect(heavy('src/cli/run-command.ts', ['ssh2', 'undici', ...OTEL_SDK])).toEqual({});
    expect(heavy('src/agent.ts', ['ssh2', 'undici', ...OTEL_SDK])).toEqual({});
  });

  it('`edge-agent tunnel` loads no undici or OpenTelemetry SDK until an http(s):// target needs it', () => {
    expect(heavy('src/cli/tunnel-command.ts', ['undici', ...OTEL_SDK])).toEqual({});
    // nor ssh2's index (its server, keygen and HTTP agents): only the client modules
    expect(reachableSpecifiers('src/cli/tunnel-command.ts', ROOT).has('ssh2')).toBe(false);
    expect(reachableSpecifiers('src/cli/tunnel-command.ts', ROOT).has('ssh2/lib/client.js')).toBe(true);
  });

  it('the CLI entry loads only the command it runs', () => {
    expect([...reachablePackages('src/cli.ts', ROOT).keys()]).toEqual([]);
  });

  it("'ssh-edge-agent/agent' is startAgent() without the rest of the library", () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { exports: Record<string, { default: string }> };
    expect(pkg.exports['./agent']?.default).toBe('./dist/src/agent.js');
    expect(heavy('src/agent.ts', ['ssh2', 'undici'])).toEqual({});
    expect(reachablePackages('src/index.ts', ROOT).has('ssh2')).toBe(true); // the root export does carry it
  });

  it('the main thread loads the span pipeline and OTLP exporters only for telemetry.exporter otlp/console', () => {
    expect(heavy('telemetry/agent-telemetry.ts', ['@opentelemetry/sdk-trace-base', '@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/exporter-metrics-otlp-http'])).toEqual({});
    expect(reachablePackages('telemetry/agent-telemetry.ts', ROOT).has('@opentelemetry/sdk-metrics')).toBe(true); // /metrics
    expect(reachablePackages('telemetry/span-export.ts', ROOT).has('@opentelemetry/exporter-trace-otlp-http')).toBe(true);
  });

  it("the main thread loads no Prometheus exporter package up front (the serializer's own file at the first scrape)", () => {
    for (const entry of ['telemetry/agent-telemetry.ts', 'src/agent.ts', 'src/cli/run-command.ts']) {
      expect(heavy(entry, ['@opentelemetry/exporter-prometheus']), entry).toEqual({});
    }
  });

  it('no thread loads @opentelemetry/semantic-conventions (one large module; telemetry/semconv.ts spells the names)', () => {
    for (const entry of ['workers/session-runner.ts', 'src/cli/tunnel-command.ts', 'src/agent.ts', 'telemetry/agent-telemetry.ts', 'telemetry/worker-tracing-sdk.ts']) {
      expect(heavy(entry, ['@opentelemetry/semantic-conventions']), entry).toEqual({});
    }
  });

  it('the config loader does not load ajv\'s compiler (the validators are generated ahead of time)', () => {
    const reached = reachablePackages('config/load-config.ts', ROOT);
    expect(reached.get('ajv')).toBeUndefined(); // only ajv/dist/runtime helpers, through createRequire in the generated file
  });

  it('the lazily loaded parts are where the graph says they are', () => {
    expect(reachablePackages('src/session/targets/http/http-forward.ts', ROOT).has('undici')).toBe(true);
    expect(reachablePackages('telemetry/worker-tracing-sdk.ts', ROOT).has('@opentelemetry/sdk-trace-base')).toBe(true);
    // The fleet client (assignments.url / reportUrl) is node:http(s): no undici in `run`'s main thread at all
    expect(heavy('src/assignments/assignment-controller.ts', ['undici'])).toEqual({});
    expect(heavy('src/report/status-reporter.ts', ['undici'])).toEqual({});
  });
});
