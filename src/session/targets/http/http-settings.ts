// Validation of a forward's `http` settings (session-config.ts HttpForwardConfig). Every failure
// is EDGE_ERR_INVALID_CONFIG naming the key, e.g. `forwards[web].http.pipelining: …`. The CA
// file of an https:// target is read here, so that a missing or unreadable file is a config
// error when the forward is configured, not a 502 on the first request.
import { readFileSync } from 'node:fs';
import { EdgeError } from '../../../errors.js';
import { DEFAULT_HTTP, type HttpForwardConfig } from '../../session-config.js';
import type { ParsedTarget } from '../../../grammar/targets.js';

export interface CompiledHttpSettings extends HttpForwardConfig {
  /** PEM contents of caFile (https:// targets with a caFile only). */
  ca?: Buffer;
}

const KNOWN_KEYS = Object.keys(DEFAULT_HTTP) as Array<keyof HttpForwardConfig>;
/** Upper bound for maxRequestHeaderBytes (Node's parser keeps the whole head in memory). */
export const MAX_REQUEST_HEADER_BYTES_LIMIT = 1024 * 1024;
/** Upper bound for pipelining (undici's own sanity limit is far above any useful value). */
export const MAX_PIPELINING = 100;

export function compileHttpSettings(http: unknown, key: string, target: ParsedTarget | undefined): CompiledHttpSettings {
  const bad = (sub: string, msg: string) => new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.${sub}: ${msg}`, { details: { key: `${key}.${sub}` } });
  if (typeof http !== 'object' || http === null || Array.isArray(http)) {
    throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key} must be an object of HTTP settings (${KNOWN_KEYS.join(', ')}).`, { details: { key } });
  }
  const input = http as Record<string, unknown>;
  for (const name of Object.keys(input)) {
    if (!(KNOWN_KEYS as string[]).includes(name)) throw bad(name, `unknown HTTP setting (known: ${KNOWN_KEYS.join(', ')}).`);
  }
  // A normalised forward (normaliseSession) carries every key, defaults filled from the schema.
  const cfg = input as unknown as HttpForwardConfig;

  const nonNegative = (name: keyof HttpForwardConfig, what: string) => {
    const v = cfg[name];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(name, `must be 0 (${what}) or a positive integer, got ${JSON.stringify(v)}.`);
  };
  const positive = (name: keyof HttpForwardConfig, max?: number) => {
    const v = cfg[name];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || (max !== undefined && v > max)) {
      throw bad(name, `must be an integer from 1${max !== undefined ? ` to ${max}` : ''}, got ${JSON.stringify(v)}.`);
    }
  };
  const flag = (name: keyof HttpForwardConfig) => {
    if (typeof cfg[name] !== 'boolean') throw bad(name, `must be true or false, got ${JSON.stringify(cfg[name])}.`);
  };

  nonNegative('headersTimeoutMs', 'no limit');
  nonNegative('bodyTimeoutMs', 'no limit');
  nonNegative('keepAliveTimeoutMs', 'never');
  nonNegative('maxRequestBodyBytes', 'no limit');
  positive('maxConnections');
  positive('pipelining', MAX_PIPELINING);
  positive('maxConcurrentRequests');
  positive('maxRequestHeaderBytes', MAX_REQUEST_HEADER_BYTES_LIMIT);
  if (cfg.maxRequestHeaderBytes < 1024) throw bad('maxRequestHeaderBytes', `must be at least 1024, got ${cfg.maxRequestHeaderBytes}.`);
  flag('trustForwardedHeaders');
  flag('trustTraceparent');
  flag('insecureSkipVerify');

  if (typeof cfg.hostHeader !== 'string') throw bad('hostHeader', `must be a string ('' keeps the client's Host), got ${JSON.stringify(cfg.hostHeader)}.`);
  if (cfg.hostHeader !== '' && !/^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::\d{1,5})?$/.test(cfg.hostHeader)) {
    throw bad('hostHeader', `"${cfg.hostHeader}" is not a valid Host value (host or host:port).`);
  }

  if (typeof cfg.caFile !== 'string') throw bad('caFile', `must be a path string ('' = Node's default CA roots), got ${JSON.stringify(cfg.caFile)}.`);
  const compiled: CompiledHttpSettings = { ...cfg };
  if (cfg.caFile !== '' && target?.kind === 'https') {
    let pem: Buffer;
    try {
      pem = readFileSync(cfg.caFile);
    } catch (err) {
      throw bad('caFile', `cannot read "${cfg.caFile}" (${(err as NodeJS.ErrnoException).code ?? String(err)}).`);
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw bad('caFile', `"${cfg.caFile}" holds no PEM certificate (-----BEGIN CERTIFICATE-----).`);
    compiled.ca = pem;
  }
  return compiled;
}
