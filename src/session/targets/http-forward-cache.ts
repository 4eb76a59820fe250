// The HTTP side (pool + server) of each forward with an HTTP target: built on first use, rebuilt
// when the forward's settings change, and retired — finishing its channels before its pool
// closes — when replaced or removed. The HTTP-target code itself is loaded lazily.
import type { ChannelCloseReason } from '../../net/channel-pipe.js';
import type { ForwardRuntime } from '../forward-runtime.js';
import type { HttpForward } from './http/http-forward.js';
import { httpForwardModule, loadHttpForwardModule } from './http/http-forward-loader.js';
import type { LogLevel } from '../session-types.js';

export class HttpForwardCache {
  /** The HTTP side of each forward with an HTTP target (pool + server), created on first use. */
  private readonly httpForwards = new Map<ForwardRuntime, HttpForward>();
  /** HttpForwards replaced or removed, finishing their channels before their pools close. */
  private readonly retiredHttp = new Set<HttpForward>();

  constructor(
    private readonly sessionId: string,
    private readonly log: (level: LogLevel, message: string, fields?: Record<string, unknown>) => void,
  ) {}

  /** Loads the HTTP-target code if needed, then builds the forward's HttpForward (if it is still the session's). */
  prepare(fwd: ForwardRuntime, isCurrent: (fwd: ForwardRuntime) => boolean): void {
    if (httpForwardModule()) {
      this.forForward(fwd);
      return;
    }
    loadHttpForwardModule().then(
      () => { if (fwd.http && isCurrent(fwd)) this.forForward(fwd); },
      (err: unknown) => this.log('error', `session ${this.sessionId}: HTTP target support could not be loaded: ${String(err)}`),
    );
  }

  /** The forward's current HttpForward, replacing (and retiring) one built from older settings (the module is loaded). */
  forForward(fwd: ForwardRuntime): HttpForward {
    const { HttpForward, httpForwardKey } = httpForwardModule()!;
    const key = httpForwardKey(fwd.target!, fwd.config);
    const current = this.httpForwards.get(fwd);
    if (current && current.key === key) return current;
    if (current) this.retire(current);
    const created = new HttpForward({
      key,
      sessionId: this.sessionId,
      forwardId: fwd.config.id,
      target: fwd.target!,
      settings: fwd.http!,
      connectTimeoutMs: fwd.config.targetConnectTimeoutMs,
      stats: fwd.httpStats,
      log: (level, message, fields) => this.log(level, message, fields),
    });
    this.httpForwards.set(fwd, created);
    return created;
  }

  /** After a forward's settings changed in place: retire its HttpForward if it no longer fits. */
  refresh(fwd: ForwardRuntime): void {
    const current = this.httpForwards.get(fwd);
    if (!current) return;
    if (fwd.http && fwd.target && current.key === httpForwardModule()!.httpForwardKey(fwd.target, fwd.config)) return;
    this.httpForwards.delete(fwd);
    this.retire(current);
  }

  /** A removed forward: its pool closes once its channels have ended. */
  remove(fwd: ForwardRuntime): void {
    const http = this.httpForwards.get(fwd);
    if (http) {
      this.httpForwards.delete(fwd);
      this.retire(http);
    }
  }

  /** HTTP keep-alive connections never end by themselves: end them between requests. */
  drain(): void {
    for (const http of this.httpForwards.values()) http.drain();
  }

  /** Every pool closes with the session (their channels were just ended). */
  destroyAll(reason: ChannelCloseReason): void {
    for (const http of [...this.httpForwards.values(), ...this.retiredHttp]) void http.destroy(reason);
    this.httpForwards.clear();
    this.retiredHttp.clear();
  }

  private retire(http: HttpForward): void {
    this.retiredHttp.add(http);
    void http.retire().then(() => this.retiredHttp.delete(http));
  }
}
