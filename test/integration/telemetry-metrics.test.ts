// The agent's metrics over OTLP, as a fleet's Collector receives them: the real CLI against a
// real sshd and a real OTLP/HTTP receiver. Every data point carries the agent id as
// service.instance.id; when the collector breaks, the failures are logged (rate-limited) and
// counted in /metrics, and the tunnel keeps serving.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

describe('metrics over OTLP', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  let receiver: OtlpReceiver;
  let dir: string;

  beforeAll(async () => {
    sshd = await startSshd();
    echo = await startEchoServer();
    receiver = await startOtlpReceiver();
    dir = mkdtempSync(path.join(os.tmpdir(), 'edge-agent-otlp-metrics-'));
  });
  afterAll(async () => {
    await Promise.all([echo?.close(), receiver?.close(), sshd?.dispose()]);
  });

  it('exports the same instruments /metrics shows, tagged service.instance.id = agent id; a broken collector is logged and counted', async () => {
    const file = path.join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({
      agent: { id: 'metrics-device', logFormat: 'text' },
      admin: { listen: '127.0.0.1:0' },
      credentials: { k: { privateKeyFile: sshd.userKeyPath } },
      sessions: [{ id: 's', host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'k', hostKeys: { knownHostsFile: sshd.knownHostsPath },
        forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }] }],
      telemetry: { exporter: 'otlp' },
    }));
    const cli = runCli(['run', '--config', file], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_METRIC_EXPORT_INTERVAL: '300' });
    try {
      const admin = (await cli.waitForLine(/status at (http:\/\/\S+)\/status/))[1]!;
      const port = await waitUntil(async () => {
        const doc = JSON.parse(await (await request(`${admin}/status`)).body.text()) as { sessions: Array<{ forwards: Array<{ state: string; remotePort: number }> }> };
        const f = doc.sessions[0]?.forwards[0];
        return f?.state === 'up' ? f.remotePort : undefined;
      }, 20_000, 'forward up');
      expect((await connectAndCollect(port, Buffer.from('hi'))).data.toString()).toBe('hi');

      const point = (name: string, min: number) => receiver.metrics.find((m) => m.name === name && m.attributes.session === 's' && m.attributes.forward === 'echo' && m.value >= min);
      await waitUntil(() => point('edge_agent_channels_total', 1), 10_000, 'edge_agent_channels_total over OTLP');
      const up = point('edge_agent_forward_up', 1)!;
      expect(up.resource['service.instance.id']).toBe('metrics-device');
      expect(up.resource['service.name']).toBe('edge-agent');
      // Byte counts reach the main thread's status with later channel events from the worker,
      // which on a loaded machine can come an export interval after the one that counted the open.
      const bytesIn = await waitUntil(() => point('edge_agent_bytes_in_total', 2), 10_000, 'edge_agent_bytes_in_total over OTLP');
      expect(bytesIn.resource['service.instance.id']).toBe('metrics-device');

      // The collector breaks: exports fail, one warning line per signal (not one per export), counted.
      receiver.failWith = 500;
      const before = receiver.requests;
      expect((await connectAndCollect(port, Buffer.from('again'))).data.toString()).toBe('again'); // a span to export too
      await waitUntil(() => receiver.requests >= before + 5, 10_000, 'several failed exports');
      await waitUntil(() => /OTLP traces export failed/.test(cli.stderr()), 10_000, 'the traces failure logged');
      const lines = cli.stderr().split('\n').filter((l) => /OTLP metrics export failed/.test(l));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/failed 1 time\(s\).*latest: HTTP 500/);
      const text = await (await request(`${admin}/metrics`)).body.text();
      const failed = Number(/edge_agent_telemetry_export_failures_total\{signal="metrics"\} (\d+)/.exec(text)?.[1]);
      expect(failed).toBeGreaterThanOrEqual(4);
      expect(text).toMatch(/edge_agent_telemetry_export_failures_total\{signal="traces"\} [1-9]/);
      // the tunnel is not affected
      expect((await connectAndCollect(port, Buffer.from('still'))).data.toString()).toBe('still');
    } finally {
      cli.child.kill('SIGKILL');
    }
  });
});
