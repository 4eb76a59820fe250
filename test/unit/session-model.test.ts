// One session/forward model: config/session-schema.ts declares every default once, and every
// way in — config file, assignment document, `edge-agent tunnel` flags, the library — comes out
// of normaliseSession carrying exactly those defaults, deep-frozen. The supervisor resolves a
// session (reads its key files) only when its spec changed, and a forward is compiled once.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, resolveSession } from '../../config/load-config.js';
import { ASSIGNMENT_SCHEMA } from '../../config/session-schema.js';
import { parseAssignmentDocument } from '../../config/validate-sessions.js';
import { parseTunnelArgs, type TunnelCommand } from '../../src/cli/tunnel-command.js';
import { createLogger } from '../../src/log.js';
import { ForwardRuntime } from '../../src/session/forward-runtime.js';
import { normaliseSession, type SessionConfig, type SessionConfigInput } from '../../src/session/session-config.js';
import { TunnelSession } from '../../src/session/tunnel-session.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';

const FP = 'SHA256:' + 'A'.repeat(43);
const credentials = { dev: { agent: '/run/edge/agent.sock' } };
const session = {
  id: 'gw', host: 'gw.example.com', username: 'dev', credential: 'dev', hostKeys: { fingerprints: [FP] },
  forwards: [{ id: 'web', port: 8080, target: 'tcp://127.0.0.1:3000' }],
  localForwards: [{ id: 'db', port: 5432, host: 'db.lan', hostPort: 5432 }],
  dynamicForwards: [{ id: 'socks', port: 1080 }],
};
const policy = { allowedTargets: ['127.0.0.1:*'], allowedBindAddresses: ['localhost'] };

/** The four ways in, each ending in the SessionConfig a worker runs. */
const WAYS: Record<string, () => Readonly<SessionConfig>> = {
  'config file': () => {
    const cfg = loadConfig({ argsJson: JSON.stringify({ credentials, policy, sessions: [session] }), env: {} });
    return resolveSession(cfg.sessions[0]!, cfg, {});
  },
  'assignment document': () => {
    const cfg = loadConfig({ argsJson: JSON.stringify({ credentials, policy }), env: {} });
    const parsed = parseAssignmentDocument({ revision: 1, sessions: [session] }, cfg);
    expect(parsed.errors).toEqual([]);
    return resolveSession(parsed.document!.sessions[0]!, cfg, {});
  },
  'edge-agent tunnel flags': () =>
    (parseTunnelArgs(['-R', '8080:127.0.0.1:3000', '-L', '5432:db.lan:5432', '-D', '1080', '--fingerprint', FP, '-i', keyFile, 'dev@gw.example.com'], {}) as TunnelCommand).session,
  'library (TunnelSession)': () => new TunnelSession({
    host: 'gw.example.com', auth: { username: 'dev', password: 'pw' }, hostKeys: { fingerprints: [FP] },
    forwards: [{ port: 8080, target: 'tcp://127.0.0.1:3000' }], localForwards: [{ port: 5432, host: 'db.lan', hostPort: 5432 }], dynamicForwards: [{ port: 1080 }],
  }).config,
};

const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-model-'));
const keyFile = path.join(dir, 'id_ed25519');
writeFileSync(keyFile, 'not read until the session connects');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Mutable = { default: unknown };
/** Runs `fn` with some schema defaults changed: a default restated anywhere else would not follow. */
function withChangedDefaults<T>(fn: () => T): T {
  const defs = ASSIGNMENT_SCHEMA.$defs;
  const changed: Array<[Mutable, unknown]> = [
    [defs.keepalive.properties.countMax, 7],
    [defs.reconnect.properties.retryIntervalMs, 1234],
    [defs.session.properties.connectTimeoutMs, 4321],
    [defs.forward.properties.maxChannels, 77],
    [defs.forward.properties.targetConnectTimeoutMs, 2345],
    [defs.localForward.properties.sessionWaitMs, 3456],
    [defs.dynamicForward.properties.openTimeoutMs, 5678],
  ].map(([node, value]) => {
    const m = node as unknown as Mutable;
    const old = m.default;
    m.default = value;
    return [m, old];
  });
  try {
    return fn();
  } finally {
    for (const [m, old] of changed) m.default = old;
  }
}

describe('one session model', () => {
  for (const [way, load] of Object.entries(WAYS)) {
    it(`${way}: carries the schema's defaults, from the schema alone`, () => {
      const d = ASSIGNMENT_SCHEMA.$defs;
      const config = load();
      expect(config.keepalive).toEqual({ intervalMs: d.keepalive.properties.intervalMs.default, countMax: d.keepalive.properties.countMax.default });
      expect(config.connectTimeoutMs).toBe(d.session.properties.connectTimeoutMs.default);
      expect(config.forwards[0]).toMatchObject({ bind: 'localhost', maxChannels: d.forward.properties.maxChannels.default, http: { pipelining: d.forward.properties.http.properties.pipelining.default } });
      expect(config.localForwards[0]).toMatchObject({ allowRelay: false, sessionWaitMs: d.localForward.properties.sessionWaitMs.default });

      const changed = withChangedDefaults(load);
      expect(changed.keepalive.countMax).toBe(7);
      expect(changed.reconnect.retryIntervalMs).toBe(1234);
      expect(changed.connectTimeoutMs).toBe(4321);
      expect(changed.forwards[0]).toMatchObject({ maxChannels: 77, targetConnectTimeoutMs: 2345 });
      expect(changed.localForwards[0]!.sessionWaitMs).toBe(3456);
      expect(changed.dynamicForwards[0]!.openTimeoutMs).toBe(5678);
    });

    it(`${way}: the SessionConfig is deep-frozen`, () => {
      const config = load();
      for (const part of [config, config.keepalive, config.reconnect, config.hostKeys, config.forwards, config.forwards[0], config.forwards[0]!.http, config.localForwards[0], config.dynamicForwards[0]!.allowDestinations]) {
        expect(Object.isFrozen(part)).toBe(true);
      }
      expect(() => { (config.keepalive as { countMax: number }).countMax = 1; }).toThrow(TypeError);
      expect(() => { (config.forwards as unknown[]).push({}); }).toThrow(TypeError);
    });
  }

  it('normaliseSession returns a normalised session as it is (nothing is filled in twice)', () => {
    const once = normaliseSession({ host: 'h', auth: { username: 'u' }, forwards: [{ port: 1, target: 'tcp://127.0.0.1:1' }] });
    expect(normaliseSession(once)).toBe(once);
    expect(once.id).toBe('h:22');
  });

  it('a forward is compiled (its target parsed) once: validation and the runtime share the result', () => {
    const s = new TunnelSession({ host: 'h', auth: { username: 'u', password: 'p' }, hostKeys: { insecureAcceptAny: true }, forwards: [{ id: 'f', port: 1, target: 'http://127.0.0.1:3000' }] });
    const config = s.config.forwards[0]!;
    const compiled = ForwardRuntime.compile(config);
    expect(ForwardRuntime.compile(config)).toBe(compiled);
    const runtime = (s as unknown as { remote: { forwards: Map<string, ForwardRuntime> } }).remote.forwards.get('f')!;
    expect(runtime.target).toBe(compiled.target);
    // A config that is not normalised (mutable) is compiled afresh each time.
    const loose = { ...config };
    expect(ForwardRuntime.compile(loose)).not.toBe(ForwardRuntime.compile(loose));
  });
});

describe('Supervisor.apply', () => {
  it('resolves a session only when its spec changed; an unchanged one is not resolved again', async () => {
    const resolved: string[] = [];
    // Port 1 on loopback refuses: the sessions sit in reconnect backoff, which is all this needs.
    const spec = (id: string, maxChannels: number): SessionConfigInput & { id: string } => ({
      id, host: '127.0.0.1', port: 1, auth: { username: 'u', password: 'p' }, hostKeys: { insecureAcceptAny: true },
      forwards: [{ id: 'f', port: 0, target: 'tcp://127.0.0.1:1', maxChannels }],
    });
    const supervisor = new Supervisor<SessionConfigInput & { id: string }>({
      log: createLogger({ level: 'error', write: () => {} }),
      resolve: (s) => { resolved.push(s.id!); return s; },
      drainTimeoutMs: 100,
    });
    try {
      await supervisor.apply([spec('a', 10), spec('b', 10)]);
      expect(resolved.sort()).toEqual(['a', 'b']);
      const threadA = supervisor.handle('a');
      resolved.length = 0;
      await supervisor.apply([spec('a', 10), spec('b', 10)]);
      expect(resolved).toEqual([]);
      await supervisor.apply([spec('a', 10), spec('b', 20)]); // b's forward list changed: only b
      expect(resolved).toEqual(['b']);
      expect(supervisor.handle('a')).toBe(threadA);
    } finally {
      await supervisor.destroy();
    }
  });
});
