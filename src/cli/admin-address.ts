// Where `edge-agent status` finds the running agent's admin server: --admin, else the admin.listen
// the agent itself would use — EDGE_AGENT_ADMIN_LISTEN over EDGE_AGENT_CONFIG_JSON over the config
// file (--config or $EDGE_AGENT_CONFIG) over the default 127.0.0.1:9480, the loader's precedence.
// Only that one key is read, so a config with unrelated mistakes still finds its agent.
import { readFileSync } from 'node:fs';
import { CONFIG_FILE_ENV, CONFIG_JSON_ENV } from '../../config/load-config.js';
import { formatListenAddress, parseListenAddress } from '../../config/formats.js';
import { UsageError } from './usage-error.js';

const DEFAULT_ADMIN = '127.0.0.1:9480';

export interface AdminAddress {
  /** Base URL, no trailing slash. */
  base: string;
  /** Where the address came from, for messages. */
  from: string;
}

export function resolveAdminAddress(flag: string | undefined, configFile: string | undefined, env: NodeJS.ProcessEnv): AdminAddress {
  if (flag !== undefined) return { base: toBase(flag, '--admin'), from: '--admin' };
  let listen: string | undefined;
  let from = `the default ${DEFAULT_ADMIN}`;
  const file = configFile ?? (env[CONFIG_FILE_ENV] || undefined);
  if (file !== undefined) {
    const value = adminListenIn(readJson(file, `config file ${file}`), `config file ${file}`);
    if (value !== undefined) [listen, from] = [value, `admin.listen in ${file}`];
  }
  const json = env[CONFIG_JSON_ENV];
  if (json !== undefined && json.trim() !== '') {
    const value = adminListenIn(parseJson(json, CONFIG_JSON_ENV), CONFIG_JSON_ENV);
    if (value !== undefined) [listen, from] = [value, `admin.listen in ${CONFIG_JSON_ENV}`];
  }
  if (env.EDGE_AGENT_ADMIN_LISTEN !== undefined) [listen, from] = [env.EDGE_AGENT_ADMIN_LISTEN, 'EDGE_AGENT_ADMIN_LISTEN'];
  listen ??= DEFAULT_ADMIN;
  if (listen === '') throw new UsageError(`the admin server is disabled (${from} is ""): there is nothing to ask; enable it or pass --admin HOST:PORT`, 'EDGE_ERR_INVALID_CONFIG');
  return { base: toBase(listen, from), from };
}

/** host:port or a URL → base URL; a wildcard listen address is reached on loopback. */
function toBase(value: string, from: string): string {
  if (/^https?:\/\//.test(value)) return value.replace(/\/+$/, '');
  let address;
  try {
    address = parseListenAddress(value);
  } catch (err) {
    throw new UsageError(`${from}: ${(err as Error).message}`, 'EDGE_ERR_INVALID_CONFIG');
  }
  if (address.port === 0) throw new UsageError(`${from} is "${value}": port 0 means the agent picked a free port, which only the agent knows (its log says where); pass --admin HOST:PORT`, 'EDGE_ERR_INVALID_CONFIG');
  if (address.host === '0.0.0.0') address.host = '127.0.0.1';
  if (address.host === '::') address.host = '::1';
  return `http://${formatListenAddress(address)}`;
}

function adminListenIn(doc: unknown, label: string): string | undefined {
  const admin = (doc as { admin?: { listen?: unknown } } | null)?.admin;
  if (admin?.listen === undefined) return undefined;
  if (typeof admin.listen !== 'string') throw new UsageError(`${label}: admin.listen must be a string "host:port"`, 'EDGE_ERR_INVALID_CONFIG');
  return admin.listen;
}

function readJson(file: string, label: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${label}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'EDGE_ERR_INVALID_CONFIG');
  }
  return parseJson(text, label);
}

function parseJson(text: string, label: string): unknown {
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new UsageError(`${label}: invalid JSON: ${(err as Error).message}`, 'EDGE_ERR_INVALID_CONFIG');
  }
}
