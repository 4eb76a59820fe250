// `edge-agent tunnel [opts] [user@]host`: one session from OpenSSH-style flags, no config
// file. Prints one line per forward each time it comes up (with the real remote port) and
// drains on SIGINT/SIGTERM; a second signal stops at once.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseKey } from '../ssh2/client-modules.js';
import { ipFamily as isIP } from '../grammar/ip-address.js';
import { isEdgeError } from '../errors.js';
import { checkSshHostName } from '../grammar/host-name.js';
import { ALGORITHM_CATEGORIES, checkAlgorithmWidening, DEFAULT_CIPHER, type AlgorithmWidening } from '../ssh-algorithms.js';
import { createLogger } from '../log.js';
import { LOG_OPTIONS, logFlags, type LogFlags } from './log-flags.js';
import { normaliseSession, type AuthConfig, type ReconnectMode, type SessionConfig } from '../session/session-config.js';
import { SESSION_PORT_DEFAULT } from '../../config/session-schema.js';
import { isCredentialFailure } from '../session/backoff.js';
import type { TunnelSession } from '../session/tunnel-session.js';
import { formatGateway, parseGatewayAddress, parseGatewayList, type GatewayAddress, type GatewayStrategy } from '../session/gateway-list.js';
import { createSession, type MultiGatewayConfigInput, type MultiGatewaySession } from '../session/multi-gateway-session.js';
import { parseDynamicForwardSpec, parseLocalForwardSpec, parseRemoteForwardSpec } from './forward-spec.js';
import { parseDestinationPattern } from '../grammar/destination-allow-list.js';
import { isLoopbackBind } from '../grammar/bind.js';
import { checkProxySetting } from '../grammar/proxy-url.js';
import { intFlag } from './int-flag.js';
import { attachCertificates } from './certificate-flags.js';
import { asUsageError, parseCommandArgs, unlessHelp, UsageError } from './usage-error.js';
import { listenerLine, print, remoteForwardLine } from './tunnel-output.js';
import { DRAIN_BACKSTOP_MS, onShutdown } from '../lifecycle/shutdown.js';

export const TUNNEL_USAGE = `Usage: edge-agent tunnel [options] [user@]host[,host2...]

Holds remote, local and SOCKS forwards (like ssh -N -R/-L/-D) with keepalive, reconnect
and host key checks.

Options:
  -R SPEC                      remote forward, repeatable:
                                 [bind_address:]port:host:hostport
                                 [bind_address:]port:/local/unix.sock
                                 [bind_address:]port:URL   (tcp://h:p, unix:/path, http(s)://h:p,
                                                            http+unix:/path)
                               http(s):// and http+unix: targets are relayed request by request
                               (X-Forwarded-For, WebSockets, traceparent); the others byte for byte
                               no bind_address = localhost on the SSH host; port 0 = server picks
                                 /remote/socket:host:hostport (also :/local/unix.sock, :URL)
                               listens on a unix socket on the SSH host instead of a port
                               (OpenSSH streamlocal; sshd StreamLocalBindUnlink yes replaces a
                               stale socket on reconnect)
  -L SPEC                      local forward, repeatable: [bind_address:]port:host:hostport
                               listens on this device; host:hostport is reached from the SSH host
                               no bind_address = localhost (127.0.0.1 and ::1); port 0 = any free
  -D SPEC                      dynamic forward (SOCKS4/4a/5 server on this device), repeatable:
                               [bind_address:]port; every destination allowed unless --socks-allow
  -g                           allow other machines to use -L/-D listeners: needed for any bind
                               address that is not loopback; with no bind_address, listen on all
                               interfaces (as ssh -g)
  --socks-allow PATTERN        destinations -D may reach, repeatable: host:port patterns with *
                               wildcards, CIDR ranges, port ranges ("*.lan:443", "10.0.0.0/8:*",
                               "[::1]:22"); default "*:*"
  --socks-user USER            require SOCKS5 username/password on -D listeners (with
  --socks-password-env NAME    the password in that environment variable)
  --exit-on-forward-failure    a forward that cannot be set up (a -L/-D listener, a -R refused by
                               the SSH host) ends the command with exit 1 instead of retrying
  --session-wait-ms MS         a -L/-D connection arriving while the SSH session is down waits
                               this long for it, then is closed (default 10000; 0 = close at once)
  --proxy URL|env              reach the SSH host through a proxy: http://[user:pass@]host:port
                               (HTTP CONNECT), socks5://…, socks5h://… (proxy resolves the name),
                               socks4://…, socks4a://…; "env" = HTTPS_PROXY / ALL_PROXY, hosts in
                               NO_PROXY reached directly
  -p PORT                      SSH port (default 22)
  --host HOST[:PORT]           another gateway, repeatable; also [user@]gw1,gw2:2222,[::1]:22
                               (most preferred first; port -p, else 22, where none is given)
  --strategy failover|all      with several gateways: failover (default; forwards on one gateway,
                               the next when it is lost, back to a preferred one once it has been
                               up for --failback-after-ms, default 60000) or all (every gateway
                               holds every forward)
  -l USER                      SSH user (default: user@ in host, else the local user)
  -i FILE                      private key, repeatable (default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa);
                               FILE-cert.pub, when it exists, is used as its user certificate
  --cert FILE                  OpenSSH user certificate for the -i key it certifies, repeatable
                               (read again at every reconnect, so a renewed file is picked up)
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
  --auth-retry-interval-ms MS  once connected, authentication and host key failures are retried
                               no sooner than this apart, re-reading keys and known_hosts
                               (default 60000; the first connect fails at once, as ssh)
  -c, --ciphers LIST           SSH ciphers to offer, in order, comma-separated (as ssh -c),
                               e.g. aes128-gcm@openssh.com,chacha20-poly1305@openssh.com
                               (default: AES-GCM first on CPUs with AES instructions,
                               chacha20-poly1305 first otherwise)
  --algorithms CATEGORY=LIST   LEGACY HOSTS ONLY: also offer these SSH algorithms after the
                               secure defaults, repeatable; CATEGORY is kex, serverHostKey,
                               cipher, hmac or compress, e.g. --algorithms kex=diffie-hellman-group14-sha1
                               --algorithms serverHostKey=ssh-rsa
  --sshd-nodelay-exec          after connecting, exec \`true\` once on the SSH host so that
                               OpenSSH's sshd turns on TCP_NODELAY (removes ~40 ms request
                               tails of forward-only sessions; runs a command on the host)
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
  g: { type: 'boolean', short: 'g' },
  'socks-allow': { type: 'string', multiple: true },
  'socks-user': { type: 'string' },
  'socks-password-env': { type: 'string' },
  'exit-on-forward-failure': { type: 'boolean' },
  'session-wait-ms': { type: 'string' },
  proxy: { type: 'string' },
  p: { type: 'string', short: 'p' },
  l: { type: 'string', short: 'l' },
  i: { type: 'string', short: 'i', multiple: true },
  cert: { type: 'string', multiple: true },
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
  'auth-retry-interval-ms': { type: 'string' },
  'drain-timeout-ms': { type: 'string' },
  ciphers: { type: 'string', short: 'c' },
  algorithms: { type: 'string', multiple: true },
  'sshd-nodelay-exec': { type: 'boolean' },
  ...LOG_OPTIONS,
  admin: { type: 'string' },
  host: { type: 'string', multiple: true },
  strategy: { type: 'string' },
  'failback-after-ms': { type: 'string' },
} as const;

export interface TunnelCommand extends LogFlags {
  /** Normalised and frozen by normaliseSession, as a config file's; several gateways set `hosts` and `strategy`. */
  session: Readonly<SessionConfig> & Pick<MultiGatewayConfigInput, 'hosts' | 'strategy' | 'failbackAfterMs'>;
  drainTimeoutMs: number;
  /** Default keys that were skipped (encrypted without a passphrase), for a warning. */
  skippedKeys: string[];
}

/** Turns argv into a session configuration; throws UsageError (exit 2) on bad input. */
export function parseTunnelArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): TunnelCommand | 'help' {
  const { values, positionals } = parseCommandArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  if (values.help) return 'help';
  if (values.admin !== undefined) throw new UsageError('--admin is not supported by edge-agent tunnel yet; use edge-agent run with admin.listen in the config file.');
  const extraHosts = values.host ?? [];
  if (positionals.length > 1 || (positionals.length === 0 && extraHosts.length === 0)) {
    throw new UsageError(positionals.length === 0 ? 'the SSH host is missing: edge-agent tunnel [options] [user@]host' : `expected one host, got: ${positionals.join(' ')} (a remote command is not supported: the agent only forwards)`);
  }
  if (!values.R?.length && !values.L?.length && !values.D?.length) {
    throw new UsageError('give at least one remote forward with -R [bind_address:]port:host:hostport, local forward with -L [bind_address:]port:host:hostport or SOCKS forward with -D [bind_address:]port');
  }

  const destination = positionals[0] ?? '';
  const at = destination.lastIndexOf('@');
  const hostPart = at >= 0 ? destination.slice(at + 1) : destination;
  const username = values.l ?? (at >= 0 ? destination.slice(0, at) : os.userInfo().username);
  if (positionals.length === 1 && !hostPart) throw new UsageError(`"${destination}" has no host name`);
  // Several gateways: user@gw1,gw2:2222 and/or repeated --host HOST[:PORT] (port: -p, else 22).
  const gatewaySpecs = [...(hostPart ? hostPart.split(',') : []), ...extraHosts];
  const multi = gatewaySpecs.length > 1 || extraHosts.length > 0;
  const defaultPort = intFlag(values.p, '-p', 1, 65535) ?? SESSION_PORT_DEFAULT;
  let gateways: GatewayAddress[] | undefined;
  if (multi) {
    try {
      gateways = parseGatewayList(gatewaySpecs.map((g) => parseGatewayAddress(g, defaultPort)), 'host');
    } catch (err) {
      throw new UsageError(`gateways ${JSON.stringify(gatewaySpecs.join(','))}: ${(err as Error).message.replace(/^host(\[\d+\])?: /, '')}`);
    }
  } else if (values.strategy !== undefined || values['failback-after-ms'] !== undefined) {
    throw new UsageError('--strategy and --failback-after-ms apply to several gateways (user@gw1,gw2 or --host), and only one is given');
  }
  const strategy = (values.strategy ?? 'failover') as GatewayStrategy;
  if (strategy !== 'failover' && strategy !== 'all') throw new UsageError(`--strategy must be failover or all (got "${strategy}")`);
  // An IPv6 address may be written in brackets; impossible names are a usage error, not retried.
  const host = gateways ? gateways[0]!.host : /^\[.*\]$/.test(hostPart) && isIP(hostPart.slice(1, -1)) === 6 ? hostPart.slice(1, -1) : hostPart;
  for (const name of gateways ? gateways.map((g) => g.host) : [host]) {
    const hostProblem = checkSshHostName(name, '-p');
    if (hostProblem) throw new UsageError(hostProblem);
  }

  const forwards = (values.R ?? []).map((spec, i) => {
    const fwd = asUsageError(() => parseRemoteForwardSpec(spec));
    return fwd.remoteSocket !== undefined
      ? { id: `R${i + 1}`, remoteSocket: fwd.remoteSocket, target: fwd.target }
      : { id: `R${i + 1}`, bind: fwd.bind, port: fwd.port, target: fwd.target };
  });
  const relay = values.g ?? false;
  const sessionWaitMs = intFlag(values['session-wait-ms'], '--session-wait-ms', 0);
  // A -L/-D listener on a non-loopback address lets other machines in: only with -g.
  const listener = <T extends { bind: string }>(flag: '-L' | '-D', spec: string, parse: (spec: string, opts: { gatewayPorts: boolean }) => T): T => {
    const fwd = asUsageError(() => parse(spec, { gatewayPorts: relay }));
    if (!relay && !isLoopbackBind(fwd.bind)) {
      throw new UsageError(`${flag} ${spec}: bind address ${fwd.bind === '' ? '"*" (all interfaces)' : `"${fwd.bind}"`} is not loopback, so other machines could use this tunnel; add -g to allow that (or bind localhost)`);
    }
    return fwd;
  };
  const localForwards = (values.L ?? []).map((spec, i) => {
    const fwd = listener('-L', spec, parseLocalForwardSpec);
    return { id: `L${i + 1}`, bind: fwd.bind, port: fwd.port, host: fwd.host, hostPort: fwd.hostPort, allowRelay: relay, ...(sessionWaitMs !== undefined ? { sessionWaitMs } : {}) };
  });
  const socksUser = values['socks-user'];
  const socksPassword = envValue(env, values['socks-password-env'], '--socks-password-env');
  if ((socksUser === undefined) !== (socksPassword === undefined)) throw new UsageError('--socks-user and --socks-password-env go together (SOCKS5 username/password authentication)');
  if ((socksUser !== undefined || values['socks-allow']?.length) && !values.D?.length) throw new UsageError('--socks-allow, --socks-user and --socks-password-env apply to -D forwards, and there is none');
  const allowDestinations = values['socks-allow']?.length ? values['socks-allow'] : ['*:*'];
  allowDestinations.forEach((p) => {
    try {
      parseDestinationPattern(p);
    } catch (err) {
      throw new UsageError(`--socks-allow ${p}: ${(err as Error).message}`);
    }
  });
  const dynamicForwards = (values.D ?? []).map((spec, i) => {
    const fwd = listener('-D', spec, parseDynamicForwardSpec);
    return {
      id: `D${i + 1}`, bind: fwd.bind, port: fwd.port, allowRelay: relay, allowDestinations: [...allowDestinations],
      ...(socksUser !== undefined ? { username: socksUser, password: socksPassword } : {}),
      ...(sessionWaitMs !== undefined ? { sessionWaitMs } : {}),
    };
  });
  const proxy = values.proxy ?? '';
  asUsageError(() => checkProxySetting(proxy, '--proxy'));

  const home = os.homedir();
  const passphrase = envValue(env, values['passphrase-env'], '--passphrase-env');
  const password = envValue(env, values['password-env'], '--password-env');
  const skippedKeys: string[] = [];
  const privateKeys: NonNullable<AuthConfig['privateKeys']> = [];
  if (values.i?.length) {
    for (const file of values.i) privateKeys.push({ key: readKeyFile(file, '-i'), passphrase, source: file, file });
  } else {
    for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
      const file = path.join(home, '.ssh', name);
      if (!existsSync(file)) continue;
      const key = readKeyFile(file, '-i');
      // OpenSSH would prompt; a headless agent skips an encrypted default key it cannot open.
      if (parseKey(key, passphrase) instanceof Error) {
        skippedKeys.push(file);
        continue;
      }
      privateKeys.push({ key, passphrase, source: file, file });
    }
  }
  attachCertificates(privateKeys, values.cert ?? []);

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

  const logging = logFlags(values);
  const mode = values.reconnect ?? 'always';
  if (!['never', 'after-connect', 'always'].includes(mode)) throw new UsageError(`--reconnect must be never, after-connect or always (got "${mode}")`);
  const algorithms = values.algorithms?.length ? parseAlgorithmFlags(values.algorithms) : undefined;
  const ciphers = values.ciphers === undefined ? undefined : parseCipherList(values.ciphers, algorithms?.cipher ?? []);

  return {
    session: normaliseSession({
      id: gateways ? gateways.map(formatGateway).join(',') : `${host}:${defaultPort}`,
      host,
      port: gateways ? gateways[0]!.port : defaultPort,
      ...(gateways ? { hosts: gateways, strategy, failbackAfterMs: intFlag(values['failback-after-ms'], '--failback-after-ms', 0) } : {}),
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
        authRetryIntervalMs: intFlag(values['auth-retry-interval-ms'], '--auth-retry-interval-ms', 1),
      },
      ...(ciphers ? { ciphers } : {}),
      ...(algorithms ? { algorithms } : {}),
      ...(values['sshd-nodelay-exec'] ? { sshdNoDelayExec: true } : {}),
      forwards,
      localForwards,
      dynamicForwards,
      ...(proxy ? { proxy } : {}),
      ...(values['exit-on-forward-failure'] ? { exitOnForwardFailure: true } : {}),
    }),
    drainTimeoutMs: intFlag(values['drain-timeout-ms'], '--drain-timeout-ms', 0) ?? 10_000,
    ...logging,
    skippedKeys,
  };
}

/** Runs the tunnel until a signal; resolves with the process exit code. */
export async function runTunnelCommand(argv: string[]): Promise<number> {
  const cmd = unlessHelp(parseTunnelArgs(argv), TUNNEL_USAGE);
  if (!cmd) return 0;
  const log = createLogger({ level: cmd.logLevel, format: cmd.logFormat });
  for (const file of cmd.skippedKeys) log('warn', `skipping ${file}: it is encrypted and no --passphrase-env was given`);

  let session: TunnelSession | MultiGatewaySession;
  try {
    // One line each time a forward comes up on a gateway (with several gateways: per gateway).
    session = createSession(cmd.session, {
      onLink: (link) => link.on('forward', (fwd) => print(remoteForwardLine(fwd, cmd.session.hosts ? formatGateway(link.config) : link.config.host))),
    });
  } catch (err) {
    if (isEdgeError(err)) throw new UsageError(err.message, err.code);
    throw err;
  }
  session.on('log', (level, message, fields) => log(level, message, fields));
  // One line each time a -L/-D listener opens, with the real local port (port 0 = any free port).
  session.on('localForward', (fwd) => print(listenerLine(fwd, cmd.session.host)));

  const shutdown = onShutdown({
    drain: async (signal) => {
      log('info', `${signal}: draining (open channels have ${cmd.drainTimeoutMs} ms; send again to stop now)`);
      await session.close(cmd.drainTimeoutMs);
      return 0;
    },
    stop: () => {
      session.destroy();
      return 0;
    },
    deadlineMs: cmd.drainTimeoutMs + DRAIN_BACKSTOP_MS,
  });
  // As ssh: a host key or authentication failure on the first connect ends the command (exit 1,
  // the message shows the offered fingerprint). Once connected, they are retried like `run` does
  // (reconnect.authRetryIntervalMs), since the tunnel may be the only way back to the device.
  let everConnected = false;
  session.once('connected', () => { everConnected = true; });
  session.on('connectFailed', ({ error }) => {
    if (everConnected || !isCredentialFailure(error)) return;
    log('error', `session failed: ${error.message}`, { code: error.code });
    session.destroy();
    shutdown.finish(1);
  });
  session.on('state', (state, error) => {
    if (state === 'failed') {
      log('error', `session failed: ${error?.message ?? 'unknown error'}`, { code: error?.code });
      shutdown.finish(1);
    }
  });
  session.start();
  return shutdown.exitCode;
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



/** `--algorithms kex=a,b` (repeatable): names added after the defaults, per category. */
function parseAlgorithmFlags(flags: string[]): AlgorithmWidening {
  const widening: Record<string, string[]> = {};
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    const category = eq > 0 ? flag.slice(0, eq) : '';
    if (!(ALGORITHM_CATEGORIES as readonly string[]).includes(category)) {
      throw new UsageError(`--algorithms ${flag}: expected CATEGORY=NAME[,NAME…] with CATEGORY one of ${ALGORITHM_CATEGORIES.join(', ')}`);
    }
    const names = flag.slice(eq + 1).split(',').map((n) => n.trim()).filter(Boolean);
    if (names.length === 0) throw new UsageError(`--algorithms ${flag}: no algorithm names`);
    (widening[category] ??= []).push(...names);
  }
  return asUsageError(() => checkAlgorithmWidening(widening, '--algorithms'));
}

/** `-c a,b,c`: the order of the offered ciphers; weaker ones only with --algorithms cipher=…. */
function parseCipherList(list: string, widened: string[]): string[] {
  const names = list.split(',').map((c) => c.trim()).filter(Boolean);
  if (names.length === 0) throw new UsageError('--ciphers needs at least one cipher name');
  const allowed = [...DEFAULT_CIPHER, ...widened];
  const unknown = names.filter((c) => !allowed.includes(c));
  if (unknown.length) throw new UsageError(`--ciphers: cipher ${unknown.join(', ')} is not offered (offered: ${allowed.join(', ')}); for a legacy host add it with --algorithms cipher=NAME`);
  return names;
}
