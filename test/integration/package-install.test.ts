// The package as a user gets it: `npm pack` (prepack builds dist/), the tarball installed
// globally into a temporary prefix, and the installed `edge-agent` run from outside the
// checkout: --version, `check` of a config, and `run` carrying bytes through a real sshd (its
// session worker must come from the tarball's build: no tsx, no sources there). This replaces
// the former built-agent test (dist/ run with plain node): the installed package is that build.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { connectAndCollect, startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
// Nothing from the checkout's environment may leak into the installed agent.
const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EDGE_AGENT_') && !k.startsWith('npm_') && k !== 'NODE_OPTIONS'));

describe('packed and installed package', () => {
  let tmp: string;
  let bin: string;
  let sshd: SshdHandle;
  let echo: TcpService;
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'edge-agent-pack-'));
    const packDir = path.join(tmp, 'pack');
    mkdirSync(packDir);
    await run(npm, ['pack', '--pack-destination', packDir], { cwd: root, env: cleanEnv() });
    const tarball = path.join(packDir, readdirSync(packDir).find((f) => f.endsWith('.tgz'))!);
    const prefix = path.join(tmp, 'prefix');
    // --prefer-offline: the npm cache (filled by the checkout's own install) answers when it can.
    await run(npm, ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: tmp, env: cleanEnv() });
    bin = path.join(prefix, 'bin', 'edge-agent');
    // The build bundles the OTel SDK (scripts/bundle.mjs; the package still lists it for its .d.ts
    // types): nothing may load it from node_modules at run time, only @opentelemetry/api.
    const otel = path.join(prefix, 'lib', 'node_modules', 'ssh-edge-agent', 'node_modules', '@opentelemetry');
    for (const name of readdirSync(otel).filter((n) => n !== 'api')) rmSync(path.join(otel, name), { recursive: true });
    [sshd, echo] = await Promise.all([startSshd(), startEchoServer()]);
  }, 420_000);
  afterAll(async () => {
    await Promise.all([echo?.close(), sshd?.dispose()]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('ships the build and the schemas, not the sources or tsx', () => {
    const pkg = path.join(tmp, 'prefix', 'lib', 'node_modules', 'ssh-edge-agent');
    expect(existsSync(path.join(pkg, 'dist/src/cli.js'))).toBe(true);
    expect(existsSync(path.join(pkg, 'dist/workers/session-worker.js'))).toBe(true);
    expect(existsSync(path.join(pkg, 'config/assignment.schema.json'))).toBe(true);
    expect(existsSync(path.join(pkg, 'config/config.schema.json'))).toBe(true);
    expect(existsSync(path.join(pkg, 'deploy/systemd/edge-agent.service'))).toBe(true);
    expect(existsSync(path.join(pkg, 'src'))).toBe(false);
    expect(existsSync(path.join(pkg, 'node_modules/tsx'))).toBe(false);
    expect(existsSync(path.join(tmp, 'prefix', 'lib', 'node_modules', 'tsx'))).toBe(false);
  });

  it('runs --version and check from outside the checkout', async () => {
    const v = await run(bin, ['--version'], { cwd: tmp, env: cleanEnv() });
    expect(v.stdout).toMatch(/^edge-agent \d+\.\d+\.\d+\n$/);

    const config = path.join(tmp, 'config.json');
    writeFileSync(config, JSON.stringify({
      credentials: { k: { privateKeyFile: sshd.userKeyPath } },
      sessions: [{ id: 's', host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'k', hostKeys: { knownHostsFile: sshd.knownHostsPath }, forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }] }],
    }));
    const c = await run(bin, ['check', '--config', config], { cwd: tmp, env: cleanEnv() });
    expect(c.stdout).toBe('config OK: 1 sessions, 1 forwards\n');
  });

  it('runs a session from the installed build, with the parts it loads on demand (HTTP target, tracing)', async () => {
    // The build is bundled (scripts/bundle.mjs): an http:// target (undici) and tracing (the
    // OTel SDK) load from chunks of their own in the session worker when they are needed.
    const web = createServer((req, res) => res.end(`web ${req.method} ${req.url}`));
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    const webPort = (web.address() as AddressInfo).port;
    const config = path.join(tmp, 'run.json');
    writeFileSync(config, JSON.stringify({
      admin: { listen: '127.0.0.1:0' },
      agent: { logFormat: 'text' },
      telemetry: { exporter: 'console' },
      credentials: { k: { privateKeyFile: sshd.userKeyPath } },
      sessions: [{ id: 's', host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'k', hostKeys: { knownHostsFile: sshd.knownHostsPath }, forwards: [
        { id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` },
        { id: 'web', bind: '127.0.0.1', port: 0, target: `http://127.0.0.1:${webPort}` },
      ] }],
    }));
    const child = spawn(bin, ['run', '--config', config], { cwd: tmp, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    try {
      const admin = await waitUntil(() => /status at (http:\/\/\S+)\/status/.exec(out)?.[1], 20_000, `admin URL (stderr: ${err})`);
      const port = await waitUntil(async () => {
        const doc = JSON.parse(await (await request(`${admin}/status`)).body.text()) as { sessions: Array<{ threadId: number | null; forwards: Array<{ state: string; remotePort: number }> }> };
        const f = doc.sessions[0]?.forwards[0];
        // the session runs in a worker thread of the installed build
        return f?.state === 'up' && doc.sessions[0]!.threadId! > 0 ? f.remotePort : undefined;
      }, 20_000, `forward up (stderr: ${err})`);
      const r = await connectAndCollect(port, Buffer.from('installed'));
      expect(r.data.toString()).toBe('installed');
      const webRemote = await waitUntil(async () => {
        const doc = JSON.parse(await (await request(`${admin}/status`)).body.text()) as { sessions: Array<{ forwards: Array<{ id: string; state: string; remotePort: number }> }> };
        const f = doc.sessions[0]?.forwards.find((x) => x.id === 'web');
        return f?.state === 'up' ? f.remotePort : undefined;
      }, 20_000, `web forward up (stderr: ${err})`);
      expect(await (await request(`http://127.0.0.1:${webRemote}/installed`)).body.text()).toBe('web GET /installed');
      // the worker's spans (its tracing SDK) reach the console exporter: the connect span
      await waitUntil(() => (/^\[span\] \S+ s 127\.0\.0\.1:\d+ attempt 1 /m.test(out) ? true : undefined), 20_000, `a connect span (stdout: ${out})`);
      child.kill('SIGTERM');
      expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(0);
    } finally {
      child.kill('SIGKILL');
      web.close();
    }
  });

  it('exports spans (main thread and session worker) and metrics over OTLP, and serves /metrics, with the bundled OTel SDK', async () => {
    const receiver = await startOtlpReceiver();
    const config = path.join(tmp, 'otlp.json');
    writeFileSync(config, JSON.stringify({
      agent: { id: 'installed-otlp', logFormat: 'text' },
      admin: { listen: '127.0.0.1:0' },
      telemetry: { exporter: 'otlp' },
      credentials: { k: { privateKeyFile: sshd.userKeyPath } },
      sessions: [{ id: 's', host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'k', hostKeys: { knownHostsFile: sshd.knownHostsPath }, forwards: [
        { id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` },
      ] }],
    }));
    const env = { ...cleanEnv(), OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_METRIC_EXPORT_INTERVAL: '300' };
    const child = spawn(bin, ['run', '--config', config], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    try {
      const admin = await waitUntil(() => /status at (http:\/\/\S+)\/status/.exec(out)?.[1], 20_000, `admin URL (stderr: ${err})`);
      const port = await waitUntil(async () => {
        const doc = JSON.parse(await (await request(`${admin}/status`)).body.text()) as { sessions: Array<{ forwards: Array<{ state: string; remotePort: number }> }> };
        const f = doc.sessions[0]?.forwards[0];
        return f?.state === 'up' ? f.remotePort : undefined;
      }, 20_000, `forward up (stderr: ${err})`);
      expect((await connectAndCollect(port, Buffer.from('otlp'))).data.toString()).toBe('otlp');
      // the worker's spans, with the agent's resource: its tracer provider is the one the session code sees
      await waitUntil(() => receiver.spans.find((s) => s.name === 'ssh.connect' && s.resource['service.instance.id'] === 'installed-otlp'), 20_000, `ssh.connect span (stderr: ${err})`);
      await waitUntil(() => receiver.spans.find((s) => s.name === 'tunnel.channel'), 20_000, `tunnel.channel span (stderr: ${err})`);
      // the main thread's MeterProvider, through the bundled OTLP metrics exporter
      const point = await waitUntil(() => receiver.metrics.find((m) => m.name === 'edge_agent_channels_total' && m.value >= 1), 20_000, `metrics over OTLP (stderr: ${err})`);
      expect(point.resource['service.name']).toBe('edge-agent');
      // /metrics: the bundled Prometheus serializer
      expect(await (await request(`${admin}/metrics`)).body.text()).toMatch(/^edge_agent_channels_total\{[^}]*forward="echo"[^}]*\} [1-9]/m);
      expect(err).not.toMatch(/Cannot find (package|module)|Dynamic require/);
      child.kill('SIGTERM');
      expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await receiver.close();
    }
  });
});
