// Library start-up figure: a fresh Node process imports the built package, calls startAgent()
// with N sessions (each in its own worker thread, one echo forward each) and reports the time
// from the startAgent() call to the first forward up and to all forwards up, then its RSS once
// idle. Plain JavaScript on the built output, as an application using the library would run.
// argv[2]: JSON { index, host, port, username, keyPath, knownHostsPath, echoPort, sessions, settleMs }
const opts = JSON.parse(process.argv[2]);
const tImport = performance.now();
const { startAgent } = await import(opts.index);
const importMs = performance.now() - tImport;

const sessions = Array.from({ length: opts.sessions }, (_, i) => ({
  id: `s${i + 1}`,
  host: opts.host,
  port: opts.port,
  username: opts.username,
  credential: 'k',
  hostKeys: { knownHostsFile: opts.knownHostsPath },
  forwards: [{ id: 'echo', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${opts.echoPort}` }],
}));
const up = new Set();
let firstUpMs = null;
let allUpMs = null;
let resolveAll;
const allUp = new Promise((r) => { resolveAll = r; });
const t0 = performance.now();
const agent = await startAgent({
  agent: { logLevel: 'warn', logFormat: 'text' },
  admin: { listen: '' },
  telemetry: { exporter: 'none' },
  credentials: { k: { privateKeyFile: opts.keyPath } },
  sessions,
}, {
  log: () => {},
  onEvent: (sessionId, event) => {
    if (event.type === 'forward' && event.status.state === 'up' && !up.has(sessionId)) {
      up.add(sessionId);
      const ms = performance.now() - t0;
      firstUpMs ??= ms;
      if (up.size === sessions.length) { allUpMs = ms; resolveAll(); }
    }
  },
});
const timeout = setTimeout(() => { process.stdout.write(JSON.stringify({ error: `only ${up.size}/${sessions.length} forwards up after 30 s` }) + '\n'); process.exit(1); }, 30_000);
await allUp;
clearTimeout(timeout);
await new Promise((r) => setTimeout(r, opts.settleMs ?? 1500));
globalThis.gc?.();
const rssBytes = process.memoryUsage().rss;
const status = await agent.status();
const crypto = status.sessions.map((s) => s.crypto ?? null);
process.stdout.write(JSON.stringify({ importMs, firstUpMs, allUpMs, rssBytes, crypto }) + '\n');
await agent.destroy();
process.exit(0);
