// Checks a session's configuration as a whole before anything touches the network: host, port,
// reconnect and keepalive settings, cipher order, forward ids (unique across -R, -L and -D) and
// each forward's own settings. Every problem is an EDGE_ERR_INVALID_CONFIG naming the key.
import { EdgeError } from '../errors.js';
import { checkSshHostName } from '../grammar/host-name.js';
import { checkAlgorithmWidening, DEFAULT_CIPHER } from '../ssh-algorithms.js';
import { ForwardRuntime } from './forward-runtime.js';
import { LocalForwarding } from './device/local-forwarding.js';
import { checkProxySetting } from '../grammar/proxy-url.js';
import { compileListener } from './device/listener.js';
import type { SessionConfig } from './session-config.js';

export function validateSession(cfg: SessionConfig): void {
  const bad = (key: string, msg: string) => new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: ${msg}`);
  if (!cfg.host) throw bad('host', 'the SSH host is required.');
  const hostProblem = typeof cfg.host === 'string' ? checkSshHostName(cfg.host, 'port') : 'must be a string';
  if (hostProblem) throw bad('host', `${hostProblem}.`);
  if (!Number.isInteger(cfg.port) || cfg.port < 1 || cfg.port > 65535) throw bad('port', `${cfg.port} is not a TCP port (1–65535).`);
  if (!cfg.auth.username) throw bad('username', 'the SSH user name is required.');
  const widening = checkAlgorithmWidening(cfg.algorithms);
  if (cfg.ciphers) {
    // `ciphers` orders; it cannot weaken: anything beyond the defaults must be in algorithms.cipher (local config only).
    const allowed = [...DEFAULT_CIPHER, ...(widening.cipher ?? [])];
    const unknown = cfg.ciphers.filter((c) => !allowed.includes(c));
    if (unknown.length) throw bad('ciphers', `cipher ${unknown.join(', ')} is not offered (offered: ${allowed.join(', ')}); for a legacy host, add it to algorithms.cipher.`);
  }
  if (!['never', 'after-connect', 'always'].includes(cfg.reconnect.mode)) throw bad('reconnect.mode', `"${cfg.reconnect.mode}" must be one of never, after-connect, always.`);
  if (!(cfg.reconnect.retryIntervalMs > 0)) throw bad('reconnect.retryIntervalMs', 'must be a positive number of milliseconds.');
  if (!(cfg.reconnect.authRetryIntervalMs > 0)) throw bad('reconnect.authRetryIntervalMs', 'must be a positive number of milliseconds.');
  if (cfg.reconnect.maxRetryIntervalMs < cfg.reconnect.retryIntervalMs) throw bad('reconnect.maxRetryIntervalMs', 'must be at least reconnect.retryIntervalMs.');
  if (!Number.isInteger(cfg.reconnect.maxRetries) || cfg.reconnect.maxRetries < -1) throw bad('reconnect.maxRetries', 'must be -1 (unlimited) or a non-negative integer.');
  if (!(cfg.keepalive.intervalMs >= 0)) throw bad('keepalive.intervalMs', 'must be 0 (off) or a positive number of milliseconds.');
  if (!Number.isInteger(cfg.keepalive.countMax) || cfg.keepalive.countMax < 1) throw bad('keepalive.countMax', 'must be a positive integer.');
  const ids = new Set<string>();
  for (const fwd of cfg.forwards) {
    if (ids.has(fwd.id)) throw bad(`forwards[${fwd.id}].id`, 'forward ids must be unique within a session.');
    ids.add(fwd.id);
    ForwardRuntime.compile(fwd);
  }
  checkUniqueIds(cfg.forwards.map((f) => f.id), cfg.localForwards.map((f) => f.id), cfg.dynamicForwards.map((f) => f.id));
  for (const f of cfg.localForwards) compileListener({ ...f, kind: 'local' });
  for (const f of cfg.dynamicForwards) compileListener({ ...f, kind: 'dynamic' });
  if (typeof cfg.proxy !== 'string') throw bad('proxy', 'must be a string: "", "env" or a proxy URL.');
  checkProxySetting(cfg.proxy);
}

/** Forward ids are unique across a session's forwards, localForwards and dynamicForwards (status, metrics and spans name them). */
export function checkUniqueIds(remote: string[], local: string[], dynamic: string[]): void {
  const seen = new Map<string, string>();
  for (const [list, ids] of [['forwards', remote], ['localForwards', local], ['dynamicForwards', dynamic]] as const) {
    for (const id of ids) {
      const first = seen.get(id);
      if (first !== undefined) {
        throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `${list}[${id}].id: forward ids must be unique within a session (across forwards, localForwards and dynamicForwards); "${id}" is also used in ${first}.`);
      }
      seen.set(id, list);
    }
  }
}
