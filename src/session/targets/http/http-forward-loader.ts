// The HTTP-target code (undici, the HTTP parser, W3C trace context) is loaded on first use:
// a session whose forwards are all byte pipes never pays its memory and start-up time.
import { importSibling } from '../../../import-sibling.js';

type HttpForwardModule = typeof import('./http-forward.js');

let loaded: HttpForwardModule | undefined;
let loading: Promise<HttpForwardModule> | undefined;

/** The module once loaded, else undefined (then call loadHttpForwardModule()). */
export function httpForwardModule(): HttpForwardModule | undefined {
  return loaded;
}

export function loadHttpForwardModule(): Promise<HttpForwardModule> {
  loading ??= importSibling(import.meta.url, './http-forward', () => import('./http-forward.js')).then((m) => (loaded = m));
  return loading;
}
