// `edge-agent tunnel [opts] [user@]host`: one session from OpenSSH-style flags, no config
// file. Prints one line per forward each time it comes up (with the real remote port) and
// drains on SIGINT/SIGTERM; a second signal stops at once.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import ssh2 from 'ssh2';
import { isEdgeError } from '../errors.js';
import { createLogger, isLogLevel, type LogFormat } from '../log.js';
import type { AuthConfig, ReconnectMode, SessionConfigInput } from '../session/session-config.js';
import { TunnelSession } from '../session/tunnel-session.js';
import { parseRemoteForwardSpec } from './forward-spec.js';
import { UsageError } from './usage-error.js';

const { utils } = ssh2; // CommonJS: named exports are not visible to Node's ESM loader

export const TUNNEL_USAGE = `Usage: edge-agent tunnel [options] [user@]host

Holds remote forwards (like ssh -N -R) with keepalive, reconnect and host key checks.

Options:
  -R SPEC                      remote forward, repeatable:
                                 [bind_address:]port:host:hostport
                                 [bind_address:]port:/local/unix.sock
                                 [bind_address:]port:URL   (tcp://h:p, unix:/path, http(s)://h:p)
                               no bind_address = localhost on the SSH host; port 0 = server picks
  -p PORT                      SSH port (default 22)
  -l USER                      SSH user (default: user@ in host, else the local user)
  -i FILE                      private key, repeatable (default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa)
  --passphrase-env NAME        environment variable holding the key passphrase
  --password-env NAME          environment variable holding a password (password and
                               keyboard-interactive auth)
  --known-hosts FILE           known_hosts file, repeatable (default: ~/.ssh/known_hosts)
  --fingerprint SHA256:...     pinned host key fingerprint, repeatable (also hex SHA-256, MD5:...)
  --insecure-accept-any-host-key
                               accept any host key (warns on every connect; testing only)
  --keepalive-interval-ms MS   keepalive interval (default 30000; 0 = off)
  --keepalive-count N          unanswered keepalives before the link is dead (default 5)
  --reconnect MODE             never | after-connect | always (default always)
  --retry-interval-ms MS       first reconnect delay ceiling (default 5000)
  --max-retry-interval-ms MS   reconnect delay cap (default 60000)
  --max-retries N              -1 = unlimited (default)
  --drain-timeout-ms MS        how long open channels may finish on SIGINT/SIGTERM (default 10000)
  --log-level LEVEL            error | warn | info | debug (default info)
  --log-format FORMAT          text | json (default text)
  -N                           accepted for OpenSSH compatibility (never runs a command anyway)
  -h, --help                   this help
`;

const OPTIONS = {
  R: { type: 'string', short: 'R', multiple: true },
  L: { type: 'string', short: 'L', multiple: true },
  D: { type: 'string', short: 'D', multiple: true },
  p: { type: 'string', short: 'p' },
  l: { type: 'string', short: 'l' },
  i: { type: 'string', short: 'i', multiple: true },
  N: { type: 'boolean', short: 'N' },
  help: { type: 'boolean', short: 'h' },
  'passphrase-env': { type: 'string' },
  'password-env': { type: 'string' },
  'known-hosts': { type: 'string', multiple: true },
  fingerprint: { type: 'string', multiple: true },
  'insecure-accept-any-host-key': { type: 'boolean' },
  'keepalive-interval-ms': { type: 'string' },
  'keepalive-count': { type: 'string' },
  reconnect: { type: 'string' },
  'retry-interval-ms': { type: 'string' },
  'max-retry-interval-ms': { type: 'string' },
  'max-retries': { type: 'string' },
  'drain-timeout-ms': { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  admin: { type: 'string' },
} as const;

export interface TunnelCommand {
  session: SessionConfigInput;
  drainTimeoutMs: number;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  logFormat: LogFormat;
  /** Default keys that were skipped (encrypted without a passphrase), for a warning. */
  skippedKeys: string[];
}

/** Turns argv into a session configuration; throws UsageError (exit 2) on bad input. */
export function parseTunnelArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): TunnelCommand | 'help' {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, '.'));
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (values.L?.length) throw new UsageError('-L (local forwards) is not supported by this version of edge-agent tunnel; use ssh -L, or hold remote forwards with -R.');
  if (values.D?.length) throw new UsageError('-D (SOCKS forwards) is not supported by this version of edge-agent tunnel.');
  if (values.admin !== undefined) throw new UsageError('--admin is not supported by edge-agent tunnel yet; use edge-agent run with admin.listen in the config file.');
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? 'the SSH host is missing: edge-agent tunnel [options] [user@]host' : `expected one host, got: ${positionals.join(' ')} (a remote command is not supported: the agent only forwards)`);
  }
  if (!values.R?.length) throw new UsageError('give at least one remote forward with -R [bind_address:]port:host:hostport');

  const destination = positionals[0]!;
  const at = destination.lastIndexOf('@');
  const host = at >= 0 ? destination.slice(at + 1) : destination;
  const username = values.l ?? (at >= 0 ? destination.slice(0, at) : os.userInfo().username);
  if (!host) throw new UsageError(`"${destination}" has no host name`);

  const forwards = values.R.map((spec, i) => {
    try {
      const fwd = parseRemoteForwardSpec(spec);
      return { id: `R${i + 1}`, bind: fwd.bind, port: fwd.port, target: fwd.target };
    } catch (err) {
      throw new UsageError(isEdgeError(err) ? err.message : String(err));
    }
  });

  const home = os.homedir();
  const passphrase = envValue(env, values['passphrase-env'], '--passphrase-env');
  const password = envValue(env, values['password-env'], '--password-env');
  const skippedKeys: string[] = [];
  const privateKeys: NonNullable<AuthConfig['privateKeys']> = [];
  if (values.i?.length) {
    for (const file of values.i) privateKeys.push({ key: readKeyFile(file, '-i'), passphrase, source: file });
  } else {
    for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
      const file = path.join(home, '.ssh', name);
      if (!existsSync(file)) continue;
      const key = readKeyFile(file, '-i');
      // OpenSSH would prompt; a headless agent skips an encrypted default key it cannot open.
      if (utils.parseKey(key, passphrase) instanceof Error) {
        skippedKeys.push(file);
        continue;
      }
      privateKeys.push({ key, passphrase, source: file });
    }
  }

  const knownHosts = values['known-hosts'] ?? [];
  const fingerprints = values.fingerprint ?? [];
  const insecure = values['insecure-accept-any-host-key'] ?? false;
  if (knownHosts.length === 0 && fingerprints.length === 0 && !insecure) {
    const fallback = path.join(home, '.ssh', 'known_hosts');
    if (!existsSync(fallback)) {
      throw new UsageError(`no way to verify the host key: ${fallback} does not exist; pass --known-hosts FILE or --fingerprint SHA256:… (ssh-keyscan can produce a known_hosts line; check it out of band)`);
    }
    knownHosts.push(fallback);
  }

  const logLevel = values['log-level'] ?? 'info';
  if (!isLogLevel(logLevel)) throw new UsageError(`--log-level must be one of error, warn, info, debug (got "${logLevel}")`);
  const logFormat = values['log-format'] ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json') throw new UsageError(`--log-format must be text or json (got "${logFormat}")`);
  const mode = values.reconnect ?? 'always';
  if (!['never', 'after-connect', 'always'].includes(mode)) throw new UsageError(`--reconnect must be never, after-connect or always (got "${mode}")`);

  return {
    session: {
      id: `${host}:${values.p ?? 22}`,
      host,
      port: intFlag(values.p, '-p', 1, 65535) ?? 22,
      auth: { username, privateKeys, agent: env.SSH_AUTH_SOCK || undefined, password },
      hostKeys: { knownHostsFile: knownHosts.length ? knownHosts : undefined, fingerprints: fingerprints.length ? fingerprints : undefined, insecureAcceptAny: insecure || undefined },
      keepalive: {
        intervalMs: intFlag(values['keepalive-interval-ms'], '--keepalive-interval-ms', 0),
        countMax: intFlag(values['keepalive-count'], '--keepalive-count', 1),
      },
      reconnect: {
        mode: mode as ReconnectMode,
        retryIntervalMs: intFlag(values['retry-interval-ms'], '--retry-interval-ms', 1),
        maxRetryIntervalMs: intFlag(values['max-retry-interval-ms'], '--max-retry-interval-ms', 1),
        maxRetries: intFlag(values['max-retries'], '--max-retries', -1),
      },
      forwards,
    },
    drainTimeoutMs: intFlag(values['drain-timeout-ms'], '--drain-timeout-ms', 0) ?? 10_000,
    logLevel,
    logFormat,
    skippedKeys,
  };
}

/** Runs the tunnel until a signal; resolves with the process exit code. */
export async function runTunnelCommand(argv: string[]): Promise<number> {
  const cmd = parseTunnelArgs(argv);
  if (cmd === 'help') {
    process.stdout.write(TUNNEL_USAGE);
    return 0;
  }
  const log = createLogger({ level: cmd.logLevel, format: cmd.logFormat });
  for (const file of cmd.skippedKeys) log('warn', `skipping ${file}: it is encrypted and no --passphrase-env was given`);

  let session: TunnelSession;
  try {
    session = new TunnelSession(cmd.session);
  } catch (err) {
    if (isEdgeError(err)) throw new UsageError(err.message, err.code);
    throw err;
  }
  session.on('log', (level, message, fields) => log(level, message, fields));
  session.on('forward', (fwd) => {
    if (fwd.state === 'up') {
      process.stdout.write(`forward ${fwd.id} up: ${fwd.bind || '*'}:${fwd.remotePort} on ${cmd.session.host} -> ${fwd.target}\n`);
    }
  });

  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals += 1;
      if (signals === 1) {
        log('info', `${signal}: draining (open channels have ${cmd.drainTimeoutMs} ms; send again to stop now)`);
        void session.close(cmd.drainTimeoutMs).then(() => finish(0));
      } else {
        session.destroy();
        finish(0);
      }
    };
    const finish = (code: number) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(code);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    session.on('state', (state, error) => {
      if (state === 'failed') {
        log('error', `session failed: ${error?.message ?? 'unknown error'}`, { code: error?.code });
        finish(1);
      }
    });
    session.start();
  });
}

function envValue(env: NodeJS.ProcessEnv, name: string | undefined, flag: string): string | undefined {
  if (name === undefined) return undefined;
  const value = env[name];
  if (value === undefined) throw new UsageError(`${flag} ${name}: that environment variable is not set`);
  return value;
}

function readKeyFile(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(`${flag} ${file}: cannot read the key file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

function intFlag(value: string | undefined, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max === Number.MAX_SAFE_INTEGER ? 'any' : max} (got "${value}")`);
  }
  return Number(value);
}

