// A printable copy of the configuration: credentials show only which fields are set
// (environment variable NAMES are shown: they are not secrets), and the assignment endpoint's
// userinfo and query values are masked.
import { maskProxyUrl } from '../src/session/proxy/proxy-connect.js';
import type { AgentConfig, CredentialConfig } from './types.js';

export const MASK = '***';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function maskCredential(c: unknown): unknown {
  if (!isObj(c)) return MASK;
  const cred = c as CredentialConfig & Obj;
  const out: Obj = {};
  for (const [k, v] of Object.entries(cred)) {
    if (k === 'passphraseEnv' || k === 'passwordEnv') out[k] = typeof v === 'string' ? v : MASK;
    else if (k === 'agent') out[k] = typeof v === 'boolean' ? v : '[set]';
    else out[k] = '[set]';
  }
  return out;
}

/** `https://user:pass@host/p?token=x` → `https://***:***@host/p?token=***`. Unparsable text is masked whole. */
export function maskUrl(text: string): string {
  if (text === '') return text;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return MASK;
  }
  if (url.username) url.username = MASK;
  if (url.password) url.password = MASK;
  for (const key of [...new Set(url.searchParams.keys())]) url.searchParams.set(key, MASK);
  if (url.hash) url.hash = MASK;
  return url.toString().replace(/%2A%2A%2A/g, MASK);
}

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
