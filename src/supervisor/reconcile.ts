// The pure heart of applying a new assignment: which sessions to start, stop, restart (their
// connection settings changed) or update in place (only their forward lists — forwards,
// localForwards, dynamicForwards — changed, applied inside the running session without
// reconnecting). No I/O, so it is easy to test and reuse.

export interface SessionLike {
  id: string;
  forwards?: readonly unknown[];
  localForwards?: readonly unknown[];
  dynamicForwards?: readonly unknown[];
}

export interface ReconcilePlan<S extends SessionLike> {
  start: S[];
  stop: string[];
  /** Connection-level settings changed: stop the old session, start this one. */
  restart: S[];
  /** Only forwards changed: send the new list to the running session. */
  update: S[];
  unchanged: string[];
}

export function reconcile<S extends SessionLike>(desired: readonly S[], running: ReadonlyMap<string, S>): ReconcilePlan<S> {
  const plan: ReconcilePlan<S> = { start: [], stop: [], restart: [], update: [], unchanged: [] };
  const wanted = new Set<string>();
  for (const next of desired) {
    wanted.add(next.id);
    const current = running.get(next.id);
    if (!current) plan.start.push(next);
    else if (!sameJson(withoutForwards(current), withoutForwards(next))) plan.restart.push(next);
    else if (!sameJson(forwardLists(current), forwardLists(next))) plan.update.push(next);
    else plan.unchanged.push(next.id);
  }
  for (const id of running.keys()) if (!wanted.has(id)) plan.stop.push(id);
  return plan;
}

function withoutForwards(session: SessionLike): unknown {
  const { forwards: _f, localForwards: _l, dynamicForwards: _d, ...rest } = session;
  return rest;
}

function forwardLists(session: SessionLike): unknown {
  return [session.forwards ?? [], session.localForwards ?? [], session.dynamicForwards ?? []];
}

/** Structural equality of JSON-like values, independent of key order. */
export function sameJson(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
    }
    return v;
  });
}
