// The configuration layer (config/): convict schema + env overrides, JSON Schema of sessions,
// semantic and local-policy checks, every error at once naming its key, resolveSession with a
// real ssh-keygen key file, and masking for printing. Real files in a temp dir, no mocks.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, resolveSession, type AgentConfig, type SessionSpec } from '../../config/load-config.js';
import { maskConfig } from '../../config/mask.js';
import { buildConfigSchema, envVarFor, schemaLeaves } from '../../config/schema.js';
import { checkPolicy, parseAssignmentDocument, parseTargetPattern, validateSessions } from '../../config/validate-sessions.js';
import { checkBudget, DEFAULT_ALLOWED_TARGETS } from '../../config/policy.js';
import { parseListenAddress, parseSigningPublicKey } from '../../config/formats.js';
import { EdgeError } from '../../src/errors.js';
import { normaliseSession } from '../../src/session/session-config.js';

const EXAMPLE = fileURLToPath(new URL('../../config/example.json', import.meta.url));

let dir: string;
let keyFile: string;
let encryptedKeyFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(os.tmpdir(), 'edge-config-'));
  keyFile = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'config-test', '-f', keyFile]);
  encryptedKeyFile = join(dir, 'id_enc');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'hunter2-secret', '-C', 'config-test', '-f', encryptedKeyFile]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCounter = 0;
function writeConfig(doc: unknown): string {
  const file = join(dir, `config-${++fileCounter}.json`);
  writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2));
  return file;
}

const FP = 'SHA256:' + 'A'.repeat(43);

function session(overrides: Record<string, unknown> = {}, forwards: unknown[] = [{ id: 'web', port: 8080, target: 'http://127.0.0.1:3000' }]) {
  return { id: 'gw', host: 'gw.example.com', username: 'device-42', credential: 'default', hostKeys: { fingerprints: [FP] }, forwards, ...overrides };
}

function fullConfig(overrides: Record<string, unknown> = {}) {
  return {
    agent: { id: 'device-42', drainTimeoutMs: 5000, logLevel: 'debug', logFormat: 'text' },
    admin: { listen: '[::1]:9481' },
    credentials: { default: { privateKeyFile: '/etc/edge-agent/id_ed25519', passphraseEnv: 'KEY_PASS' } },
    policy: { allowedTargets: ['127.0.0.1:*', 'localhost:*', 'unix:*'], allowedBindAddresses: ['localhost', '127.0.0.1', '::1'] },
    sessions: [session()],
    assignments: { url: 'https://fleet.example.com/v1/assignments', tokenEnv: 'FLEET_TOKEN', caFile: '/etc/edge-agent/ca.pem', pollIntervalMs: 60000, cacheFile: '/var/lib/edge-agent/cache.json', signingPublicKey: '' },
    telemetry: { exporter: 'console' },
    ...overrides,
  };
}

/** Runs loadConfig expecting EDGE_ERR_INVALID_CONFIG; returns details.errors. */
function configErrors(options: Parameters<typeof loadConfig>[0]): string[] {
  try {
    loadConfig(options);
  } catch (err) {
    expect(err).toBeInstanceOf(EdgeError);
    expect((err as EdgeError).code).toBe('EDGE_ERR_INVALID_CONFIG');
    const errors = (err as EdgeError).details?.errors as string[];
    expect(Array.isArray(errors)).toBe(true);
    for (const e of errors) expect((err as EdgeError).message).toContain(e);
    return errors;
  }
  throw new Error('expected loadConfig to fail');
}

describe('loadConfig', () => {
  it('loads defaults with no file and no env', () => {
    const cfg = loadConfig({ env: {} });
    expect(cfg.agent).toEqual({ id: os.hostname(), drainTimeoutMs: 10000, logLevel: 'info', logFormat: 'json', stateDir: '', workerMaxHeapMb: 64, workerMaxYoungHeapMb: 2 });
    expect(cfg.admin.listen).toBe('127.0.0.1:9480');
    expect(cfg.credentials).toEqual({});
    // Loopback TCP only: no unix socket (docker.sock!) unless the operator lists it.
    expect(cfg.policy).toEqual({
      allowedTargets: ['127.0.0.1:*', 'localhost:*', '[::1]:*'], allowedBindAddresses: ['localhost', '127.0.0.1', '::1'], allowedLocalBindAddresses: ['localhost', '127.0.0.1', '::1'],
      allowedRemoteSockets: ['*'], maxSessions: 4, maxForwardsPerSession: 64, maxChannelsPerForward: 1000000,
      // What documents may set (config/document-policy.ts): nothing insecure, no CA file, the HTTP ceilings.
      allowInsecureAcceptAny: false, allowInsecureSkipVerify: false, allowedCaFiles: [], allowedKnownHostsFiles: ['*'], allowedSshHosts: ['*'],
      maxHttpConnectionsPerForward: 256, maxHttpPipelining: 10, maxHttpConcurrentRequestsPerForward: 1024, maxHttpRequestHeaderBytes: 32768,
    });
    expect(cfg.sessions).toEqual([]);
    expect(cfg.assignments).toEqual({ url: '', tokenEnv: 'EDGE_AGENT_TOKEN', caFile: '', pollIntervalMs: 30000, cacheFile: '', signingPublicKey: '', reportUrl: '', reportIntervalMs: 60000 });
    expect(cfg.telemetry.exporter).toBe('otlp');
    expect(cfg.origin.sources).toEqual(['defaults']);
    // The metadata is not part of the config: it can be fed back in as config JSON.
    expect(Object.keys(cfg)).not.toContain('origin');
    expect(loadConfig({ env: {}, argsJson: JSON.stringify(cfg) }).agent.id).toBe(os.hostname());
  });

  it('the document policy keys: booleans from env vars, ceilings within the schema range, file patterns checked', () => {
    const cfg = loadConfig({ env: { EDGE_AGENT_POLICY_ALLOW_INSECURE_SKIP_VERIFY: 'true', EDGE_AGENT_POLICY_ALLOWED_CA_FILES: '/etc/edge/ca/,/opt/ca.pem', EDGE_AGENT_POLICY_MAX_HTTP_PIPELINING: '3' } });
    expect(cfg.policy).toMatchObject({ allowInsecureSkipVerify: true, allowInsecureAcceptAny: false, allowedCaFiles: ['/etc/edge/ca/', '/opt/ca.pem'], maxHttpPipelining: 3 });
    const bad = (env: Record<string, string>) => { try { loadConfig({ env }); return ''; } catch (err) { return (err as Error).message; } };
    expect(bad({ EDGE_AGENT_POLICY_ALLOW_INSECURE_ACCEPT_ANY: 'yes' })).toMatch(/policy\.allowInsecureAcceptAny.*must be true or false/);
    expect(bad({ EDGE_AGENT_POLICY_MAX_HTTP_CONNECTIONS_PER_FORWARD: '100001' })).toMatch(/policy\.maxHttpConnectionsPerForward.*from 1 to 100000/);
    expect(bad({ EDGE_AGENT_POLICY_MAX_HTTP_REQUEST_HEADER_BYTES: '512' })).toMatch(/policy\.maxHttpRequestHeaderBytes.*from 1024 to 1048576/);
    expect(bad({ EDGE_AGENT_POLICY_ALLOWED_CA_FILES: 'ca/' })).toMatch(/policy\.allowedCaFiles\[0\]: invalid file pattern "ca\/".*\(from EDGE_AGENT_POLICY_ALLOWED_CA_FILES\)/);
    // policy.allowedSshHosts: comma-separated or a JSON array, IPv6 in brackets; bad patterns named with the variable.
    expect(loadConfig({ env: { EDGE_AGENT_POLICY_ALLOWED_SSH_HOSTS: 'gw.example.com,*.gw.example.com:22,[2001:db8::1]:2222' } }).policy.allowedSshHosts)
      .toEqual(['gw.example.com', '*.gw.example.com:22', '[2001:db8::1]:2222']);
    expect(loadConfig({ env: { EDGE_AGENT_POLICY_ALLOWED_SSH_HOSTS: '["10.0.0.0/8","[::1]"]' } }).policy.allowedSshHosts).toEqual(['10.0.0.0/8', '[::1]']);
    // A comma list may start with a bracketed IPv6 pattern (it is not JSON).
    expect(loadConfig({ env: { EDGE_AGENT_POLICY_ALLOWED_SSH_HOSTS: '[2001:db8::1]:22, gw' } }).policy.allowedSshHosts).toEqual(['[2001:db8::1]:22', 'gw']);
    expect(bad({ EDGE_AGENT_POLICY_ALLOWED_SSH_HOSTS: '2001:db8::1' })).toMatch(/policy\.allowedSshHosts\[0\]: invalid SSH host pattern "2001:db8::1": write IPv6 addresses in brackets.*\(from EDGE_AGENT_POLICY_ALLOWED_SSH_HOSTS\)/);
  });

  it('every schema key has a doc, a default, a format and its EDGE_AGENT_<PATH> env var', () => {
    const leaves = schemaLeaves(buildConfigSchema());
    expect(leaves.map((l) => l.key).sort()).toEqual([
      'admin.listen', 'agent.drainTimeoutMs', 'agent.id', 'agent.logFormat', 'agent.logLevel', 'agent.stateDir', 'agent.workerMaxHeapMb', 'agent.workerMaxYoungHeapMb',
      'assignments.cacheFile', 'assignments.caFile', 'assignments.pollIntervalMs', 'assignments.reportIntervalMs', 'assignments.reportUrl', 'assignments.signingPublicKey', 'assignments.tokenEnv', 'assignments.url',
      'credentials', 'policy.allowedBindAddresses', 'policy.allowedLocalBindAddresses', 'policy.allowedRemoteSockets', 'policy.allowedTargets', 'policy.maxChannelsPerForward', 'policy.maxForwardsPerSession', 'policy.maxSessions',
      'policy.allowInsecureAcceptAny', 'policy.allowInsecureSkipVerify', 'policy.allowedCaFiles', 'policy.allowedKnownHostsFiles', 'policy.allowedSshHosts',
      'policy.maxHttpConnectionsPerForward', 'policy.maxHttpPipelining', 'policy.maxHttpConcurrentRequestsPerForward', 'policy.maxHttpRequestHeaderBytes', 'sessions', 'telemetry.exporter',
    ].sort());
    for (const leaf of leaves) {
      expect(leaf.doc.length, leaf.key).toBeGreaterThan(10);
      expect(leaf.env, leaf.key).toBe(envVarFor(leaf.key));
    }
    expect(envVarFor('agent.drainTimeoutMs')).toBe('EDGE_AGENT_AGENT_DRAIN_TIMEOUT_MS');
    expect(envVarFor('admin.listen')).toBe('EDGE_AGENT_ADMIN_LISTEN');
    expect(envVarFor('agent.id')).toBe('EDGE_AGENT_AGENT_ID');
    expect(leaves.find((l) => l.key === 'assignments.url')?.sensitive).toBe(true);
  });

  it('loads a full valid file, filling session defaults', () => {
    const file = writeConfig(fullConfig());
    const cfg = loadConfig({ file, env: {} });
    expect(cfg.origin.file).toBe(file);
    expect(cfg.agent).toMatchObject({ id: 'device-42', drainTimeoutMs: 5000, logLevel: 'debug', logFormat: 'text' });
    expect(cfg.admin.listen).toBe('[::1]:9481');
    expect(cfg.assignments.tokenEnv).toBe('FLEET_TOKEN');
    expect(cfg.telemetry.exporter).toBe('console');
    expect(cfg.sessions).toHaveLength(1);
    const s = cfg.sessions[0]!;
    expect(s).toMatchObject({ id: 'gw', port: 22, connectTimeoutMs: 15000, handshakeTimeoutMs: 30000 });
    expect(s.keepalive).toEqual({ intervalMs: 30000, countMax: 5 });
    expect(s.reconnect).toEqual({ mode: 'always', retryIntervalMs: 5000, maxRetryIntervalMs: 60000, maxRetries: -1, stableAfterMs: 60000, authRetryIntervalMs: 60000 });
    expect(s.forwards[0]).toEqual({ id: 'web', bind: 'localhost', port: 8080, target: 'http://127.0.0.1:3000', allowOrigins: [], maxChannels: 1024, idleTimeoutMs: 0, maxBytesPerSecond: 0, targetConnectTimeoutMs: 10000 });
  });

  it('loads the shipped config/example.json', () => {
    const cfg = loadConfig({ file: EXAMPLE, env: {} });
    expect(cfg.sessions[0]!.host).toBe('127.0.0.1');
    expect(cfg.sessions[0]!.forwards.map((f) => [f.bind, f.port, f.target])).toEqual([
      ['localhost', 8080, 'http://127.0.0.1:3000'],
      ['localhost', 2222, 'tcp://127.0.0.1:22'],
    ]);
  });

  it('takes the file from EDGE_AGENT_CONFIG when no file option is given', () => {
    const file = writeConfig({ agent: { id: 'from-env-file' } });
    expect(loadConfig({ env: { EDGE_AGENT_CONFIG: file } }).agent.id).toBe('from-env-file');
  });

  it('lets env vars override file values', () => {
    const file = writeConfig(fullConfig());
    const cfg = loadConfig({
      file,
      env: {
        EDGE_AGENT_ADMIN_LISTEN: '127.0.0.1:19480',
        EDGE_AGENT_AGENT_DRAIN_TIMEOUT_MS: '2500',
        EDGE_AGENT_POLICY_ALLOWED_TARGETS: '127.0.0.1:*,db.lan:5432',
        EDGE_AGENT_TELEMETRY_EXPORTER: 'none',
      },
    });
    expect(cfg.admin.listen).toBe('127.0.0.1:19480');
    expect(cfg.agent.drainTimeoutMs).toBe(2500);
    expect(cfg.agent.id).toBe('device-42'); // untouched file value
    expect(cfg.policy.allowedTargets).toEqual(['127.0.0.1:*', 'db.lan:5432']);
    expect(cfg.telemetry.exporter).toBe('none');
    expect(cfg.origin.sources).toContain('EDGE_AGENT_ADMIN_LISTEN');
    // "" disables the admin server
    expect(loadConfig({ file, env: { EDGE_AGENT_ADMIN_LISTEN: '' } }).admin.listen).toBe('');
  });

  it('reads the whole config from EDGE_AGENT_CONFIG_JSON (no files), individual env vars still win', () => {
    const cfg = loadConfig({ env: { EDGE_AGENT_CONFIG_JSON: JSON.stringify(fullConfig()), EDGE_AGENT_AGENT_ID: 'env-id' } });
    expect(cfg.sessions[0]!.id).toBe('gw');
    expect(cfg.agent.id).toBe('env-id');
    expect(cfg.agent.logLevel).toBe('debug');
    expect(cfg.origin.sources).toEqual(['defaults', 'EDGE_AGENT_CONFIG_JSON', 'EDGE_AGENT_AGENT_ID']);
  });

  it('takes sessions and credentials as JSON env vars', () => {
    const cfg = loadConfig({
      env: {
        EDGE_AGENT_CREDENTIALS: JSON.stringify({ default: { agent: true } }),
        EDGE_AGENT_SESSIONS: JSON.stringify([session()]),
      },
    });
    expect(cfg.credentials).toEqual({ default: { agent: true } });
    expect(cfg.sessions[0]!.forwards[0]!.id).toBe('web');
    const errors = configErrors({ env: { EDGE_AGENT_SESSIONS: '[{"id": ', EDGE_AGENT_CREDENTIALS: '[]' } });
    expect(errors.some((e) => e.startsWith('sessions: EDGE_AGENT_SESSIONS must hold a JSON array'))).toBe(true);
    expect(errors.some((e) => e.startsWith('credentials: EDGE_AGENT_CREDENTIALS must hold a JSON object'))).toBe(true);
  });

  it('reports an unknown top-level key and an unknown nested key, naming both', () => {
    const errors = configErrors({ file: writeConfig({ ...fullConfig(), sesions: [] , agent: { id: 'x', logLevl: 'debug' } }), env: {} });
    expect(errors).toContainEqual(expect.stringMatching(/^sesions: unknown key/));
    expect(errors).toContainEqual(expect.stringMatching(/^agent\.logLevl: unknown key .*logLevel/));
    expect(errors).toHaveLength(2);
  });

  it('reports unknown keys inside sessions, forwards and credentials', () => {
    const cfg = fullConfig({
      credentials: { default: { privateKeyFile: '/k', pasphraseEnv: 'X' } },
      sessions: [session({ hostname: 'x' }, [{ id: 'web', port: 1, target: 'tcp://127.0.0.1:1', bindd: 'x' }])],
    });
    const errors = configErrors({ file: writeConfig(cfg), env: {} });
    expect(errors).toContainEqual(expect.stringMatching(/^credentials\.default\.pasphraseEnv: unknown key/));
    expect(errors).toContainEqual(expect.stringMatching(/^sessions\[0\]\.hostname: unknown key/));
    expect(errors).toContainEqual(expect.stringMatching(/^sessions\[0\]\.forwards\[0\]\.bindd: unknown key \(allowed: id, bind, port/));
  });

  it('reports a bad port with its JSON path', () => {
    const errors = configErrors({ file: writeConfig(fullConfig({ sessions: [session({}, [{ id: 'web', port: 70000, target: 'tcp://127.0.0.1:80' }])] })), env: {} });
    expect(errors).toEqual(['sessions[0].forwards[0].port: must be <= 65535 (got 70000)']);
  });

  it('reports an unknown credential with the known names', () => {
    const errors = configErrors({ file: writeConfig(fullConfig({ sessions: [session({ credential: 'x' })] })), env: {} });
    expect(errors).toEqual(['sessions[0].credential: unknown credential "x" (known: default)']);
  });

  it('reports a target and a bind address outside the local policy', () => {
    const errors = configErrors({
      file: writeConfig(fullConfig({ sessions: [session({}, [
        { id: 'lan', port: 8080, target: 'tcp://10.0.0.5:22' },
        { id: 'open', bind: '0.0.0.0', port: 8081, target: 'http://127.0.0.1:3000' },
      ])] })),
      env: {},
    });
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^sessions\[0\]\.forwards\[0\]\.target: target tcp:\/\/10\.0\.0\.5:22 .*not allowed by the local policy\.allowedTargets/);
    expect(errors[1]).toMatch(/^sessions\[0\]\.forwards\[1\]\.bind: bind address "0\.0\.0\.0" is not allowed by the local policy\.allowedBindAddresses/);
  });

  it('reports duplicate session ids and duplicate forward ids', () => {
    const errors = configErrors({
      file: writeConfig(fullConfig({ sessions: [session(), session({}, [
        { id: 'a', port: 8080, target: 'tcp://127.0.0.1:1' },
        { id: 'a', port: 8081, target: 'tcp://127.0.0.1:2' },
      ])] })),
      env: {},
    });
    expect(errors).toContainEqual(expect.stringMatching(/^sessions\[1\]\.id: duplicate session id "gw" \(also sessions\[0\]\.id\)/));
    expect(errors).toContainEqual(expect.stringMatching(/^sessions\[1\]\.forwards\[1\]\.id: duplicate forward id "a"/));
  });

  it('reports a session without host keys', () => {
    const errors = configErrors({ file: writeConfig(fullConfig({ sessions: [session({ hostKeys: { knownHostsFile: '', fingerprints: [] } })] })), env: {} });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^sessions\[0\]\.hostKeys: host keys must be configured/);
    const none = configErrors({ file: writeConfig(fullConfig({ sessions: [session({ hostKeys: undefined })] })), env: {} });
    expect(none[0]).toMatch(/^sessions\[0\]\.hostKeys: host keys must be configured/);
  });

  it('hostKeys.certificateAuthorities alone configures host keys; a bad CA line names its key', () => {
    const ca = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl fleet-ca';
    const ok = loadConfig({ file: writeConfig(fullConfig({ sessions: [session({ hostKeys: { certificateAuthorities: [ca] } })] })), env: {} });
    expect(ok.sessions[0]!.hostKeys.certificateAuthorities).toEqual([ca]);
    const errors = configErrors({ file: writeConfig(fullConfig({ sessions: [session({ hostKeys: { certificateAuthorities: [ca, 'ssh-ed25519 AAAA'] } })] })), env: {} });
    expect(errors).toEqual([expect.stringMatching(/^sessions\[0\]\.hostKeys\.certificateAuthorities\[1\] is not a CA public key/)]);
  });

  it('reports bad target URLs, fingerprints, origins, hosts and reconnect bounds with their keys', () => {
    const errors = configErrors({
      file: writeConfig(fullConfig({ sessions: [session({ host: 'bad host', hostKeys: { fingerprints: ['SHA256:nope'] }, reconnect: { retryIntervalMs: 10000, maxRetryIntervalMs: 5000 } }, [
        { id: 'a', port: 8080, target: '127.0.0.1:80', allowOrigins: ['10.0.0.0/8', 'not-an-ip'] },
      ])] })),
      env: {},
    });
    expect(errors).toContainEqual(expect.stringMatching(/^sessions\[0\]\.host: /));
    expect(errors).toContainEqual(expect.stringMatching(/^sessions\[0\]\.hostKeys\.fingerprints\[0\] is not a valid host key fingerprint/));
    expect(errors).toContainEqual(expect.stringMatching(/^sessions\[0\]\.forwards\[0\]\.target: invalid target URL "127\.0\.0\.1:80".*tcp:\/\/127\.0\.0\.1:80/));
    expect(errors).toContainEqual(expect.stringMatching(/^sessions\[0\]\.forwards\[0\]\.allowOrigins\[1\] "not-an-ip" is not an IP address/));
    expect(errors).toContainEqual(expect.stringMatching(/^sessions\[0\]\.reconnect\.maxRetryIntervalMs: must be at least/));
  });

  it('reports many problems from file, env and sessions at once, each naming its key', () => {
    const cfg = fullConfig({
      bogus: true,
      agent: { id: 'x', logLevel: 'loud' },
      admin: { listen: 'localhost' },
      telemetry: { exporter: 'zipkin' },
      credentials: { default: { privateKeyFile: '/k' }, empty: {} },
      sessions: [session({ credential: 'missing', port: 0 }, [{ id: 'a', port: -1, target: 'ftp://x' }])],
    });
    const errors = configErrors({ file: writeConfig(cfg), env: { EDGE_AGENT_AGENT_DRAIN_TIMEOUT_MS: '10s', EDGE_AGENT_ASSIGNMENTS_POLL_INTERVAL_MS: '0' } });
    const keys = errors.map((e) => /^[^: ]+/.exec(e)![0]);
    expect(keys).toEqual(expect.arrayContaining([
      'bogus', 'agent.logLevel', 'admin.listen', 'telemetry.exporter', 'agent.drainTimeoutMs', 'assignments.pollIntervalMs',
      'credentials.empty', 'sessions[0].port', 'sessions[0].credential', 'sessions[0].forwards[0].port', 'sessions[0].forwards[0].target',
    ]));
    expect(errors.find((e) => e.startsWith('agent.drainTimeoutMs'))).toContain('(from EDGE_AGENT_AGENT_DRAIN_TIMEOUT_MS)');
  });

  it('names the file when it is missing or not JSON', () => {
    const missing = join(dir, 'nope.json');
    expect(configErrors({ file: missing, env: {} })).toEqual([`config file ${missing}: cannot read it (no such file)`]);
    const broken = writeConfig('{\n  "agent": { "id": "x", }\n}');
    const errors = configErrors({ file: broken, env: {} });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^config file ${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid JSON: .*line 2`));
    expect(configErrors({ file: writeConfig('[1]'), env: {} })[0]).toMatch(/must contain a JSON object/);
    expect(configErrors({ env: { EDGE_AGENT_CONFIG_JSON: '{oops' } })[0]).toMatch(/^EDGE_AGENT_CONFIG_JSON: invalid JSON/);
  });

  it('does not crash on values of the wrong JSON type', () => {
    const errors = configErrors({ file: writeConfig({ agent: 5, admin: { listen: { host: 'x' } }, credentials: 'default', sessions: {}, policy: { allowedTargets: 'x' } }), env: {} });
    expect(errors.map((e) => e.split(':')[0]).sort()).toEqual(['admin.listen', 'agent', 'credentials', 'policy.allowedTargets', 'sessions']);
  });

  it('never echoes secrets in errors', () => {
    const errors = configErrors({
      file: writeConfig(fullConfig({ assignments: { url: 'ftp://fleet:s3cret-pass@x/a' } })),
      env: { EDGE_AGENT_ASSIGNMENTS_URL: 'not a url with s3cret-pass' },
    });
    expect(errors.join('\n')).not.toContain('s3cret-pass');
    expect(errors[0]).toMatch(/^assignments\.url: /);
  });
});

describe('checkPolicy', () => {
  const policy = {
    allowedTargets: ['127.0.0.1:*', 'localhost:8000-8999', '[::1]:22', '*.lan:5432', 'unix:/run/app/*'],
    allowedBindAddresses: ['localhost', '::1'],
  };
  it.each([
    ['tcp://127.0.0.1:22', undefined],
    ['http://127.0.0.1', undefined],
    ['http://localhost:8080', undefined],
    ['https://localhost', 'not allowed'], // 443 is outside 8000-8999
    ['tcp://[0:0::1]:22', undefined],
    ['tcp://[::1]:23', 'not allowed'],
    ['tcp://db.lan:5432', undefined],
    ['tcp://db.lan:5433', 'not allowed'],
    ['unix:/run/app/web.sock', undefined],
    ['unix:/run/app/../../etc/evil.sock', 'not allowed'],
    ['unix:/run/app/../app/web.sock', 'not allowed'], // ".." never matches a listed path (symlinks)
    ['unix:/tmp/x.sock', 'not allowed'],
    ['tcp://10.0.0.1:22', 'not allowed'],
    ['tcp://0x7f.1:22', undefined], // normalized to 127.0.0.1
  ])('target %s', (target, expected) => {
    const result = checkPolicy({ bind: 'localhost', target }, policy);
    if (expected === undefined) expect(result).toBeUndefined();
    else expect(result).toContain(expected);
  });

  it('allows no unix socket by default, and only the listed path or directory when listed', () => {
    const defaults = { allowedTargets: DEFAULT_ALLOWED_TARGETS, allowedBindAddresses: ['localhost'] };
    for (const target of ['unix:/var/run/docker.sock', 'http+unix:/var/run/docker.sock', 'unix:/run/app.sock']) {
      expect(checkPolicy({ target }, defaults), target).toMatch(/not allowed by the local policy\.allowedTargets/);
    }
    expect(checkPolicy({ target: 'tcp://127.0.0.1:80' }, defaults)).toBeUndefined();
    const listed = { allowedTargets: ['unix:/run/app.sock', 'unix:/allowed/dir/'], allowedBindAddresses: ['localhost'] };
    expect(checkPolicy({ target: 'unix:/run/app.sock' }, listed)).toBeUndefined();
    expect(checkPolicy({ target: 'http+unix:/run/app.sock' }, listed)).toBeUndefined();
    expect(checkPolicy({ target: 'unix:/run//app.sock' }, listed)).toBeUndefined(); // "//" normalised
    expect(checkPolicy({ target: 'unix:/run/app.sock2' }, listed)).toMatch(/not allowed/);
    expect(checkPolicy({ target: 'unix:/allowed/dir/a.sock' }, listed)).toBeUndefined();
    expect(checkPolicy({ target: 'unix:/allowed/dir/sub/a.sock' }, listed)).toBeUndefined();
    expect(checkPolicy({ target: 'unix:/allowed/dir/../../etc/x' }, listed)).toMatch(/not allowed/);
    expect(checkPolicy({ target: 'unix:/allowed/dir/./a.sock' }, listed)).toMatch(/not allowed/);
    expect(checkPolicy({ target: 'unix:/allowed/dirx/a.sock' }, listed)).toMatch(/not allowed/);
    expect(checkPolicy({ target: 'unix:/var/run/docker.sock' }, listed)).toMatch(/not allowed/);
    expect(() => parseTargetPattern('unix:/allowed/../etc/')).toThrow(/"\." or "\.\." segments/);
    expect(() => parseTargetPattern('unix:run/app.sock')).toThrow(/absolute path/);
  });

  it('budget: policy.maxSessions and policy.maxForwardsPerSession (remote + local + dynamic)', () => {
    const s = (id: string, n: number) => ({ id, forwards: Array.from({ length: n }, (_, i) => i), localForwards: [1], dynamicForwards: [1] });
    expect(checkBudget([s('a', 62), s('b', 1)], {})).toEqual([]);
    expect(checkBudget([s('a', 63)], {})).toEqual([expect.stringMatching(/^sessions\[0\] \(a\): 65 forwards .* exceed the local policy\.maxForwardsPerSession 64/)]);
    expect(checkBudget(['a', 'b', 'c', 'd', 'e'].map((id) => s(id, 0)), {})).toEqual([expect.stringMatching(/^sessions: 5 sessions exceed the local policy\.maxSessions 4/)]);
    expect(checkBudget(['a', 'b', 'c', 'd', 'e'].map((id) => s(id, 0)), { maxSessions: 5 })).toEqual([]);
  });

  it('a static config over budget is a config error', () => {
    const sessions = ['a', 'b', 'c', 'd', 'e'].map((id) => session({ id }));
    const errors = configErrors({ file: writeConfig(fullConfig({ sessions })), env: {} });
    expect(errors).toEqual([expect.stringMatching(/^sessions: 5 sessions exceed the local policy\.maxSessions 4/)]);
    expect(loadConfig({ file: writeConfig(fullConfig({ sessions, policy: { maxSessions: 5 } })), env: {} }).sessions).toHaveLength(5);
    expect(configErrors({ file: writeConfig(fullConfig({ policy: { maxSessions: 65 } })), env: {} })[0]).toMatch(/^policy\.maxSessions: must be an integer from 1 to 64/);
  });

  it('checks bind addresses exactly, "*" allows any', () => {
    expect(checkPolicy({ bind: '::1', target: 'tcp://127.0.0.1:1' }, policy)).toBeUndefined();
    expect(checkPolicy({ target: 'tcp://127.0.0.1:1' }, policy)).toBeUndefined(); // default bind: localhost
    expect(checkPolicy({ bind: '', target: 'tcp://127.0.0.1:1' }, policy)).toMatch(/all interfaces/);
    expect(checkPolicy({ bind: '0.0.0.0', target: 'tcp://127.0.0.1:1' }, { ...policy, allowedBindAddresses: ['*'] })).toBeUndefined();
  });

  it('rejects invalid patterns in the local config', () => {
    const errors = configErrors({ env: { EDGE_AGENT_POLICY_ALLOWED_TARGETS: '127.0.0.1:*,http://x:80,host:99999' } });
    expect(errors).toEqual([
      expect.stringMatching(/^policy\.allowedTargets\[1\]: invalid pattern "http:\/\/x:80"/),
      expect.stringMatching(/^policy\.allowedTargets\[2\]: invalid pattern "host:99999"/),
    ]);
  });
});

describe('assignment documents', () => {
  const ctx = { credentials: { default: { agent: true } }, policy: { allowedTargets: ['127.0.0.1:*'], allowedBindAddresses: ['localhost'] } };

  it('validates revision + sessions and fills defaults', () => {
    const { document, errors } = parseAssignmentDocument({ revision: 7, sessions: [session()] }, ctx);
    expect(errors).toEqual([]);
    expect(document!.revision).toBe(7);
    expect(document!.sessions[0]!.port).toBe(22);
  });

  it('cannot carry a policy or credentials, and is checked against the local policy', () => {
    const { document, errors } = parseAssignmentDocument({
      revision: 8,
      policy: { allowedTargets: ['*:*'] },
      sessions: [session({}, [{ id: 'lan', port: 80, target: 'tcp://192.168.1.10:80' }])],
    }, ctx);
    expect(document).toBeUndefined();
    expect(errors).toContainEqual(expect.stringMatching(/^policy: unknown key/));
    expect(errors).toContainEqual(expect.stringMatching(/^sessions\[0\]\.forwards\[0\]\.target: .*not allowed/));
    expect(parseAssignmentDocument({ sessions: [] }, ctx).errors).toEqual(['revision: is required']);
  });

  it('revision is a safe integer; expires is an RFC 3339 time; edge-agent check applies the budget', () => {
    const revisionErrors = parseAssignmentDocument({ revision: 1e308, sessions: [] }, ctx).errors;
    expect(revisionErrors).toEqual([expect.stringMatching(/^revision: must be <= 9007199254740991/)]);
    expect(parseAssignmentDocument({ revision: Number.MAX_SAFE_INTEGER, sessions: [] }, ctx).errors).toEqual([]);
    expect(parseAssignmentDocument({ revision: 1, expires: '2026-12-31T00:00:00Z', sessions: [] }, ctx).document?.expires).toBe('2026-12-31T00:00:00Z');
    expect(parseAssignmentDocument({ revision: 1, expires: 'tomorrow', sessions: [] }, ctx).errors).toEqual([expect.stringMatching(/^expires: must be matching /)]);
    expect(parseAssignmentDocument({ revision: 1, expires: '2026-13-45T00:00:00Z', sessions: [] }, ctx).errors).toEqual([expect.stringMatching(/^expires: "2026-13-45T00:00:00Z" is not a valid RFC 3339 time/)]);
    const five = ['a', 'b', 'c', 'd', 'e'].map((id) => session({ id }));
    expect(parseAssignmentDocument({ revision: 1, sessions: five }, ctx).errors).toEqual([expect.stringMatching(/^sessions: 5 sessions exceed the local policy\.maxSessions 4/)]);
    expect(parseAssignmentDocument({ revision: 1, sessions: five }, { ...ctx, policy: { ...ctx.policy, maxSessions: 5 } }).errors).toEqual([]);
  });

  it('remoteSocket forwards: exactly one of port and remoteSocket, absolute path, local policy.allowedRemoteSockets', () => {
    const ok = parseAssignmentDocument({ revision: 9, sessions: [session({}, [{ id: 'web', remoteSocket: '/run/edge/device-42.sock', target: 'http://127.0.0.1:3000' }])] }, ctx);
    expect(ok.errors).toEqual([]);
    expect(ok.document!.sessions[0]!.forwards[0]).toMatchObject({ remoteSocket: '/run/edge/device-42.sock' });
    expect(ok.document!.sessions[0]!.forwards[0]!.bind).toBeUndefined(); // no bind default on a socket forward
    const tcp = parseAssignmentDocument({ revision: 9, sessions: [session()] }, ctx);
    expect(tcp.document!.sessions[0]!.forwards[0]!.bind).toBe('localhost');

    const errs = (forwards: unknown[], policy: object = ctx.policy) => validateSessions([session({}, forwards)], { ...ctx, policy: policy as typeof ctx.policy });
    expect(errs([{ id: 'a', remoteSocket: '/run/a.sock', port: 80, target: 'tcp://127.0.0.1:1' }])).toEqual([expect.stringMatching(/^sessions\[0\]\.forwards\[0\]\.port: a forward listens either on a remoteSocket or on bind\/port/)]);
    expect(errs([{ id: 'a', remoteSocket: '/run/a.sock', bind: '0.0.0.0', target: 'tcp://127.0.0.1:1' }])).toEqual([expect.stringMatching(/forwards\[0\]\.bind: a forward listens either/)]);
    expect(errs([{ id: 'a', target: 'tcp://127.0.0.1:1' }])).toEqual([expect.stringMatching(/forwards\[0\]\.port: is required \(or give remoteSocket/)]);
    expect(errs([{ id: 'a', remoteSocket: 'run/a.sock', target: 'tcp://127.0.0.1:1' }])).toContainEqual(expect.stringMatching(/forwards\[0\]\.remoteSocket: must be/));
    expect(errs([{ id: 'a', remoteSocket: '/run/a.sock', target: 'tcp://127.0.0.1:1' }, { id: 'b', remoteSocket: '/run/a.sock', target: 'tcp://127.0.0.1:2' }]))
      .toEqual([expect.stringMatching(/forwards\[1\]\.remoteSocket: \/run\/a\.sock is already requested by/)]);
    const bounded = { ...ctx.policy, allowedRemoteSockets: ['/run/edge/*.sock'] };
    expect(errs([{ id: 'a', remoteSocket: '/run/edge/device-42.sock', target: 'tcp://127.0.0.1:1' }], bounded)).toEqual([]);
    expect(errs([{ id: 'a', remoteSocket: '/tmp/elsewhere.sock', target: 'tcp://127.0.0.1:1' }], bounded))
      .toEqual([expect.stringMatching(/forwards\[0\]\.remoteSocket: remote socket "\/tmp\/elsewhere.sock" is not allowed by the local policy.allowedRemoteSockets/)]);
    // a fleet document's forward outside the policy is refused alone, and reported with its socket
    const refused = parseAssignmentDocument({ revision: 10, sessions: [session({}, [{ id: 'a', remoteSocket: '/tmp/x.sock', target: 'tcp://127.0.0.1:1' }])] }, { ...ctx, policy: bounded }, { policy: 'refuse-forwards' });
    expect(refused.refusedForwards).toEqual([expect.objectContaining({ forward: 'a', remoteSocket: '/tmp/x.sock', reason: expect.stringContaining('allowedRemoteSockets') })]);
  });

  it('several gateways: hosts instead of host/port, strategy and failbackAfterMs only with hosts', () => {
    const { host: _h, ...noHost } = session() as Record<string, unknown>;
    const multi = { ...noHost, hosts: ['gw1.example.com:22', '[2001:db8::1]:2222', 'gw3'], strategy: 'all', failbackAfterMs: 5000 };
    const ok = parseAssignmentDocument({ revision: 11, sessions: [multi] }, ctx);
    expect(ok.errors).toEqual([]);
    expect(ok.document!.sessions[0]!.port).toBeUndefined();
    const resolved = resolveSession(ok.document!.sessions[0]!, { credentials: { default: { passwordEnv: 'PW' } } }, { PW: 'x' });
    expect(resolved).toMatchObject({ host: 'gw1.example.com', port: 22, strategy: 'all', failbackAfterMs: 5000,
      hosts: [{ host: 'gw1.example.com', port: 22 }, { host: '2001:db8::1', port: 2222 }, { host: 'gw3', port: 22 }] });

    const errs = (s: object) => validateSessions([s], ctx);
    expect(errs({ ...multi, host: 'gw' })).toEqual([expect.stringMatching(/^sessions\[0\]\.host: give either host\/port or hosts, not both/)]);
    expect(errs({ ...multi, hosts: ['gw:22', 'gw'] })).toEqual([expect.stringMatching(/sessions\[0\]\.hosts\[1\]: gw:22 is listed twice/)]);
    expect(errs({ ...multi, hosts: ['2001:db8::1:22'] })).toEqual([expect.stringMatching(/hosts\[0\]: write an IPv6 address in brackets/)]);
    expect(errs({ ...multi, strategy: 'random' })).toContainEqual(expect.stringMatching(/sessions\[0\]\.strategy: must be one of "failover", "all"/));
    expect(errs({ ...noHost, strategy: 'all' })).toContainEqual(expect.stringMatching(/sessions\[0\]\.host: is required \(or give hosts/));
    expect(errs({ ...session(), strategy: 'all' })).toEqual([expect.stringMatching(/sessions\[0\]\.strategy: only applies to a session with several gateways/)]);
    expect(errs({ ...multi, localForwards: [{ id: 'l', port: 1, host: 'h', hostPort: 1 }] })).toEqual([expect.stringMatching(/sessions\[0\]\.localForwards: .*one gateway/)]);
  });

  it('validateSessions uses the given path', () => {
    expect(validateSessions([session({ port: 70000 })], ctx, 'doc.sessions')).toEqual(['doc.sessions[0].port: must be <= 65535 (got 70000)']);
    expect(validateSessions('x', ctx)).toEqual(['sessions: must be an array (got "x")']);
  });
});

describe('resolveSession', () => {
  function configWith(credentials: AgentConfig['credentials'], spec: Record<string, unknown> = {}): { config: AgentConfig; spec: SessionSpec } {
    const config = loadConfig({ env: {}, argsJson: JSON.stringify({ credentials, sessions: [session({ hostKeys: { knownHostsFile: '', fingerprints: [FP] }, ...spec })] }) });
    return { config, spec: config.sessions[0]! };
  }

  it('reads a real key file and fills defaults; the session core accepts the result', () => {
    const { config, spec } = configWith({ default: { privateKeyFile: keyFile } });
    const input = resolveSession(spec, config, {});
    expect(input.auth.username).toBe('device-42');
    expect(input.auth.privateKeys).toHaveLength(1);
    expect(input.auth.privateKeys![0]!.source).toBe(keyFile);
    expect(input.auth.privateKeys![0]!.key.toString()).toBe(readFileSync(keyFile, 'utf8'));
    expect(ssh2.utils.parseKey(input.auth.privateKeys![0]!.key)).not.toBeInstanceOf(Error);
    expect(input.hostKeys).toEqual({ fingerprints: [FP] }); // "" knownHostsFile dropped
    const full = normaliseSession(input);
    expect(full).toMatchObject({ id: 'gw', host: 'gw.example.com', port: 22, connectTimeoutMs: 15000 });
    expect(full.forwards[0]).toMatchObject({ id: 'web', bind: 'localhost', port: 8080, target: 'http://127.0.0.1:3000', maxChannels: 1024 });
  });

  it('credentials.NAME.certificateFile travels as a path (the session reads it at every attempt); it needs a privateKeyFile', () => {
    const { config, spec } = configWith({ default: { privateKeyFile: keyFile, certificateFile: '/etc/edge-agent/id_ed25519-cert.pub' } });
    expect(resolveSession(spec, config, {}).auth.privateKeys![0]!.certificateFile).toBe('/etc/edge-agent/id_ed25519-cert.pub');
    expect(() => configWith({ default: { agent: true, certificateFile: '/x-cert.pub' } })).toThrow(/credentials\.default\.certificateFile: a certificate is used with its private key/);
  });

  it('takes the passphrase and password from the named env vars, the agent from SSH_AUTH_SOCK', () => {
    const { config, spec } = configWith({ default: { privateKeyFile: encryptedKeyFile, passphraseEnv: 'KEY_PASS', passwordEnv: 'SSH_PASS', agent: true } });
    const input = resolveSession(spec, config, { KEY_PASS: 'hunter2-secret', SSH_PASS: 'pw', SSH_AUTH_SOCK: '/tmp/agent.sock' });
    expect(input.auth.privateKeys![0]!.passphrase).toBe('hunter2-secret');
    expect(ssh2.utils.parseKey(input.auth.privateKeys![0]!.key, 'hunter2-secret')).not.toBeInstanceOf(Error);
    expect(input.auth.password).toBe('pw');
    expect(input.auth.agent).toBe('/tmp/agent.sock');

    const { config: c2, spec: s2 } = configWith({ default: { agent: '/run/agent.sock' } });
    expect(resolveSession(s2, c2, {}).auth).toEqual({ username: 'device-42', agent: '/run/agent.sock' });
  });

  it('names the credential key when the key file is unreadable or an env var is missing; never a secret', () => {
    const missing = join(dir, 'no-such-key');
    const { config, spec } = configWith({ default: { privateKeyFile: missing } });
    expect(() => resolveSession(spec, config, {})).toThrow(/^credentials\.default\.privateKeyFile: cannot read the private key file .*no-such-key \(no such file\)/);

    const unreadable = join(dir, 'unreadable-key');
    writeFileSync(unreadable, readFileSync(keyFile));
    chmodSync(unreadable, 0o000);
    const { config: c3, spec: s3 } = configWith({ default: { privateKeyFile: unreadable } });
    let readable = false;
    try { readFileSync(unreadable); readable = true; } catch { /* expected unless root */ }
    if (!readable) expect(() => resolveSession(s3, c3, {})).toThrow(/^credentials\.default\.privateKeyFile: .*permission denied/);

    const { config: c2, spec: s2 } = configWith({ default: { privateKeyFile: keyFile, passphraseEnv: 'KEY_PASS', passwordEnv: 'SSH_PASS' } });
    let err: unknown;
    try { resolveSession(s2, c2, { KEY_PASS: 'hunter2-secret' }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(EdgeError);
    expect((err as EdgeError).message).toMatch(/^credentials\.default\.passwordEnv: environment variable SSH_PASS is not set/);
    expect((err as EdgeError).message).not.toContain('hunter2-secret');
  });
});

describe('maskConfig', () => {
  it('shows which credential fields are set, env var names, and masks the endpoint userinfo', () => {
    const cfg = loadConfig({
      env: {},
      argsJson: JSON.stringify(fullConfig({
        credentials: { default: { privateKeyFile: '/secret/path/id_ed25519', passphraseEnv: 'KEY_PASS', passwordEnv: 'SSH_PASS', agent: '/secret/agent.sock' } },
        assignments: { url: 'https://fleet:hunter2@fleet.example.com/v1/a?token=abc123', reportUrl: 'https://fleet.example.com/v1/report?key=rep0rt' },
      })),
    });
    const masked = maskConfig(cfg) as AgentConfig;
    expect(masked.assignments.reportUrl).toBe('https://fleet.example.com/v1/report?key=***');
    expect(masked.credentials.default).toEqual({ privateKeyFile: '[set]', passphraseEnv: 'KEY_PASS', passwordEnv: 'SSH_PASS', agent: '[set]' });
    const text = JSON.stringify(masked);
    for (const secret of ['/secret/path', 'hunter2', 'abc123', 'rep0rt', '/secret/agent.sock']) expect(text).not.toContain(secret);
    expect(masked.assignments.url).toBe('https://***:***@fleet.example.com/v1/a?token=***');
    expect(masked.sessions[0]!.id).toBe('gw');
    // the original is untouched
    expect(cfg.credentials.default!.privateKeyFile).toBe('/secret/path/id_ed25519');
  });
});

describe('formats', () => {
  it('parses admin listen addresses', () => {
    expect(parseListenAddress('127.0.0.1:9480')).toEqual({ host: '127.0.0.1', port: 9480 });
    expect(parseListenAddress('[::1]:9480')).toEqual({ host: '::1', port: 9480 });
    expect(parseListenAddress('localhost:0')).toEqual({ host: 'localhost', port: 0 });
    for (const bad of ['::1:9480', 'localhost', ':9480', 'h:70000', '[127.0.0.1]:1']) expect(() => parseListenAddress(bad)).toThrow();
  });

  it('accepts an ed25519 signing key as PEM, OpenSSH line or raw base64', () => {
    const pub = readFileSync(`${keyFile}.pub`, 'utf8').trim();
    const fromSsh = parseSigningPublicKey(pub);
    const pem = fromSsh.export({ type: 'spki', format: 'pem' }).toString();
    expect(parseSigningPublicKey(pem).equals(fromSsh)).toBe(true);
    const raw = Buffer.from(fromSsh.export({ format: 'jwk' }).x!, 'base64url').toString('base64');
    expect(parseSigningPublicKey(raw).equals(fromSsh)).toBe(true);
    expect(loadConfig({ env: { EDGE_AGENT_ASSIGNMENTS_SIGNING_PUBLIC_KEY: pub } }).assignments.signingPublicKey).toBe(pub);
    expect(configErrors({ env: { EDGE_AGENT_ASSIGNMENTS_SIGNING_PUBLIC_KEY: 'ssh-rsa AAAA' } })[0]).toMatch(/^assignments\.signingPublicKey: /);
  });
});
