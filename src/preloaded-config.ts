// `edge-agent run` loads the configuration once, before startAgent(), to check the files it
// names: this hands that load to startAgent() instead of loading it a second time (the first
// load costs 30–36 ms of start on a slow core). Internal: not part of the library API — a
// library caller passes its config object as before and startAgent() loads it.
import type { LoadedConfig } from '../config/load-config.js';

const preloaded = new WeakMap<object, LoadedConfig>();

/**
 * A token to pass to startAgent() as its config: the agent starts from `loaded`, which must be
 * what loadConfig({ argsJson: '{}', env: process.env }) returns, and the token itself (an empty
 * object) is what its reloadConfig() loads again.
 */
export function preloadedConfig(loaded: LoadedConfig): Record<string, never> {
  const token = {};
  preloaded.set(token, loaded);
  return token;
}

/** The configuration preloadedConfig() registered for this token (taken once), if any. */
export function takePreloadedConfig(token: object): LoadedConfig | undefined {
  const loaded = preloaded.get(token);
  preloaded.delete(token);
  return loaded;
}
