// The one place secrets are taken out of values before they are shown (logs, /status, status
// reports, spans, error messages, the printed config). Two entry points, one rule set:
//
//   redactCredentials(text)  free text that may contain URLs (messages, log lines): every
//                            `//userinfo@` becomes `//***@`. The text is not a URL, so only the
//                            userinfo is known to be secret.
//   maskUrl(url)             one URL value (an endpoint, a proxy): userinfo → `***` (user only)
//                            or `***:***` (user and password: shows a password is set, never
//                            which), each query value → `***` (a bare query word → `***`), a
//                            fragment → `#***`; the rest kept as written. Text that is not a
//                            readable `scheme://…` URL is masked whole.
// plus the two narrower forms the status and span code need (describeEndpoint, maskQuery) and
// the credential-object form the printed config uses (maskCredential).

export const MASK = '***';

/** Replace URL credentials (`scheme://user:pass@`) with `***@` so messages never echo secrets. */
export function redactCredentials(text: string): string {
  return text.replace(/(\/\/)[^/?#@\s]*@/g, `$1${MASK}@`);
}

/** `scheme://` + authority (up to the first '/', '?' or '#') + the rest. */
const HIERARCHICAL_URL = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/is;

/** `https://user:pass@host/p?token=x#f` → `https://***:***@host/p?token=***#***`. Not a URL → `***`. */
export function maskUrl(text: string): string {
  if (text === '') return text;
  const m = HIERARCHICAL_URL.exec(text);
  if (!m || !URL.canParse(text)) return MASK;
  const [, scheme, authority, path, query, fragment] = m as unknown as [string, string, string, string, string | undefined, string | undefined];
  const at = authority.lastIndexOf('@');
  const host = at === -1 ? authority : `${maskUserinfo(authority.slice(0, at))}@${authority.slice(at + 1)}`;
  return `${scheme}${host}${path}${query === undefined ? '' : `?${maskQuery(query.slice(1))}`}${fragment === undefined ? '' : fragment === '#' ? '#' : `#${MASK}`}`;
}

function maskUserinfo(userinfo: string): string {
  return userinfo.includes(':') ? `${MASK}:${MASK}` : MASK;
}

/** A query string (without '?') with every value replaced: `a=1&b` → `a=***&***`. Names are kept, bare words are not. */
export function maskQuery(query: string, replacement = MASK): string {
  if (query === '') return query;
  return query.split('&').map((part) => {
    const eq = part.indexOf('=');
    return eq === -1 ? (part === '' ? part : replacement) : `${part.slice(0, eq)}=${replacement}`;
  }).join('&');
}

/** An endpoint as shown in logs and /status: scheme, host and path; never credentials or the query. */
export function describeEndpoint(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** A credential object as printed: environment variable NAMES shown (not secrets), `agent` as set, everything else `[set]`. */
export function maskCredential(credential: unknown): unknown {
  if (credential === null || typeof credential !== 'object' || Array.isArray(credential)) return MASK;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(credential)) {
    if (k === 'passphraseEnv' || k === 'passwordEnv') out[k] = typeof v === 'string' ? v : MASK;
    else if (k === 'agent') out[k] = typeof v === 'boolean' ? v : '[set]';
    else out[k] = '[set]';
  }
  return out;
}
