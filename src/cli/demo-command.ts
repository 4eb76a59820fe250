// `edge-agent demo` (what `npm start` runs): the built-in gateway, a sample web service and an
// agent holding a forward to it, all on loopback with throwaway keys in a temp dir, so a
// newcomer sees a working tunnel in seconds without an SSH server of their own.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAgent, type AgentHandle } from '../agent.js';
import { startSampleService, type SampleService } from '../demo/sample-service.js';
import { Gateway } from '../gateway/gateway.js';
import { generateEd25519 } from '../gateway/host-key.js';
import { createLogger } from '../log.js';
import { parseCommandArgs, UsageError } from './usage-error.js';
import { onShutdown, type Shutdown } from '../lifecycle/shutdown.js';

export const DEMO_USAGE = `Usage: edge-agent demo

Starts, on loopback: the built-in SSH gateway, a sample web service (the "device's" service)
and an agent that holds a reverse forward from the gateway to that service. Prints a URL to
open; every tunnelled connection is printed as a span. Ctrl-C stops everything.
`;

export async function runDemoCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(DEMO_USAGE);
    return 0;
  }

  const out = (line: string) => process.stdout.write(line + '\n');
  const log = createLogger({ level: 'warn', format: 'text' });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-agent-demo-'));
  let gateway: Gateway | undefined;
  let service: SampleService | undefined;
  let agent: AgentHandle | undefined;
  let shutdown: Shutdown | undefined;
  const cleanup = async () => {
    await agent?.close().catch(() => {});
    await gateway?.close().catch(() => {});
    await service?.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    // The device's identity, and the gateway's list of who may connect.
    const keyFile = path.join(dir, 'id_ed25519');
    const deviceKey = generateEd25519('edge-agent-demo-device');
    writeFileSync(keyFile, deviceKey.private, { mode: 0o600 });
    chmodSync(keyFile, 0o600);
    const authorizedKeys = path.join(dir, 'authorized_keys');
    writeFileSync(authorizedKeys, `${deviceKey.public.trim()}\n`, { mode: 0o600 });

    gateway = new Gateway({
      listen: { host: '127.0.0.1', port: 0 },
      hostKeyFile: path.join(dir, 'gateway_host_ed25519'),
      authorizedKeysFile: authorizedKeys,
      log,
    });
    const gw = await gateway.start();
    service = await startSampleService();

    agent = await startAgent({
      agent: { id: 'demo-device', drainTimeoutMs: 2_000, logLevel: 'warn', logFormat: 'text' },
      admin: { listen: '127.0.0.1:0' },
      credentials: { demo: { privateKeyFile: keyFile } },
      sessions: [{
        id: 'demo', host: '127.0.0.1', port: gw.port, username: 'demo', credential: 'demo',
        hostKeys: { fingerprints: [gw.fingerprint] },
        forwards: [{ id: 'web', bind: '127.0.0.1', port: 0, target: service.url }],
      }],
      telemetry: { exporter: 'console' },
    } as never, { log, consoleSpans: out });

    const remotePort = await waitForForward(agent, 15_000);
    // Handlers first, then the lines: whoever waits for them may signal at once.
    shutdown = onShutdown({
      drain: async () => {
        out('stopping…');
        await cleanup();
        return 0;
      },
      stop: () => process.exit(1),
    });
    out('ssh-edge-agent demo — everything below runs on this machine, on loopback');
    out(`  gateway   ssh://127.0.0.1:${gw.port}  (host key ${gw.fingerprint})`);
    out(`  service   ${service.url}  (the service inside the "device")`);
    out(`  agent     session "demo" holds forward "web": gateway port ${remotePort} -> ${service.url}`);
    out('');
    out(`Open http://127.0.0.1:${remotePort}/ — the request travels through the reverse SSH tunnel.`);
    // From the sources (npm start) the CLI is `npm run dev --`; the installed build is `edge-agent`.
    const cli = import.meta.url.endsWith('.ts') ? 'npm run dev --' : 'npx edge-agent';
    out(`Agent status: ${agent.adminUrl}/status   (or: ${cli} status --admin ${agent.adminUrl})`);
    out('Each tunnelled connection is printed below as a span. Ctrl-C to stop.');
  } catch (err) {
    shutdown?.finish(1);
    await cleanup();
    throw err;
  }
  return shutdown.exitCode;
}

async function waitForForward(agent: AgentHandle, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await agent.status();
    const session = status.sessions[0];
    const fwd = session?.forwards[0];
    if (fwd?.state === 'up' && fwd.remotePort) return fwd.remotePort;
    if (session?.state === 'failed' || Date.now() > deadline) {
      throw new Error(`the demo tunnel did not come up: ${session?.lastError?.message ?? fwd?.lastError?.message ?? 'timed out'}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
