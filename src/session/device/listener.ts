// One device listener (a local -L or dynamic -D forward): its validated settings, its sockets,
// and its status. State, retry and counters are the lifecycle every forward shares
// (forward-lifecycle.ts).
import net from 'node:net';
import { EdgeError } from '../../errors.js';
import { closeServers } from '../../net/listen-sockets.js';
import { isLoopbackBind } from '../../grammar/bind.js';
import { ForwardLifecycle, type ForwardLifecycleHost } from '../forward-lifecycle.js';
import { createDestinationAllowList, type DestinationAllowList } from '../../grammar/destination-allow-list.js';
import type { LocalForwardConfig } from '../session-config.js';
import { checkHost, formatHost } from '../../grammar/host-name.js';
import type { AnyListenerConfig, ListenerKind, ListenerStatus, ListenerStatusBase } from './listener-types.js';

/** Validates one listener's settings; throws EDGE_ERR_INVALID_CONFIG naming the key. */
export function compileListener(config: AnyListenerConfig): { allowList: DestinationAllowList | undefined } {
  const list = config.kind === 'local' ? 'localForwards' : 'dynamicForwards';
  const key = `${list}[${config.id}]`;
  const bad = (k: string, msg: string) => new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}.${k}: ${msg}`, { details: { key: `${key}.${k}` } });
  if (typeof config.id !== 'string' || config.id === '') throw bad('id', 'must be a non-empty string.');
  if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) throw bad('port', `${config.port} is not a port number (0–65535; 0 = any free port).`);
  if (typeof config.bind !== 'string') throw bad('bind', 'must be a string ("localhost", "127.0.0.1", "::1", or with allowRelay "0.0.0.0", "::", "" for all).');
  const bindHost = config.bind.replace(/^\[(.*)\]$/, '$1');
  if (bindHost !== '' && bindHost !== '*') {
    const checked = checkHost(bindHost);
    if (checked.error !== undefined) throw bad('bind', `${checked.error}.`);
  }
  if (!isLoopbackBind(config.bind) && config.allowRelay !== true) {
    throw bad('allowRelay', `bind address ${config.bind === '' || config.bind === '*' ? '"" (all interfaces)' : JSON.stringify(config.bind)} is not loopback: other machines could use this tunnel. Set ${key}.allowRelay to true to allow that (ssh -g; Tectia allow-relay), or bind "localhost".`);
  }
  if (!Number.isInteger(config.maxChannels) || config.maxChannels < 1) throw bad('maxChannels', `must be a positive integer, got ${config.maxChannels}.`);
  for (const k of ['idleTimeoutMs', 'sessionWaitMs'] as const) {
    if (!Number.isInteger(config[k]) || config[k] < 0) throw bad(k, `must be 0 or a positive number of milliseconds, got ${config[k]}.`);
  }
  if (!Number.isInteger(config.openTimeoutMs) || config.openTimeoutMs < 1) throw bad('openTimeoutMs', `must be a positive number of milliseconds, got ${config.openTimeoutMs}.`);
  if (config.kind === 'local') {
    if (typeof config.host !== 'string') throw bad('host', 'the destination host is required.');
    const checked = checkHost(config.host.replace(/^\[(.*)\]$/, '$1'));
    if (checked.error !== undefined) throw bad('host', `${checked.error}.`);
    if (!Number.isInteger(config.hostPort) || config.hostPort < 1 || config.hostPort > 65535) throw bad('hostPort', `${config.hostPort} is not a port number (1–65535).`);
    return { allowList: undefined };
  }
  if (!Array.isArray(config.allowDestinations)) throw bad('allowDestinations', 'must be a list of host:port patterns.');
  if ((config.username === undefined) !== (config.password === undefined)) {
    throw bad(config.username === undefined ? 'username' : 'password', 'SOCKS authentication needs both a username and a password.');
  }
  if (config.username !== undefined && (Buffer.byteLength(config.username) > 255 || Buffer.byteLength(config.password!) > 255 || config.username === '')) {
    throw bad('username', 'the SOCKS5 username and password must be 1–255 bytes.');
  }
  return { allowList: createDestinationAllowList(config.allowDestinations, `${key}.allowDestinations`) };
}

/** tcp://host:hostPort of a local forward, as reached from the SSH host. */
export function localTarget(c: LocalForwardConfig): string {
  return `tcp://${formatHost(c.host)}:${c.hostPort}`;
}

export class Listener extends ForwardLifecycle {
  config: AnyListenerConfig;
  allowList: DestinationAllowList | undefined;
  servers: net.Server[] = [];
  localPort: number | null = null;
  /** Bumped on every (re)listen and on removal: stale listen results are discarded. */
  generation = 0;
  removed = false;

  constructor(config: AnyListenerConfig, lifecycle: ForwardLifecycleHost) {
    super(lifecycle);
    this.config = config;
    this.allowList = compileListener(config).allowList;
  }

  /** Closes its sockets (a listen in flight is discarded) and stops retrying. */
  stopListening(): void {
    this.generation += 1;
    this.retry.cancel();
    closeServers(this.servers);
    this.servers = [];
    this.localPort = null;
    this.setState('stopped');
  }

  get kind(): ListenerKind {
    return this.config.kind;
  }

  status(): ListenerStatus {
    const base: ListenerStatusBase = {
      id: this.config.id,
      state: this.state,
      bind: this.config.bind,
      port: this.config.port,
      localPort: this.localPort,
      allowRelay: this.config.allowRelay,
      channels: this.channels(),
      ...this.bytes(),
      lastError: this.lastErrorStatus(),
    };
    const c = this.config;
    return c.kind === 'local'
      ? { ...base, kind: 'local', host: c.host, hostPort: c.hostPort, target: localTarget(c) }
      : { ...base, kind: 'dynamic', allowDestinations: [...c.allowDestinations], auth: c.username !== undefined };
  }
}
