// The gateway under measurement for bench/gateway-fleet.ts, alone in its own process (run with
// --expose-gc): reports where it listens, then answers 'measure' with its memory after a full GC.
import { readFileSync } from 'node:fs';
import { Gateway } from '../../src/gateway/gateway.js';

const [dir, maxConnections] = process.argv.slice(2);
const gateway = new Gateway({
  listen: { host: '127.0.0.1', port: 0 },
  hostKeyFile: `${dir}/host_key`,
  authorizedKeysFile: `${dir}/authorized_keys`,
  maxConnections: Number(maxConnections),
  adminListen: { host: '127.0.0.1', port: 0 },
});
const info = await gateway.start();
process.send!({ type: 'started', port: info.port, fingerprint: info.fingerprint, adminPort: info.adminPort });

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'measure') {
    const gc = (globalThis as { gc?: () => void }).gc;
    for (let i = 0; i < 3; i++) gc?.();
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;
    const m = process.memoryUsage();
    const s = gateway.status();
    process.send!({ type: 'memory', rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, connections: s.connections.length, ports: s.ports.length });
  } else if (msg.type === 'time-status') {
    // Server-side cost of one /status answer: building the object and serialising it.
    const t0 = performance.now();
    const status = gateway.status();
    const t1 = performance.now();
    const body = JSON.stringify(status);
    const t2 = performance.now();
    process.send!({ type: 'status-time', buildMs: t1 - t0, stringifyMs: t2 - t1, bytes: body.length });
  } else if (msg.type === 'stop') {
    void gateway.destroy().then(() => process.exit(0));
  }
});
