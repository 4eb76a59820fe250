// Telemetry as an operator sees it: the real CLI, two sessions in two worker threads against
// real sshd, a real OTLP/HTTP receiver, and the spans that arrive there.
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, freePort, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

describe('telemetry', () => {
  let a: SshdHandle;
  let b: SshdHandle;
  let echo: TcpService;
  let receiver: OtlpReceiver;
  let dir: string;

  beforeAll(async () => {
    [a, b] = await Promise.all([startSshd(), startSshd()]);
    echo = await startEchoServer();
    receiver = await startOtlpReceiver();
    dir = mkdtempSync(path.join(os.tmpdir(), 'edge-agent-otel-'));
  });
  afterAll(async () => {
    await Promise.all([echo?.close(), receiver?.close(), a?.dispose(), b?.dispose()]);
  });

  function config(extraForward: Record<string, unknown> = {}) {
    const session = (sshd: SshdHandle, id: string) => ({
      id, host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: id,
      hostKeys: { knownHostsFile: sshd.knownHostsPath },
      forwards: [{ id: `${id}-echo`, bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}`, ...extraForward }],
    });
    const file = path.join(dir, `config-${Math.random().toString(16).slice(2)}.json`);
    writeFileSync(file, JSON.stringify({
      agent: { id: 'otel-device', logFormat: 'text' },
      admin: { listen: '127.0.0.1:0' },
      credentials: { a: { privateKeyFile: a.userKeyPath }, b: { privateKeyFile: b.userKeyPath } },
      sessions: [session(a, 'a'), session(b, 'b')],
      telemetry: { exporter: 'otlp' },
    }));
    return file;
  }

  async function start(file: string, endpoint: string) {
    const cli = runCli(['run', '--config', file], { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test' });
    const admin = (await cli.waitForLine(/status at (http:\/\/\S+)\/status/))[1]!;
    const ports = await waitUntil(async () => {
      const doc = JSON.parse(await (await request(`${admin}/status`)).body.text()) as { sessions: Array<{ id: string; forwards: Array<{ id: string; state: string; remotePort: number }> }> };
      const fwds = doc.sessions.flatMap((s) => s.forwards);
      return fwds.length === 2 && fwds.every((f) => f.state === 'up') ? Object.fromEntries(fwds.map((f) => [f.id, f.remotePort])) : undefined;
    }, 20_000, 'forwards up');
    return { cli, admin, ports };
  }

  it('exports one tunnel.channel span per channel, with bytes, origin port and forward id, plus ssh.connect spans', async () => {
    const { cli, ports } = await start(config(), receiver.endpoint);
    const opened: Array<{ forward: string; originPort: number; bytes: number }> = [];
    try {
      for (let i = 0; i < 10; i++) {
        const forward = i % 2 === 0 ? 'a-echo' : 'b-echo';
        const payload = Buffer.alloc(1000 + i * 10, 'z');
        const sock = net.connect({ host: '127.0.0.1', port: ports[forward]! });
        await new Promise((r) => sock.once('connect', r));
        opened.push({ forward, originPort: sock.localPort!, bytes: payload.length });
        sock.end(payload);
        await new Promise((r) => sock.on('close', r).resume());
      }
      cli.child.kill('SIGTERM');
      expect((await cli.exit).code).toBe(0);
    } finally {
      cli.child.kill('SIGKILL');
    }
    const channels = receiver.spans.filter((s) => s.name === 'tunnel.channel' && s.resource['service.instance.id'] === 'otel-device');
    expect(channels).toHaveLength(10);
    for (const o of opened) {
      const span = channels.find((s) => s.attributes['network.peer.port'] === o.originPort);
      expect(span, `span for origin port ${o.originPort}`).toBeDefined();
      expect(span!.attributes).toMatchObject({
        'edge_agent.forward.id': o.forward,
        'edge_agent.bytes_in': o.bytes,
        'edge_agent.bytes_out': o.bytes,
        'edge_agent.close_reason': 'eof',
        'network.peer.address': '127.0.0.1',
        'edge_agent.target': `tcp://127.0.0.1:${echo.port}`,
      });
      expect(span!.kind).toBe(2); // SERVER
    }
    const connects = receiver.spans.filter((s) => s.name === 'ssh.connect' && s.attributes['edge_agent.outcome'] === 'connected');
    expect(connects.length).toBeGreaterThanOrEqual(2);
    expect(connects[0]!.attributes['edge_agent.ssh.server_banner']).toMatch(/OpenSSH/);
    expect(receiver.spans.filter((s) => s.name === 'ssh.forward.request' && s.attributes['edge_agent.outcome'] === 'up').length).toBeGreaterThanOrEqual(2);
    const resource = channels[0]!.resource;
    expect(resource).toMatchObject({ 'service.name': 'edge-agent', 'service.instance.id': 'otel-device', 'deployment.environment': 'test' });
    expect(resource['service.version']).toBeTruthy();
  });

  it('a rejected channel produces a span with the reject reason and error status', async () => {
    const before = receiver.spans.length;
    const { cli, ports } = await start(config({ allowOrigins: ['203.0.113.0/24'] }), receiver.endpoint);
    try {
      await connectAndCollect(ports['a-echo']!, Buffer.from('x'), { allowError: true });
      cli.child.kill('SIGTERM');
      await cli.exit;
    } finally {
      cli.child.kill('SIGKILL');
    }
    const rejected = receiver.spans.slice(before).filter((s) => s.name === 'tunnel.channel');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.attributes).toMatchObject({ 'edge_agent.reject_reason': 'rejected-origin', 'error.type': 'EDGE_ERR_ORIGIN_REJECTED' });
    expect(rejected[0]!.status.code).toBe(2); // ERROR
  });

  it('with the collector down for the whole run, tunnels work, memory stays bounded and the agent exits cleanly', async () => {
    // nothing may listen there for the whole run: below the ephemeral range, where no port-0
    // listener of a test running alongside lands
    const closed = await freePort();
    const { cli, ports } = await start(config(), `http://127.0.0.1:${closed}`);
    try {
      await new Promise((r) => setTimeout(r, 500));
      const baseline = cli.rss();
      for (let round = 0; round < 10; round++) {
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => connectAndCollect(ports[i % 2 ? 'a-echo' : 'b-echo']!, Buffer.from(`r${round}c${i}`))));
        expect(results.every((r, i) => r.data.toString() === `r${round}c${i}`)).toBe(true);
      }
      expect(cli.rss() - baseline).toBeLessThan(64 * 1024 * 1024);
      const stopAt = Date.now();
      cli.child.kill('SIGTERM');
      expect((await cli.exit).code).toBe(0);
      expect(Date.now() - stopAt).toBeLessThan(15_000);
    } finally {
      cli.child.kill('SIGKILL');
    }
  }, 120_000); // the CLI plus 500 connections: 40-50 s of 60 s on a loaded 2-core machine

  it('HTTP target: the request span (child of the channel span) carries the trace id the service received in traceparent', async () => {
    const seen: string[] = [];
    const http = await import('node:http');
    const service = http.createServer((req, res) => {
      seen.push(String(req.headers.traceparent ?? ''));
      res.end('ok');
    });
    await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
    const servicePort = (service.address() as net.AddressInfo).port;
    const file = path.join(dir, 'http-config.json');
    writeFileSync(file, JSON.stringify({
      agent: { id: 'otel-http', logFormat: 'text' },
      admin: { listen: '127.0.0.1:0' },
      credentials: { a: { privateKeyFile: a.userKeyPath } },
      sessions: [{ id: 'a', host: '127.0.0.1', port: a.port, username: a.username, credential: 'a', hostKeys: { knownHostsFile: a.knownHostsPath },
        forwards: [{ id: 'web', bind: '127.0.0.1', port: 0, target: `http://127.0.0.1:${servicePort}` }] }],
      telemetry: { exporter: 'otlp' },
    }));
    const before = receiver.spans.length;
    const cli = runCli(['run', '--config', file], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
    try {
      const admin = (await cli.waitForLine(/status at (http:\/\/\S+)\/status/))[1]!;
      const port = await waitUntil(async () => {
        const doc = JSON.parse(await (await request(`${admin}/status`)).body.text()) as { sessions: Array<{ forwards: Array<{ state: string; remotePort: number }> }> };
        const f = doc.sessions[0]?.forwards[0];
        return f?.state === 'up' ? f.remotePort : undefined;
      }, 20_000, 'forward up');
      const res = await request(`http://127.0.0.1:${port}/hello`);
      expect(await res.body.text()).toBe('ok');
      cli.child.kill('SIGTERM');
      expect((await cli.exit).code).toBe(0);
    } finally {
      cli.child.kill('SIGKILL');
      service.close();
    }
    const traceparent = seen[0]!;
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    const [, traceId, spanId] = traceparent.split('-');
    const spans = receiver.spans.slice(before).filter((s) => s.resource['service.instance.id'] === 'otel-http');
    const requestSpan = spans.find((s) => s.spanId === spanId);
    expect(requestSpan, 'the span named in traceparent').toBeDefined();
    expect(requestSpan!.traceId).toBe(traceId);
    expect(requestSpan!.kind).toBe(3); // CLIENT
    const channelSpan = spans.find((s) => s.name === 'tunnel.channel');
    expect(channelSpan).toBeDefined();
    expect(requestSpan!.parentSpanId).toBe(channelSpan!.spanId);
    expect(channelSpan!.traceId).toBe(traceId);
  });
});
