// One session over several gateways (`hosts` + `strategy`), composed of ordinary single-gateway
// TunnelSessions ("links"), one per gateway in use; each keeps its own connect/keepalive/
// reconnect loop. This class only decides which links run and which of them hold the forwards:
//
//   failover (default): the forwards live on one link, the "holder" — at first the first gateway.
//     When the holder is not connected (lost, or its first attempts fail), every other gateway is
//     tried in parallel and the most preferred one that connects takes the forwards. Gateways
//     more preferred than the holder keep a link without forwards (a probe: it reconnects with
//     the usual backoff); once such a probe has stayed connected for `failbackAfterMs`, the
//     forwards are requested there, cancelled on the holder, and the old link drains (its open
//     channels finish, for up to FAILBACK_DRAIN_MS) before it disconnects. Links less preferred
//     than a connected holder are closed the same way.
//   all: every gateway has a link holding every forward (active/active behind DNS or a load
//     balancer); the session is connected while at least one link is.
//
// Local (-L) and dynamic (-D) forwards listen on the device and cannot be held twice: a session
// with several gateways refuses them.
import { EventEmitter } from 'node:events';
import { EdgeError } from '../errors.js';
import type { ForwardStatus } from './forward-runtime.js';
import { DEFAULT_FAILBACK_AFTER_MS, formatGateway, GATEWAY_STRATEGIES, parseGatewayList, type GatewayAddress, type GatewayStrategy } from './gateway-list.js';
import { normaliseForward, type DynamicForwardConfigInput, type ForwardConfig, type ForwardConfigInput, type LocalForwardConfigInput, type SessionConfig, type SessionConfigInput } from './session-config.js';
import { TunnelSession, type SessionState, type SessionStatus, type TunnelSessionEvents, type TunnelSessionOptions } from './tunnel-session.js';
import { ConditionWaiters } from './condition-waiters.js';
import { SESSION_PORT_DEFAULT } from '../../config/session-schema.js';

export interface MultiGatewayConfigInput extends Omit<SessionConfigInput, 'host'> {
  host?: string;
  /** The gateways, most preferred first: "host[:port]" (port 22 when absent; IPv6 as "[::1]:22"). */
  hosts?: ReadonlyArray<string | GatewayAddress>;
  strategy?: GatewayStrategy;
  /** failover: a preferred gateway must have been connected this long before the forwards move back. */
  failbackAfterMs?: number;
}

export type GatewayRole = 'active' | 'probe' | 'idle';

export interface GatewayStatus {
  host: string;
  port: number;
  /** The link's session state; `idle` = no link to this gateway right now. */
  state: SessionState;
  /** active = holds the forwards; probe = connected or trying without forwards (failover); idle = not in use. */
  role: GatewayRole;
  lastError: { code: string; message: string } | null;
  /** When the current connection came up (ISO 8601); null while not connected. */
  connectedAt: string | null;
  /** The forwards this gateway holds, and where it really listens (empty for a probe or an idle gateway). */
  forwards: Array<{ id: string; state: ForwardStatus['state']; remotePort: number | null; remoteSocket?: string }>;
}

export interface MultiGatewayStatus extends SessionStatus {
  strategy: GatewayStrategy;
  gateways: GatewayStatus[];
}

/** How long the old link's open channels may run on after a failback before it disconnects. */
export const FAILBACK_DRAIN_MS = 60_000;
/** Channel ids of link i start at i × this, so ids stay unique in the session's one event stream. */
const CHANNEL_ID_STRIDE = 1_000_000_000;

interface Link {
  index: number;
  session: TunnelSession;
  connectedAt: number | null;
  holdsForwards: boolean;
}

/** True when the input names its gateways with `hosts` (then MultiGatewaySession runs it). */
export function isMultiGatewayInput(input: object): input is MultiGatewayConfigInput {
  return Array.isArray((input as { hosts?: unknown }).hosts);
}

export class MultiGatewaySession extends EventEmitter<TunnelSessionEvents> {
  /** The first gateway's view of the configuration (id, forwards, timers) — what the worker and tracing read. */
  /** The session's normalised, frozen configuration; replaced whole when forward lists change. */
  get config(): Readonly<SessionConfig> { return this.current; }
  private current: Readonly<SessionConfig>;
  readonly gateways: readonly GatewayAddress[];
  readonly strategy: GatewayStrategy;
  readonly failbackAfterMs: number;
  private readonly input: MultiGatewayConfigInput;
  private readonly options: TunnelSessionOptions & { onLink?: (link: TunnelSession) => void };
  private readonly links: Array<Link | undefined>;
  /** Per gateway, what its last link reported (kept after the link is closed). */
  private readonly lastErrors: Array<{ code: string; message: string } | null>;
  /** Links closing after a failback, still finishing their channels. */
  private readonly draining = new Set<TunnelSession>();
  private forwards: ForwardConfig[];
  private holder = 0;
  private stateValue: SessionState = 'idle';
  private started = false;
  private closing: Promise<boolean> | undefined;
  private failbackTimer: NodeJS.Timeout | undefined;
  private moving = false;
  private readonly waiters = new ConditionWaiters();

  /** Validates everything (throws EdgeError) before any connection is made. */
  constructor(input: MultiGatewayConfigInput, options: TunnelSessionOptions & { onLink?: (link: TunnelSession) => void } = {}) {
    super();
    const bad = (key: string, msg: string) => new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: ${msg}`);
    this.gateways = parseGatewayList(input.hosts ?? (input.host ? [{ host: input.host, port: input.port ?? SESSION_PORT_DEFAULT }] : []));
    this.strategy = input.strategy ?? 'failover';
    if (!GATEWAY_STRATEGIES.includes(this.strategy)) throw bad('strategy', `"${String(this.strategy)}" must be one of ${GATEWAY_STRATEGIES.join(', ')}.`);
    this.failbackAfterMs = input.failbackAfterMs ?? DEFAULT_FAILBACK_AFTER_MS;
    if (!Number.isInteger(this.failbackAfterMs) || this.failbackAfterMs < 0) throw bad('failbackAfterMs', 'must be a non-negative number of milliseconds.');
    if (this.gateways.length > 1 && ((input.localForwards?.length ?? 0) > 0 || (input.dynamicForwards?.length ?? 0) > 0)) {
      throw bad('localForwards', 'local (-L) and dynamic (-D) forwards listen on the device and need a session with one gateway (host), not several (hosts).');
    }
    this.input = input;
    this.options = options;
    this.lastErrors = this.gateways.map(() => null);
    this.links = this.gateways.map(() => undefined);
    const first = this.gateways[0]!;
    // Validates the session (credentials, forwards, host-key policy) exactly as a single-gateway one.
    const probe = new TunnelSession(this.linkInput(first, input.forwards ?? []));
    this.current = probe.config;
    this.forwards = this.config.forwards;
  }

  get state(): SessionState {
    return this.stateValue;
  }

  get openChannelCount(): number {
    let n = 0;
    for (const link of this.links) n += link?.session.openChannelCount ?? 0;
    for (const s of this.draining) n += s.openChannelCount;
    return n;
  }

  start(): this {
    if (this.started) return this;
    this.started = true;
    if (this.strategy === 'all') this.gateways.forEach((_, i) => this.openLink(i, true));
    else this.openLink(0, true);
    this.refreshState();
    return this;
  }

  /** Every gateway connection waiting in backoff retries now (POST /sessions/<id>/reconnect). */
  retryNow(): boolean {
    let woke = false;
    for (const link of this.liveLinks()) woke = link.session.retryNow() || woke;
    return woke;
  }

  async waitUntilConnected(): Promise<void> {
    await this.waiters.waitFor(() => {
      if (this.stateValue === 'connected') return true;
      if (this.stateValue === 'failed' || this.stateValue === 'stopped') throw this.finalError();
      return false;
    });
  }

  /** Resolves with the forward's remote port once it is up on some gateway (0 for a socket forward). */
  waitForForward(id: string): Promise<number> {
    return this.waiters.waitFor(() => {
      const fwd = this.status().forwards.find((f) => f.id === id);
      if (!fwd) throw new EdgeError('EDGE_ERR_UNKNOWN_FORWARD', `No forward "${id}" on session ${this.config.id}.`);
      if (fwd.state === 'up') return fwd.remotePort ?? 0;
      if (fwd.state === 'refused') throw new EdgeError('EDGE_ERR_FORWARD_REFUSED', fwd.lastError?.message ?? `Forward ${id} was refused.`);
      if (this.stateValue === 'failed' || this.stateValue === 'stopped') throw this.finalError();
      return false;
    });
  }

  async setForwards(inputs: ForwardConfigInput[]): Promise<void> {
    const desired = inputs.map((f, i) => normaliseForward(f, i));
    this.forwards = desired;
    this.current = Object.freeze({ ...this.config, forwards: desired });
    await Promise.all(this.liveLinks().filter((l) => l.holdsForwards).map((l) => l.session.setForwards(desired)));
  }

  async setListenerForwards(lists: { localForwards?: LocalForwardConfigInput[]; dynamicForwards?: DynamicForwardConfigInput[] }): Promise<void> {
    const wanted = (lists.localForwards?.length ?? 0) + (lists.dynamicForwards?.length ?? 0);
    if (this.gateways.length > 1 && wanted > 0) {
      throw new EdgeError('EDGE_ERR_INVALID_CONFIG', 'localForwards: local (-L) and dynamic (-D) forwards need a session with one gateway (host), not several (hosts).');
    }
    await Promise.all(this.liveLinks().map((l) => l.session.setListenerForwards(lists)));
  }

  status(): MultiGatewayStatus {
    const live = this.liveLinks();
    const holders = live.filter((l) => l.holdsForwards);
    const main = this.strategy === 'failover'
      ? this.links[this.holder] ?? holders[0]
      : holders.find((l) => l.session.state === 'connected') ?? holders[0];
    const base: SessionStatus = main?.session.status() ?? this.idleStatus();
    return {
      ...base,
      id: this.config.id,
      state: this.stateValue,
      attempt: live.reduce((n, l) => n + l.session.status().attempt, 0),
      lastError: base.lastError ?? this.lastErrors.find((e) => e !== null) ?? null,
      forwards: this.strategy === 'all' ? mergeForwards(holders.map((l) => l.session.status().forwards), this.forwards) : base.forwards,
      strategy: this.strategy,
      gateways: this.gateways.map((g, i) => this.gatewayStatus(g, i)),
    };
  }

  close(drainTimeoutMs = 10_000): Promise<boolean> {
    this.closing ??= (async () => {
      clearTimeout(this.failbackTimer);
      this.setState('draining');
      const results = await Promise.all([
        ...this.liveLinks().map((l) => l.session.close(drainTimeoutMs)),
        ...[...this.draining].map((s) => s.close(drainTimeoutMs)),
      ]);
      this.setState('stopped');
      return results.every(Boolean);
    })();
    return this.closing;
  }

  destroy(): void {
    clearTimeout(this.failbackTimer);
    for (const l of this.liveLinks()) l.session.destroy();
    for (const s of this.draining) s.destroy();
    this.draining.clear();
    this.closing ??= Promise.resolve(false);
    this.setState('stopped');
  }

  // ---------------------------------------------------------------- links

  private linkInput(gateway: GatewayAddress, forwards: ForwardConfigInput[]): SessionConfigInput {
    const { hosts: _h, strategy: _s, failbackAfterMs: _f, ...rest } = this.input ?? {};
    return { ...rest, id: rest.id ?? formatGateway(this.gateways[0]!), host: gateway.host, port: gateway.port, forwards };
  }

  private openLink(index: number, holdsForwards: boolean): Link {
    const existing = this.links[index];
    if (existing) return existing;
    const session = new TunnelSession(this.linkInput(this.gateways[index]!, holdsForwards ? this.forwards : []), {
      ...this.options,
      firstChannelId: index * CHANNEL_ID_STRIDE + 1,
    });
    const link: Link = { index, session, connectedAt: null, holdsForwards };
    this.links[index] = link;
    this.wire(link);
    this.options.onLink?.(session);
    session.start();
    return link;
  }

  private wire(link: Link): void {
    const { session } = link;
    const current = () => this.links[link.index] === link;
    session.on('state', (state, error) => {
      if (error) this.lastErrors[link.index] = { code: error.code, message: error.message };
      if (state !== 'connected') link.connectedAt = null;
      if (current()) this.reconsider();
    });
    session.on('connected', (info) => {
      link.connectedAt = Date.now();
      this.lastErrors[link.index] = null;
      if (current() && link.holdsForwards) this.emit('connected', info);
      if (current()) this.reconsider();
    });
    session.on('disconnected', (error) => { if (current() && link.holdsForwards) this.emit('disconnected', error); });
    session.on('forward', (status) => {
      if (!link.holdsForwards) return;
      const merged = this.strategy === 'all' ? this.status().forwards.find((f) => f.id === status.id) ?? status : status;
      this.emit('forward', merged);
      this.waiters.wake();
    });
    session.on('reconnectAttempt', (info) => this.emit('reconnectAttempt', info));
    session.on('localForward', (status) => this.emit('localForward', status));
    session.on('channelOpen', (info) => this.emit('channelOpen', info));
    session.on('channelClose', (info) => this.emit('channelClose', info));
    session.on('channelRejected', (info) => this.emit('channelRejected', info));
    session.on('log', (level, message, fields) => this.emit('log', level, message, { ...fields, gateway: formatGateway(this.gateways[link.index]!) }));
  }

  private liveLinks(): Link[] {
    return this.links.filter((l): l is Link => l !== undefined);
  }

  /** Closes a link: no new channels, open ones finish (up to FAILBACK_DRAIN_MS), then it disconnects. */
  private retire(index: number): void {
    const link = this.links[index];
    if (!link) return;
    this.links[index] = undefined;
    link.holdsForwards = false;
    this.draining.add(link.session);
    void link.session.close(FAILBACK_DRAIN_MS).then(() => this.draining.delete(link.session));
  }

  // ---------------------------------------------------------------- strategy

  /** Re-evaluates which links run and which hold the forwards, after any link changed state. */
  private reconsider(): void {
    if (this.closing || !this.started) return;
    if (this.strategy === 'failover' && !this.moving) this.reconsiderFailover();
    this.refreshState();
  }

  private reconsiderFailover(): void {
    const holder = this.links[this.holder];
    const connected = (i: number) => this.links[i]?.session.state === 'connected';
    if (!holder || holder.session.state !== 'connected') {
      // Lost (or not yet up): the most preferred gateway that is connected takes the forwards now.
      const best = this.gateways.findIndex((_, i) => i !== this.holder && connected(i));
      if (best >= 0) return void this.moveForwards(best);
      // The holder is failing: try every other gateway at once (each link backs off on its own).
      const failing = !holder || ['backoff', 'failed'].includes(holder.session.state);
      if (failing) this.gateways.forEach((_, i) => { if (i !== this.holder && this.links[i]?.session.state !== 'failed') this.openLink(i, false); });
      return;
    }
    // Connected: links less preferred than the holder are no longer needed.
    for (let i = this.holder + 1; i < this.gateways.length; i++) this.retire(i);
    // More preferred gateways are probed; one that stayed connected long enough gets the forwards back.
    clearTimeout(this.failbackTimer);
    const now = Date.now();
    let nextCheck = Infinity;
    for (let i = 0; i < this.holder; i++) {
      const link = this.links[i] ?? this.openLink(i, false);
      if (link.session.state !== 'connected' || link.connectedAt === null) continue;
      const due = link.connectedAt + this.failbackAfterMs;
      if (due <= now) return void this.moveForwards(i);
      nextCheck = Math.min(nextCheck, due);
    }
    if (nextCheck !== Infinity) this.failbackTimer = setTimeout(() => this.reconsider(), nextCheck - now).unref();
  }

  /** Requests the forwards on link `to`, then cancels them on the old holder (its open channels run on). */
  private moveForwards(to: number): void {
    const from = this.holder;
    const fromLink = this.links[from];
    const toLink = this.links[to]!;
    this.moving = true;
    this.holder = to;
    toLink.holdsForwards = true;
    if (fromLink) fromLink.holdsForwards = false;
    this.emit('log', 'info', `session ${this.config.id}: forwards move from ${formatGateway(this.gateways[from]!)} to ${formatGateway(this.gateways[to]!)}${to < from ? ' (failback to a preferred gateway)' : ''}`);
    void toLink.session.setForwards(this.forwards)
      .then(() => fromLink?.session.setForwards([]))
      .catch((err: unknown) => this.emit('log', 'error', `session ${this.config.id}: moving forwards failed: ${String(err)}`))
      .finally(() => {
        this.moving = false;
        if (to < from) this.retire(from); // failback: the old holder drains and disconnects
        for (const fwd of toLink.session.status().forwards) this.emit('forward', fwd);
        this.reconsider();
      });
  }

  private refreshState(): void {
    if (this.closing) return;
    const holders = this.liveLinks().filter((l) => l.holdsForwards);
    const states = holders.map((l) => l.session.state);
    const all = this.liveLinks().map((l) => l.session.state);
    const next: SessionState = states.includes('connected') ? 'connected'
      : all.length > 0 && all.every((s) => s === 'failed') ? 'failed'
        : all.includes('connecting') || all.includes('connected') ? 'connecting'
          : all.includes('backoff') ? 'backoff' : this.stateValue;
    this.setState(next);
  }

  private setState(state: SessionState): void {
    if (this.stateValue === 'stopped' || this.stateValue === state) return this.waiters.wake();
    this.stateValue = state;
    const error = state === 'failed' || state === 'backoff' ? this.finalError() : null;
    this.emit('state', state, error);
    this.waiters.wake();
  }

  // ---------------------------------------------------------------- status helpers

  private gatewayStatus(gateway: GatewayAddress, index: number): GatewayStatus {
    const link = this.links[index];
    const role: GatewayRole = !link ? 'idle' : link.holdsForwards ? 'active' : 'probe';
    const forwards = link && link.holdsForwards
      ? link.session.status().forwards.map((f) => ({ id: f.id, state: f.state, remotePort: f.remotePort, ...(f.remoteSocket ? { remoteSocket: f.remoteSocket } : {}) }))
      : [];
    return {
      host: gateway.host,
      port: gateway.port,
      state: link?.session.state ?? 'idle',
      role,
      lastError: link?.session.status().lastError ?? this.lastErrors[index] ?? null,
      connectedAt: link?.connectedAt ? new Date(link.connectedAt).toISOString() : null,
      forwards,
    };
  }

  private idleStatus(): SessionStatus {
    const g = this.gateways[this.holder]!;
    return {
      id: this.config.id, state: this.stateValue, host: g.host, port: g.port, attempt: 0, serverBanner: null, hostKeyFingerprint: null,
      lastError: null, forwards: [], localForwards: [], dynamicForwards: [], proxy: null, crypto: null,
    };
  }

  private finalError(): EdgeError {
    const last = this.lastErrors.find((e) => e !== null);
    return last
      ? new EdgeError(last.code as never, `No gateway of session ${this.config.id} is connected; last error: ${last.message}`)
      : new EdgeError('EDGE_ERR_CLOSED', `Session ${this.config.id} is ${this.stateValue}.`);
  }

}

/** strategy all: one row per forward — up while up on any gateway; counters summed over gateways. */
function mergeForwards(perLink: ForwardStatus[][], configured: ForwardConfig[]): ForwardStatus[] {
  return configured.map((cfg) => {
    const rows = perLink.map((list) => list.find((f) => f.id === cfg.id)).filter((f): f is ForwardStatus => f !== undefined);
    const up = rows.find((f) => f.state === 'up');
    const first = up ?? rows[0];
    if (!first) {
      return { id: cfg.id, state: 'pending', bind: cfg.remoteSocket ? '' : cfg.bind, port: cfg.port, remotePort: null, target: cfg.target ?? null,
        channels: { open: 0, total: 0, rejected: 0 }, bytesIn: 0, bytesOut: 0, lastError: null, ...(cfg.remoteSocket ? { remoteSocket: cfg.remoteSocket } : {}) };
    }
    return {
      ...first,
      channels: {
        open: rows.reduce((n, f) => n + f.channels.open, 0),
        total: rows.reduce((n, f) => n + f.channels.total, 0),
        rejected: rows.reduce((n, f) => n + f.channels.rejected, 0),
      },
      bytesIn: rows.reduce((n, f) => n + f.bytesIn, 0),
      bytesOut: rows.reduce((n, f) => n + f.bytesOut, 0),
    };
  });
}

/** The session class for an input: several gateways (`hosts`) or one (`host`). */
export function createSession(input: SessionConfigInput | MultiGatewayConfigInput, options: TunnelSessionOptions & { onLink?: (link: TunnelSession) => void } = {}): TunnelSession | MultiGatewaySession {
  if (isMultiGatewayInput(input)) return new MultiGatewaySession(input, options);
  const session = new TunnelSession(input as SessionConfigInput, options);
  options.onLink?.(session);
  return session;
}
