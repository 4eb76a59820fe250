// Fleet assignments, the parts without a network: detached ed25519 signatures (and the keys
// `edge-agent sign` reads and makes), jitter/backoff/Retry-After arithmetic, the atomic cache
// file, and policy refusal of single forwards in remote documents.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSigningPublicKey } from '../../config/formats.js';
import { filePathAllowed } from '../../config/document-policy.js';
import { sshHostAllowed } from '../../config/ssh-host-policy.js';
import { validatePolicy } from '../../config/policy.js';
import { parseAssignmentDocument, parseSessions } from '../../config/validate-sessions.js';
import { AssignmentApplier } from '../../src/assignments/assignment-applier.js';
import { CACHE_FORMAT, readAssignmentCache, writeAssignmentCache } from '../../src/assignments/cache.js';
import { errorBackoffMs, jitteredIntervalMs, parseRetryAfterMs } from '../../src/assignments/remote-source.js';
import { loadSigningPrivateKey, parseSignatureHeader, signAssignmentBody, verifyAssignmentSignature } from '../../src/assignments/signature.js';
import { runSignCommand, SIGN_USAGE } from '../../src/cli/sign-command.js';
import { UsageError } from '../../src/cli/usage-error.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'edge-assign-unit-'));

describe('signatures', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const other = generateKeyPairSync('ed25519');
  const body = Buffer.from('{"revision":3,"sessions":[]}');

  it('verifies ed25519=<base64> over the exact body bytes', () => {
    const header = signAssignmentBody(body, privateKey);
    expect(header).toMatch(/^ed25519=[A-Za-z0-9+/]{86}==$/);
    expect(verifyAssignmentSignature(body, header, publicKey)).toEqual({ ok: true });
    // one byte more (even whitespace) breaks it
    expect(verifyAssignmentSignature(Buffer.concat([body, Buffer.from('\n')]), header, publicKey)).toMatchObject({ ok: false, missing: false });
  });

  it('rejects unsigned, malformed and other-key signatures with a reason', () => {
    expect(verifyAssignmentSignature(body, undefined, publicKey)).toMatchObject({ ok: false, missing: true, reason: expect.stringContaining('unsigned') });
    expect(verifyAssignmentSignature(body, '  ', publicKey)).toMatchObject({ ok: false, missing: true });
    expect(verifyAssignmentSignature(body, 'ed25519=abc', publicKey)).toMatchObject({ ok: false, missing: false, reason: expect.stringContaining('no "ed25519=') });
    expect(verifyAssignmentSignature(body, 'rsa=AAAA', publicKey)).toMatchObject({ ok: false, missing: false });
    expect(verifyAssignmentSignature(body, signAssignmentBody(body, other.privateKey), publicKey)).toMatchObject({ ok: false, reason: expect.stringContaining('does not verify') });
  });

  it('accepts any one valid entry among several (key rotation), base64url, and several headers', () => {
    const good = signAssignmentBody(body, privateKey);
    const bad = signAssignmentBody(body, other.privateKey);
    expect(verifyAssignmentSignature(body, `${bad}, ${good}`, publicKey)).toEqual({ ok: true });
    expect(verifyAssignmentSignature(body, [bad, good], publicKey)).toEqual({ ok: true });
    const url = good.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    expect(verifyAssignmentSignature(body, url, publicKey)).toEqual({ ok: true });
    expect(parseSignatureHeader(`hmac=xyz, ${good}`)).toHaveLength(1);
  });

  it('reads PEM and OpenSSH ed25519 private keys; refuses other key types', () => {
    const dir = tmp();
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'ossh')]);
    const ossh = loadSigningPrivateKey(readFileSync(path.join(dir, 'ossh')));
    const pub = parseSigningPublicKey(readFileSync(path.join(dir, 'ossh.pub'), 'utf8'));
    expect(verifyAssignmentSignature(body, signAssignmentBody(body, ossh), pub)).toEqual({ ok: true });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'pw', '-f', path.join(dir, 'enc')]);
    expect(() => loadSigningPrivateKey(readFileSync(path.join(dir, 'enc')))).toThrow();
    expect(loadSigningPrivateKey(readFileSync(path.join(dir, 'enc')), 'pw').asymmetricKeyType).toBe('ed25519');
    const pem = loadSigningPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    expect(verifyAssignmentSignature(body, signAssignmentBody(body, pem), publicKey)).toEqual({ ok: true });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(() => loadSigningPrivateKey(rsa)).toThrow(/ed25519/);
  });
});

describe('edge-agent sign', () => {
  async function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
    let stdout = '';
    let stderr = '';
    const code = await runSignCommand(argv, { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, env, stdin: async () => Buffer.from('{"revision":1,"sessions":[]}') });
    return { code, stdout, stderr };
  }

  it('--keygen writes a key pair and prints the public key the agent accepts; sign prints a header value that verifies', async () => {
    const dir = tmp();
    const key = path.join(dir, 'fleet.key');
    const gen = await run(['--keygen', '--key', key]);
    expect(gen.code).toBe(0);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const publicKey = parseSigningPublicKey(gen.stdout.trim());
    expect(parseSigningPublicKey(readFileSync(`${key}.pub`, 'utf8')).export({ format: 'jwk' })).toEqual(publicKey.export({ format: 'jwk' }));
    await expect(run(['--keygen', '--key', key])).rejects.toThrow(/already exists/);

    const doc = path.join(dir, 'doc.json');
    writeFileSync(doc, '{ "revision": 4, "sessions": [] }\n');
    const signed = await run(['--key', key, doc]);
    expect(signed.code).toBe(0);
    expect(verifyAssignmentSignature(readFileSync(doc), signed.stdout.trim(), publicKey)).toEqual({ ok: true });
    const header = await run(['--key', key, '--header', doc]);
    expect(header.stdout).toMatch(/^X-Edge-Signature: ed25519=/);
    const stdin = await run(['--key', key, '-']);
    expect(verifyAssignmentSignature(Buffer.from('{"revision":1,"sessions":[]}'), stdin.stdout.trim(), publicKey)).toEqual({ ok: true });
  });

  it('signs with an encrypted OpenSSH key (--passphrase-env) and rejects bad input with usage errors', async () => {
    const dir = tmp();
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret', '-f', path.join(dir, 'k')]);
    const doc = path.join(dir, 'doc.json');
    writeFileSync(doc, '{"revision":9,"sessions":[]}');
    const r = await run(['--key', path.join(dir, 'k'), '--passphrase-env', 'PW', doc], { PW: 'secret' });
    expect(verifyAssignmentSignature(readFileSync(doc), r.stdout.trim(), parseSigningPublicKey(readFileSync(path.join(dir, 'k.pub'), 'utf8')))).toEqual({ ok: true });
    await expect(run([doc])).rejects.toBeInstanceOf(UsageError);
    await expect(run(['--key', path.join(dir, 'k'), '--passphrase-env', 'NOPE', doc])).rejects.toThrow(/NOPE/);
    writeFileSync(path.join(dir, 'bad.json'), '{"revision":');
    await expect(run(['--key', path.join(dir, 'k'), '--passphrase-env', 'PW', path.join(dir, 'bad.json')], { PW: 'secret' })).rejects.toThrow(/not JSON/);
    const help = await run(['--help']);
    expect(help.stdout).toBe(SIGN_USAGE);
  });
});

describe('poll timing arithmetic', () => {
  it('jitters each wait uniformly in [0.5, 1.5] × interval', () => {
    expect(jitteredIntervalMs(1000, () => 0)).toBe(500);
    expect(jitteredIntervalMs(1000, () => 0.999999)).toBe(1500);
    const samples = Array.from({ length: 2000 }, () => jitteredIntervalMs(1000));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(500);
    expect(Math.max(...samples)).toBeLessThanOrEqual(1500);
    const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
    expect(mean).toBeGreaterThan(950);
    expect(mean).toBeLessThan(1050);
  });

  it('backs off exponentially with equal jitter, up to the cap', () => {
    const lo = (n: number) => errorBackoffMs(n, 1000, 10_000, () => 0);
    const hi = (n: number) => errorBackoffMs(n, 1000, 10_000, () => 0.999999);
    expect([lo(1), lo(2), lo(3), lo(4), lo(5), lo(10)]).toEqual([500, 1000, 2000, 4000, 5000, 5000]);
    expect([hi(1), hi(2), hi(3), hi(4), hi(5), hi(50)]).toEqual([1000, 2000, 4000, 8000, 10000, 10000]);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfterMs('120', now)).toBe(120_000);
    expect(parseRetryAfterMs(' 0 ', now)).toBe(0);
    expect(parseRetryAfterMs('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfterMs('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfterMs(['5', '9'], now)).toBe(5000);
    expect(parseRetryAfterMs(undefined, now)).toBeNull();
    expect(parseRetryAfterMs('-3', now)).toBeNull();
    expect(parseRetryAfterMs('soon', now)).toBeNull();
  });
});

describe('assignment cache file', () => {
  it('round-trips, atomically (no temp file left), mode 0600, creating the directory', async () => {
    const dir = tmp();
    const file = path.join(dir, 'sub', 'assignments.json');
    await writeAssignmentCache(file, { revision: 3, etag: '"e3"', signature: null, body: '{"revision":3,"sessions":[]}' });
    await writeAssignmentCache(file, { revision: 4, etag: null, signature: 'ed25519=x', body: '{"revision":4,"sessions":[]}' });
    const read = await readAssignmentCache(file);
    expect(read).toMatchObject({ status: 'ok', entry: { format: CACHE_FORMAT, revision: 4, etag: null, signature: 'ed25519=x', body: '{"revision":4,"sessions":[]}' } });
    expect(readdirSync(path.dirname(file))).toEqual(['assignments.json']);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('reports a missing file as missing and anything unusable as invalid, never throwing', async () => {
    const dir = tmp();
    const file = path.join(dir, 'c.json');
    expect(await readAssignmentCache(file)).toEqual({ status: 'missing' });
    for (const [content, why] of [
      ['garbage \u0000\u0001', /not JSON/],
      ['{"format":"ssh-edge-agent/assignment-cache/v1","revision":1', /not JSON/],
      ['[1,2]', /not a JSON object/],
      ['{"format":"other"}', /unknown format/],
      [JSON.stringify({ format: CACHE_FORMAT, revision: 1 }), /body/],
      [JSON.stringify({ format: CACHE_FORMAT, revision: 'x', body: '' }), /revision/],
    ] as const) {
      writeFileSync(file, content);
      expect(await readAssignmentCache(file)).toEqual({ status: 'invalid', reason: expect.stringMatching(why) });
    }
    expect(await readAssignmentCache(dir)).toMatchObject({ status: 'invalid', reason: expect.stringContaining('EISDIR') });
  });
});

describe('remote documents and the local policy', () => {
  const ctx = { credentials: { default: { agent: true } }, policy: { allowedTargets: ['127.0.0.1:*'], allowedBindAddresses: ['localhost', '127.0.0.1'] } };
  const doc = {
    revision: 5,
    sessions: [{
      id: 'gw', host: 'gw.example.com', username: 'u', credential: 'default', hostKeys: { knownHostsFile: '/etc/ssh/ssh_known_hosts' },
      forwards: [
        { id: 'ok', port: 80, target: 'tcp://127.0.0.1:80' },
        { id: 'lan', port: 81, target: 'tcp://192.168.1.10:80' },
        { id: 'open', bind: '0.0.0.0', port: 82, target: 'tcp://127.0.0.1:82' },
      ],
    }],
  };

  it('refuse-forwards drops only the forbidden forwards and says why; the default rejects the document', () => {
    const r = parseAssignmentDocument(doc, ctx, { policy: 'refuse-forwards' });
    expect(r.errors).toEqual([]);
    expect(r.document!.sessions[0]!.forwards.map((f) => f.id)).toEqual(['ok']);
    expect(r.refusedForwards).toEqual([
      expect.objectContaining({ session: 'gw', forward: 'lan', path: 'sessions[0].forwards[1]', target: 'tcp://192.168.1.10:80', reason: expect.stringContaining('policy.allowedTargets') }),
      expect.objectContaining({ session: 'gw', forward: 'open', path: 'sessions[0].forwards[2]', bind: '0.0.0.0', reason: expect.stringContaining('policy.allowedBindAddresses') }),
    ]);
    const strict = parseAssignmentDocument(doc, ctx);
    expect(strict.document).toBeUndefined();
    expect(strict.errors).toHaveLength(2);
  });

  it('cannot widen the policy: a policy key in the document is a schema error either way', () => {
    const r = parseAssignmentDocument({ ...doc, policy: { allowedTargets: ['*:*'] } }, ctx, { policy: 'refuse-forwards' });
    expect(r.document).toBeUndefined();
    expect(r.errors).toContainEqual(expect.stringMatching(/^policy: unknown key/));
  });

  it('other errors still reject the whole document, each with its JSON path', () => {
    const bad = structuredClone(doc) as { sessions: Array<Record<string, unknown> & { forwards: Array<Record<string, unknown>> }> };
    bad.sessions[0]!.forwards[0]!.port = 70000;
    delete bad.sessions[0]!.username;
    const r = parseAssignmentDocument(bad, ctx, { policy: 'refuse-forwards' });
    expect(r.document).toBeUndefined();
    expect(r.errors).toEqual(expect.arrayContaining(['sessions[0].username: is required', 'sessions[0].forwards[0].port: must be <= 65535 (got 70000)']));
  });
});

describe('what a document may set (config/document-policy.ts)', () => {
  const policy = { allowedTargets: ['127.0.0.1:*'], allowedBindAddresses: ['localhost'] };
  const ctx = { credentials: { default: { agent: true } }, policy };
  const docWith = (session: object = {}, http?: object, target = 'https://127.0.0.1:8443') => ({
    revision: 1,
    sessions: [{ id: 'gw', host: 'gw.example.com', username: 'u', credential: 'default', hostKeys: { knownHostsFile: '/etc/ssh/ssh_known_hosts' }, forwards: [{ id: 'web', port: 80, target, ...(http ? { http } : {}) }], ...session }],
  });
  const parse = (doc: unknown, p: object = {}) => parseAssignmentDocument(doc, { ...ctx, policy: { ...policy, ...p } }, { policy: 'refuse-forwards' });

  it('each local-only key rejects the document with its path, listed as localOnly; the same keys in the local config are fine', () => {
    const cases: Array<[unknown, RegExp]> = [
      [docWith({}, { insecureSkipVerify: true }), /^sessions\[0\]\.forwards\[0\]\.http\.insecureSkipVerify: .*policy\.allowInsecureSkipVerify is false/],
      [docWith({}, { caFile: '/etc/shadow' }), /^sessions\[0\]\.forwards\[0\]\.http\.caFile: "\/etc\/shadow" is not allowed by the local policy\.allowedCaFiles \[\]/],
      [docWith({ hostKeys: { insecureAcceptAny: true } }), /^sessions\[0\]\.hostKeys\.insecureAcceptAny: .*policy\.allowInsecureAcceptAny is false/],
      [docWith({ algorithms: { kex: ['diffie-hellman-group14-sha1'] } }), /^sessions\[0\]\.algorithms: weaker SSH algorithms/],
    ];
    for (const [doc, message] of cases) {
      const r = parse(doc);
      expect(r.document).toBeUndefined();
      expect(r.errors).toEqual([expect.stringMatching(message)]);
      expect(r.localOnly).toEqual(r.errors);
      // The device owner's own sessions may set every one of them.
      expect(parseSessions((doc as { sessions: unknown[] }).sessions, ctx).errors).toEqual([]);
    }
  });

  it('the policy opens each of them explicitly', () => {
    expect(parse(docWith({}, { insecureSkipVerify: true }), { allowInsecureSkipVerify: true }).errors).toEqual([]);
    expect(parse(docWith({ hostKeys: { insecureAcceptAny: true } }), { allowInsecureAcceptAny: true }).errors).toEqual([]);
    expect(parse(docWith({}, { caFile: '/etc/edge/ca/internal.pem' }), { allowedCaFiles: ['/etc/edge/ca/'] }).errors).toEqual([]);
    const known = parse(docWith({ hostKeys: { knownHostsFile: ['/etc/edge/known_hosts', '/root/.ssh/id_ed25519'] } }), { allowedKnownHostsFiles: ['/etc/edge/known_hosts'] });
    expect(known.errors).toEqual([expect.stringMatching(/^sessions\[0\]\.hostKeys\.knownHostsFile\[1\]: "\/root\/\.ssh\/id_ed25519" is not allowed by the local policy\.allowedKnownHostsFiles/)]);
    // Schema errors beside a local-only key: not only local-only, so the document is invalid.
    const mixed = parse({ ...docWith({}, { insecureSkipVerify: true }), extra: 1 });
    expect(mixed.errors.length).toBeGreaterThan(mixed.localOnly.length);
  });

  it('file patterns: exact, directory, glob, "*"; ".." segments and relative paths never match a listed path', () => {
    expect(filePathAllowed('/etc/edge/ca.pem', ['/etc/edge/ca.pem'])).toBe(true);
    expect(filePathAllowed('/etc/edge/ca/x.pem', ['/etc/edge/ca/'])).toBe(true);
    expect(filePathAllowed('/etc/edge/ca', ['/etc/edge/ca/'])).toBe(false);
    expect(filePathAllowed('/etc/edge/ca/../../shadow', ['/etc/edge/ca/'])).toBe(false);
    expect(filePathAllowed('/etc/edge/a.pem', ['/etc/edge/*.pem'])).toBe(true);
    expect(filePathAllowed('ca/x.pem', ['/etc/edge/ca/'])).toBe(false);
    expect(filePathAllowed('ca/x.pem', ['*'])).toBe(true);
    expect(filePathAllowed('/etc/shadow', [])).toBe(false);
    expect(validatePolicy({ allowedCaFiles: ['/etc/edge/ca/', 'relative/', '/a/../b'], allowedKnownHostsFiles: ['*'] })).toEqual([
      expect.stringMatching(/^policy\.allowedCaFiles\[1\]: invalid file pattern "relative\/"/),
      expect.stringMatching(/^policy\.allowedCaFiles\[2\]: invalid file pattern "\/a\/\.\.\/b": a file pattern must not contain/),
    ]);
  });

  it('policy.allowedSshHosts: host, hosts[] and a proxy URL outside it reject the document with their paths; inside, and in the local config, they are fine', () => {
    const gateways = { allowedSshHosts: ['gw.example.com', '*.gw.example.com:22', '[2001:db8::1]:2222', '10.0.0.0/8'] };
    const outside = parse(docWith({ host: 'evil.example.net' }), gateways);
    expect(outside.document).toBeUndefined();
    expect(outside.errors).toEqual([expect.stringMatching(/^sessions\[0\]\.host: SSH host evil\.example\.net:22 is not allowed by the local policy\.allowedSshHosts \["gw\.example\.com",/)]);
    expect(outside.localOnly).toEqual(outside.errors);
    // Every gateway of the list is checked, each with its own path; the port counts.
    const multi = docWith({ hosts: ['a.gw.example.com', 'b.gw.example.com:2222', '[2001:db8::1]:2222', '[2001:db8::2]:2222'] });
    delete (multi.sessions[0] as { host?: string }).host;
    const list = parse(multi, gateways);
    expect(list.errors).toEqual([
      expect.stringMatching(/^sessions\[0\]\.hosts\[1\]: SSH host b\.gw\.example\.com:2222 is not allowed/),
      expect.stringMatching(/^sessions\[0\]\.hosts\[3\]: SSH host \[2001:db8::2\]:2222 is not allowed/),
    ]);
    // The proxy the connection passes through, credentials never shown.
    const proxied = parse(docWith({ proxy: 'socks5://user:secret@proxy.evil.net:1080' }), gateways);
    expect(proxied.errors).toEqual([expect.stringMatching(/^sessions\[0\]\.proxy: socks5 proxy proxy\.evil\.net:1080 \(the SSH connection passes through it\) is not allowed by the local policy\.allowedSshHosts/)]);
    expect(proxied.errors.join()).not.toContain('secret');
    expect(parse(docWith({ proxy: 'env' }), gateways).errors).toEqual([]);
    expect(parse(docWith({ proxy: 'http://proxy.gw.example.com:22' }), gateways).errors).toEqual([]);
    // Inside: exact name (any port), glob with port, bracketed IPv6 (written compressed or not), CIDR.
    expect(parse(docWith({ port: 2022 }), gateways).errors).toEqual([]);
    expect(parse(docWith({ host: 'GW.Example.COM.' }), gateways).errors).toEqual([]);
    expect(parse(docWith({ host: '[2001:0db8:0:0:0:0:0:1]', port: 2222 }), gateways).errors).toEqual([]);
    expect(parse(docWith({ host: '2001:db8::1', port: 22 }), gateways).errors).toEqual([expect.stringMatching(/^sessions\[0\]\.host: SSH host \[2001:db8::1\]:22 is not allowed/)]);
    expect(parse(docWith({ host: '10.9.8.7' }), gateways).errors).toEqual([]);
    // IPv4 shorthand in host is resolved as a name: an address range does not match it.
    expect(parse(docWith({ host: '0x0a.1' }), gateways).errors).toHaveLength(1);
    // hosts[] entries are normalised where they are parsed (and connected to): 0x0a.1 is 10.0.0.1 there.
    const shorthand = docWith({ hosts: ['0x0a.1'] });
    delete (shorthand.sessions[0] as { host?: string }).host;
    expect(parse(shorthand, gateways).errors).toEqual([]);
    // Default: any host (existing fleets keep working).
    expect(parse(docWith({ host: 'evil.example.net' })).errors).toEqual([]);
    // The device owner's own sessions are not bound.
    expect(parseSessions(docWith({ host: 'evil.example.net', proxy: 'http://proxy.evil.net:3128' }).sessions, { ...ctx, policy: { ...policy, ...gateways } }).errors).toEqual([]);
  });

  it('SSH host patterns: the allowDestinations grammar with the port optional; invalid ones are policy errors and allow nothing', () => {
    expect(sshHostAllowed('gw', 22, ['gw'])).toBe(true);
    expect(sshHostAllowed('gw', 2222, ['gw:22'])).toBe(false);
    expect(sshHostAllowed('gw', 2222, ['gw:2000-2999'])).toBe(true);
    expect(sshHostAllowed('::1', 22, ['[::1]'])).toBe(true);
    expect(sshHostAllowed('[::1]', 22, ['[::1]:22'])).toBe(true);
    expect(sshHostAllowed('::2', 22, ['[*]:22'])).toBe(true);
    expect(sshHostAllowed('gw', 22, ['[*]:22'])).toBe(false);
    expect(sshHostAllowed('x.lan', 22, ['*:22'])).toBe(true);
    expect(sshHostAllowed('x.lan', 22, [])).toBe(false);
    expect(sshHostAllowed('x.lan', 22, ['::1', '*.lan'])).toBe(true);
    expect(validatePolicy({ allowedSshHosts: ['gw.example.com', '::1', 'gw:', '[gw]:22', '*'] })).toEqual([
      expect.stringMatching(/^policy\.allowedSshHosts\[1\]: invalid SSH host pattern "::1": write IPv6 addresses in brackets/),
      expect.stringMatching(/^policy\.allowedSshHosts\[2\]: invalid SSH host pattern "gw:": port "" must be a number/),
      expect.stringMatching(/^policy\.allowedSshHosts\[3\]: invalid SSH host pattern "\[gw\]:22": "gw" is not an IPv6 address/),
    ]);
  });

  it('HTTP settings are lowered to the ceilings, written or default, only for HTTP targets; within them nothing is listed', () => {
    const r = parse(docWith({}, { maxConnections: 100000, pipelining: 100, maxConcurrentRequests: 1000000, maxRequestHeaderBytes: 1048576 }));
    expect(r.errors).toEqual([]);
    expect(r.document!.sessions[0]!.forwards[0]!.http).toMatchObject({ maxConnections: 256, pipelining: 10, maxConcurrentRequests: 1024, maxRequestHeaderBytes: 32768 });
    expect(r.clampedValues.map((c) => `${c.path} ${c.asked}->${c.applied} ${c.limit}`)).toEqual([
      'sessions[0].forwards[0].http.maxConnections 100000->256 policy.maxHttpConnectionsPerForward',
      'sessions[0].forwards[0].http.pipelining 100->10 policy.maxHttpPipelining',
      'sessions[0].forwards[0].http.maxConcurrentRequests 1000000->1024 policy.maxHttpConcurrentRequestsPerForward',
      'sessions[0].forwards[0].http.maxRequestHeaderBytes 1048576->32768 policy.maxHttpRequestHeaderBytes',
    ]);
    expect(parse(docWith()).clampedValues).toEqual([]);
    // A ceiling below the default applies to a forward that never mentions http.
    const low = parse(docWith(), { maxHttpConcurrentRequestsPerForward: 8 });
    expect(low.document!.sessions[0]!.forwards[0]!.http).toEqual({ maxConcurrentRequests: 8 });
    expect(low.clampedValues).toEqual([expect.objectContaining({ asked: 512, applied: 8 })]);
    // A forward the policy refuses does not run: nothing of it is listed as lowered.
    const refused = parse(docWith({}, { maxConnections: 100000 }, 'https://10.0.0.1:8443'));
    expect([refused.refusedForwards.length, refused.clampedValues]).toEqual([1, []]);
    // tcp:// carries bytes: its http settings are unused and left alone.
    expect(parse(docWith({}, { maxConnections: 100000 }, 'tcp://127.0.0.1:22')).clampedValues).toEqual([]);
    // The local config keeps what it says.
    const local = parseSessions(docWith({}, { maxConnections: 100000 }).sessions, ctx);
    expect(local.sessions[0]!.forwards[0]!.http!.maxConnections).toBe(100000);
  });

  it('the applier: local-only keys are EDGE_ERR_POLICY_LOCAL_ONLY (kind policy) and change nothing; the same revision and content again is unchanged', async () => {
    const applied: unknown[] = [];
    const applier = new AssignmentApplier({ applySessions: async (s) => { applied.push(s); }, staticSessions: [], validation: ctx, log: () => {} });
    const good = docWith({}, { maxConnections: 1000 });
    expect(await applier.apply(good)).toMatchObject({ applied: true, outcome: 'applied', clampedValues: [expect.objectContaining({ asked: 1000, applied: 256 })] });
    await expect(applier.apply({ ...docWith({}, { insecureSkipVerify: true }), revision: 2 })).rejects.toMatchObject({ code: 'EDGE_ERR_POLICY_LOCAL_ONLY', details: { kind: 'policy' } });
    expect(applier.state).toMatchObject({ revision: 1, lastError: { code: 'EDGE_ERR_POLICY_LOCAL_ONLY', kind: 'policy', revision: 2 } });
    expect(applied).toHaveLength(1);
    expect(await applier.apply(structuredClone(good))).toMatchObject({ applied: false, outcome: 'unchanged' });
  });

  it('a reload (SIGHUP) checks the running document as applying it did: local-only keys, budget, ceilings', async () => {
    const applied: unknown[] = [];
    const open = { ...ctx, policy: { ...policy, allowInsecureSkipVerify: true } };
    const applier = new AssignmentApplier({ applySessions: async (s) => { applied.push(s); }, staticSessions: [], validation: open, log: () => {} });
    const running = docWith({}, { insecureSkipVerify: true, maxConnections: 100 });
    (running.sessions[0]!.forwards[0] as Record<string, unknown>).maxChannels = 50;
    await applier.apply(running);
    expect(applier.state.clampedValues).toEqual([]);
    // The device owner takes the permission back: the reload is refused, nothing changes.
    await expect(applier.reconfigure([], ctx)).rejects.toMatchObject({ code: 'EDGE_ERR_POLICY_LOCAL_ONLY', message: expect.stringMatching(/insecureSkipVerify/) });
    // A ceiling below the document's written maxChannels: over budget, refused.
    await expect(applier.reconfigure([], { ...open, policy: { ...open.policy, maxChannelsPerForward: 10 } })).rejects.toMatchObject({ code: 'EDGE_ERR_POLICY_BUDGET', message: expect.stringMatching(/maxChannels \(gw\/web\): 50 exceeds the local policy\.maxChannelsPerForward 10/) });
    expect(applied).toHaveLength(1);
    // A lower HTTP ceiling lowers the running value.
    await applier.reconfigure([], { ...open, policy: { ...open.policy, maxHttpConnectionsPerForward: 4 } });
    expect(applier.state.clampedValues).toEqual([expect.objectContaining({ asked: 100, applied: 4 })]);
    expect(applied).toHaveLength(2);
    // policy.allowedSshHosts narrowed so the running session's host is outside: refused, nothing changes.
    await expect(applier.reconfigure([], { ...open, policy: { ...open.policy, allowedSshHosts: ['gw.example.org'] } }))
      .rejects.toMatchObject({ code: 'EDGE_ERR_POLICY_LOCAL_ONLY', message: expect.stringMatching(/sessions\[0\]\.host: SSH host gw\.example\.com:22 is not allowed by the local policy\.allowedSshHosts/) });
    expect(applied).toHaveLength(2);
    await applier.reconfigure([], { ...open, policy: { ...open.policy, allowedSshHosts: ['gw.example.com:22'] } });
    expect(applied).toHaveLength(3);
  });
});
