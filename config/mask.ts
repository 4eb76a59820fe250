// A printable copy of the configuration: credentials show only which fields are set
// (environment variable NAMES are shown: they are not secrets), and the assignment endpoint's
// and the sessions' proxy userinfo and query values are masked (src/grammar/redact.ts).
import { maskCredential, maskUrl } from '../src/grammar/redact.js';
import { maskProxyUrl } from '../src/grammar/proxy-url.js';
import type { AgentConfig } from './types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A deep copy of `config` that is safe to print or log. */
export function maskConfig(config: AgentConfig | Obj): unknown {
  const copy = structuredClone(config) as Obj;
  if (isObj(copy.credentials)) {
    copy.credentials = Object.fromEntries(Object.entries(copy.credentials).map(([name, c]) => [name, maskCredential(c)]));
  }
  if (isObj(copy.assignments) && typeof copy.assignments.url === 'string') {
    copy.assignments = { ...copy.assignments, url: maskUrl(copy.assignments.url) };
  }
  if (isObj(copy.assignments) && typeof copy.assignments.reportUrl === 'string') {
    copy.assignments = { ...copy.assignments, reportUrl: maskUrl(copy.assignments.reportUrl) };
  }
  // A session's proxy URL may carry credentials (http://user:pass@proxy:3128).
  if (Array.isArray(copy.sessions)) {
    copy.sessions = copy.sessions.map((s) => (isObj(s) && typeof s.proxy === 'string' ? { ...s, proxy: maskProxyUrl(s.proxy) } : s));
  }
  return copy;
}
