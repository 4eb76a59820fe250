// http+unix: target URLs and the validation of a forward's `http` settings.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseRemoteForwardSpec } from '../../src/cli/forward-spec.js';
import { ForwardRuntime } from '../../src/session/forward-runtime.js';
import { forwardWithDefaults, DEFAULT_HTTP } from '../../src/session/session-config.js';
import { isHttpTarget, parseTargetUrl } from '../../src/grammar/targets.js';

describe('http+unix target URLs', () => {
  it.each([
    ['http+unix:/run/app.sock', '/run/app.sock'],
    ['http+unix:///run/app.sock', '/run/app.sock'],
    ['HTTP+UNIX:///var/run/docker.sock', '/var/run/docker.sock'],
    ['http+unix://%2Fvar%2Frun%2Fdocker.sock', '/var/run/docker.sock'],
    ['http+unix://%2Fvar%2Frun%2Fdocker.sock/', '/var/run/docker.sock'],
  ])('%s', (text, socketPath) => {
    const t = parseTargetUrl(text, 'target');
    expect(t).toEqual({ kind: 'unix', path: socketPath, url: `http+unix:${socketPath}`, protocol: 'http' });
    expect(isHttpTarget(t)).toBe(true);
  });

  it.each([
    ['http+unix:relative.sock', 'must be absolute'],
    ['http+unix://host/run/app.sock', 'must not name a host'],
    ['http+unix:/run/app.sock?x=1', 'query'],
    ['http+unix://%2Frun%2Fa.sock/path', 'no path'],
  ])('rejects %s', (text, reason) => {
    expect(() => parseTargetUrl(text, 'forwards[x].target')).toThrow(reason);
  });

  it('plain unix: and tcp: targets stay byte pipes; http(s) are HTTP-aware', () => {
    expect(isHttpTarget(parseTargetUrl('unix:/run/app.sock', 't'))).toBe(false);
    expect(isHttpTarget(parseTargetUrl('tcp://127.0.0.1:80', 't'))).toBe(false);
    expect(isHttpTarget(parseTargetUrl('http://127.0.0.1', 't'))).toBe(true);
    expect(isHttpTarget(parseTargetUrl('https://127.0.0.1', 't'))).toBe(true);
  });

  it('-R accepts the http+unix URL form', () => {
    expect(parseRemoteForwardSpec('8080:http+unix:///var/run/docker.sock')).toMatchObject({ bind: 'localhost', port: 8080, target: 'http+unix:/var/run/docker.sock' });
    expect(parseRemoteForwardSpec('127.0.0.1:0:http+unix:/run/a.sock')).toMatchObject({ bind: '127.0.0.1', port: 0, target: 'http+unix:/run/a.sock' });
  });
});

describe('forward http settings', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-agent-http-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const compile = (http: unknown, target = 'http://127.0.0.1:3000') =>
    ForwardRuntime.compile(forwardWithDefaults({ id: 'web', port: 8080, target, http: http as never }, 0));

  it('fills defaults', () => {
    expect(forwardWithDefaults({ port: 1, http: { pipelining: 4 } }, 0).http).toEqual({ ...DEFAULT_HTTP, pipelining: 4 });
    expect(compile(undefined).http).toMatchObject(DEFAULT_HTTP);
    expect(compile({}, 'tcp://127.0.0.1:22').http).toBeUndefined();
  });

  it.each([
    [{ headersTimeoutMs: -1 }, 'forwards[web].http.headersTimeoutMs'],
    [{ bodyTimeoutMs: 1.5 }, 'forwards[web].http.bodyTimeoutMs'],
    [{ maxConnections: 0 }, 'forwards[web].http.maxConnections'],
    [{ pipelining: 1000 }, 'forwards[web].http.pipelining'],
    [{ maxConcurrentRequests: 'many' }, 'forwards[web].http.maxConcurrentRequests'],
    [{ maxRequestHeaderBytes: 100 }, 'forwards[web].http.maxRequestHeaderBytes'],
    [{ trustForwardedHeaders: 'yes' }, 'forwards[web].http.trustForwardedHeaders'],
    [{ hostHeader: 'bad host' }, 'forwards[web].http.hostHeader'],
    [{ caFile: 42 }, 'forwards[web].http.caFile'],
    [{ headerTimeoutMs: 5 }, 'forwards[web].http.headerTimeoutMs: unknown HTTP setting'],
    ['fast', 'forwards[web].http must be an object'],
  ])('%j is refused naming the key', (http, key) => {
    let error: unknown;
    try {
      compile(http);
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'EDGE_ERR_INVALID_CONFIG' });
    expect((error as Error).message).toContain(key);
  });

  it('reads caFile for https targets and names the key when it cannot', () => {
    const pem = path.join(dir, 'ca.pem');
    writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    expect(compile({ caFile: pem }, 'https://10.0.0.5:8443').http!.ca).toBeInstanceOf(Buffer);
    expect(() => compile({ caFile: path.join(dir, 'missing.pem') }, 'https://10.0.0.5')).toThrow(/forwards\[web\]\.http\.caFile: cannot read .*ENOENT/);
    const notPem = path.join(dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    expect(() => compile({ caFile: notPem }, 'https://10.0.0.5')).toThrow(/holds no PEM certificate/);
  });

  it('accepts valid Host rewrites', () => {
    for (const hostHeader of ['internal', 'internal.example:8080', '[::1]:8080', '10.0.0.5']) {
      expect(compile({ hostHeader }).http!.hostHeader).toBe(hostHeader);
    }
  });
});
