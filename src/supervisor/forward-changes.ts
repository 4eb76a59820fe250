// What a reconcile does to each forward, as log lines: every forward added, removed, retargeted
// or otherwise changed, for remote (-R), local (-L) and dynamic (-D) forwards alike, whether
// the change came from the config file (SIGHUP) or an assignment document. Target URLs are
// shown with any credentials redacted.
import { sameJson } from './reconcile.js';
import { redactCredentials } from '../grammar/redact.js';

type Forward = { id: string; bind?: string; port?: number; target?: string; host?: string; hostPort?: number };
type Session = { id: string; forwards?: readonly unknown[]; localForwards?: readonly unknown[]; dynamicForwards?: readonly unknown[] };

export interface ForwardChange {
  session: string;
  forward: string;
  kind: 'remote' | 'local' | 'dynamic';
  change: 'added' | 'removed' | 'retargeted' | 'changed';
  message: string;
}

const LISTS = [['forwards', 'remote', '-R'], ['localForwards', 'local', '-L'], ['dynamicForwards', 'dynamic', '-D']] as const;

/** The changes from `before` to `after` (either may be absent: a session started or stopped). */
export function forwardChanges(before: Session | undefined, after: Session | undefined): ForwardChange[] {
  const session = (after ?? before)!.id;
  const out: ForwardChange[] = [];
  for (const [list, kind, flag] of LISTS) {
    const old = byId(before?.[list]);
    const next = byId(after?.[list]);
    const say = (f: Forward, change: ForwardChange['change'], what: string) =>
      out.push({ session, forward: f.id, kind, change, message: `forward ${session}/${f.id} (${flag}) ${what}` });
    for (const [id, f] of next) {
      const was = old.get(id);
      if (!was) say(f, 'added', `added: ${describe(f)}`);
      else if (targetOf(was) !== targetOf(f)) say(f, 'retargeted', `retargeted: ${targetOf(was)} → ${targetOf(f)}`);
      else if (!sameJson(was, f)) say(f, 'changed', `changed: ${describe(f)}`);
    }
    for (const [id, f] of old) if (!next.has(id)) say(f, 'removed', `removed (was ${describe(f)})`);
  }
  return out;
}

function byId(list: readonly unknown[] | undefined): Map<string, Forward> {
  return new Map((list ?? []).filter((f): f is Forward => typeof (f as Forward)?.id === 'string').map((f) => [f.id, f]));
}

function targetOf(f: Forward): string {
  if (typeof f.target === 'string') return redactCredentials(f.target);
  if (f.host !== undefined) return `${f.host}:${f.hostPort}`;
  return 'SOCKS';
}

function describe(f: Forward): string {
  const bind = f.bind === undefined ? '' : `${f.bind === '' ? '*' : f.bind}:`;
  return `${bind}${f.port ?? '?'} → ${targetOf(f)}`;
}
