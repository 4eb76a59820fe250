// `edge-agent gateway [opts]`: the built-in SSH gateway that accepts agents' reverse forwards.
// Prints "gateway listening on HOST:PORT, host key SHA256:…" once up; the first SIGINT/SIGTERM
// stops listening, lets open forwarded connections finish (--drain-timeout-ms) and exits 0; a
// second signal stops at once (exit 0 too: stopping was asked for).
import { isEdgeError } from '../errors.js';
import { formatHostPort, Gateway, type GatewayOptions } from '../gateway/gateway.js';
import { createLogger } from '../log.js';
import { LOG_OPTIONS, logFlags, type LogFlags } from './log-flags.js';
import { parseMaxStartups } from '../gateway/max-startups.js';
import { parseAlgorithmsSpec, resolveAlgorithms } from '../ssh-algorithms.js';
import { intFlag } from './int-flag.js';
import { parseCommandArgs, stringFlags, unlessHelp, UsageError } from './usage-error.js';
import { DRAIN_BACKSTOP_MS, onShutdown } from '../lifecycle/shutdown.js';

export const GATEWAY_USAGE = `Usage: edge-agent gateway --host-key FILE --authorized-keys FILE [options]

A small SSH server that accepts agents' reverse forwards (ssh -R / tcpip-forward), for demos,
tests, labs and small deployments. Production gateways usually run OpenSSH sshd.

Options:
  --listen HOST:PORT           SSH address (default 127.0.0.1:2222; [::1]:2222 for IPv6;
                               port 0 = pick a free one)
  --host-key FILE              host private key; generated (ed25519, mode 0600) when missing
  --authorized-keys FILE       OpenSSH authorized_keys, re-read on every login; one file for
                               all user names; honours permitlisten="host:port", from="…",
                               restrict, no-port-forwarding, permitopen, expiry-time,
                               principals (user names for --socket-dir sockets).
                               Keys without permitlisten may listen on loopback only
                               (localhost, 127.0.0.1, ::1), ports above 1024 or 0
  --trusted-user-ca-keys FILE  CA public keys (one per line): user certificates they sign log in
                               (as sshd TrustedUserCAKeys) when a principal is the user name;
                               forwards need the permit-port-forwarding extension; validity and
                               source-address are enforced. Re-read on every login
  --authorized-principals FILE lines "USER PRINCIPAL[,PRINCIPAL…]" ("*" = any user): the
                               principals accepted instead of the user name
  --revoked-keys FILE          refused keys, CAs and certificates: public key or certificate
                               lines (a certificate revokes its serial), "serial: N[-M]",
                               "id: KEYID"
  --host-certificate FILE      OpenSSH host certificate of --host-key (ssh-keygen -s CA -h),
                               presented to clients that trust the CA (@cert-authority)
  --password-env USER=NAME     let USER log in with the password in environment variable
                               NAME (repeatable; password logins are off otherwise)
  --max-connections N          simultaneous connections (default 1000)
  --allowed-clients CIDR,...   addresses allowed to connect at all (default: any)
  --max-auth-attempts N        failed logins before the connection is closed (default 6)
  --max-startups START:RATE:FULL
                               random early drop of unauthenticated connections, as sshd's
                               MaxStartups: from START on, drop new ones with RATE % chance,
                               rising to 100 % at FULL (default 10:30:100)
  --per-source-max-startups N  unauthenticated connections per client address (default 10;
                               0 = no limit)
  --login-grace-ms MS          time allowed to log in (default 20000; 0 = no limit)
  --keepalive-interval-ms MS   keepalive to clients (default 15000; 0 = off)
  --keepalive-count N          unanswered keepalives before a client is dropped (default 3)
  --idle-timeout-ms MS         close forwarded connections idle this long (default 0 = never)
  --allow-direct-tcpip         allow local forwards (ssh -L) within each key's permitopen
  --socket-dir DIR             accept unix socket forwards (ssh -R DIR/NAME.sock:host:port)
                               directly inside DIR, named USER.sock or USER-SUFFIX.sock after
                               the user a key logged in as; mode 0660, a stale socket is
                               replaced (default: none = refused)
  --algorithms SPEC            change the SSH algorithm offer, only to admit legacy clients:
                               CATEGORY=LIST joined by ';', categories kex, hostkey, cipher,
                               mac, compression; LIST as in sshd_config: "+a,b" appends to the
                               default, "-a,b" removes, "^a,b" puts first, "a,b" replaces
                               (e.g. 'kex=+diffie-hellman-group14-sha1;mac=+hmac-sha1')
  --admin HOST:PORT            serve GET /status (JSON) and GET /healthz there
  --drain-timeout-ms MS        how long open connections may finish on SIGINT/SIGTERM
                               (default 5000)
  --log-level LEVEL            error | warn | info | debug (default info)
  --log-format FORMAT          text | json (default text)
  -h, --help                   this help
`;

const OPTIONS = {
  ...stringFlags(
    'listen', 'host-key', 'authorized-keys', 'trusted-user-ca-keys', 'authorized-principals', 'revoked-keys', 'host-certificate',
    'max-connections', 'max-auth-attempts', 'login-grace-ms', 'max-startups', 'per-source-max-startups',
    'keepalive-interval-ms', 'keepalive-count', 'idle-timeout-ms', 'socket-dir', 'admin', 'algorithms', 'drain-timeout-ms',
  ),
  ...LOG_OPTIONS,
  'password-env': { type: 'string', multiple: true },
  'allowed-clients': { type: 'string', multiple: true },
  'allow-direct-tcpip': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface GatewayCommand extends LogFlags {
  options: Omit<GatewayOptions, 'log'>;
  drainTimeoutMs: number;
}

/** Turns argv into gateway options; throws UsageError (exit 2) on bad input. */
export function parseGatewayArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): GatewayCommand | 'help' {
  const { values } = parseCommandArgs({ args: argv, options: OPTIONS, allowPositionals: false });
  if (values.help) return 'help';
  const hostKeyFile = values['host-key'];
  const authorizedKeysFile = values['authorized-keys'];
  if (!hostKeyFile) throw new UsageError('--host-key FILE is required (the file is created with a new ed25519 key when missing)');
  if (!authorizedKeysFile) throw new UsageError('--authorized-keys FILE is required (OpenSSH authorized_keys format)');

  let allowPassword: Record<string, string> | undefined;
  for (const spec of values['password-env'] ?? []) {
    const eq = spec.indexOf('=');
    if (eq <= 0 || eq === spec.length - 1) throw new UsageError(`--password-env must be USER=ENV_NAME (got "${spec}")`);
    const user = spec.slice(0, eq);
    const name = spec.slice(eq + 1);
    const password = env[name];
    if (!password) throw new UsageError(`--password-env ${user}=${name}: environment variable ${name} is not set or empty`);
    (allowPassword ??= {})[user] = password;
  }

  const caKeys = values['trusted-user-ca-keys'];
  if (!caKeys && (values['authorized-principals'] || values['revoked-keys'])) {
    throw new UsageError('--authorized-principals and --revoked-keys apply to certificate logins: give --trusted-user-ca-keys FILE too');
  }
  const userCertificates = caKeys ? {
    trustedUserCaKeysFile: caKeys,
    ...(values['authorized-principals'] ? { authorizedPrincipalsFile: values['authorized-principals'] } : {}),
    ...(values['revoked-keys'] ? { revokedKeysFile: values['revoked-keys'] } : {}),
  } : undefined;

  const allowedClients = (values['allowed-clients'] ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  const logging = logFlags(values);
  let algorithms;
  if (values.algorithms !== undefined) {
    try {
      algorithms = parseAlgorithmsSpec(values.algorithms, '--algorithms');
      resolveAlgorithms(algorithms, '--algorithms'); // unknown names are a usage error, now
    } catch (err) {
      throw new UsageError((err as Error).message, 'EDGE_ERR_INVALID_CONFIG');
    }
  }

  return {
    options: {
      listen: parseHostPort(values.listen ?? '127.0.0.1:2222', '--listen'),
      hostKeyFile,
      authorizedKeysFile,
      ...(allowPassword ? { allowPassword } : {}),
      ...(userCertificates ? { userCertificates } : {}),
      ...(values['host-certificate'] ? { hostCertificateFile: values['host-certificate'] } : {}),
      maxConnections: intFlag(values['max-connections'], '--max-connections', 1),
      allowedClients,
      maxAuthAttempts: intFlag(values['max-auth-attempts'], '--max-auth-attempts', 1),
      loginGraceTimeoutMs: intFlag(values['login-grace-ms'], '--login-grace-ms', 0),
      ...(values['max-startups'] !== undefined ? { maxStartups: maxStartupsFlag(values['max-startups']) } : {}),
      perSourceMaxStartups: intFlag(values['per-source-max-startups'], '--per-source-max-startups', 0),
      keepaliveIntervalMs: intFlag(values['keepalive-interval-ms'], '--keepalive-interval-ms', 0, 2 ** 31 - 1),
      keepaliveCountMax: intFlag(values['keepalive-count'], '--keepalive-count', 0),
      idleTimeoutMs: intFlag(values['idle-timeout-ms'], '--idle-timeout-ms', 0),
      allowDirectTcpip: values['allow-direct-tcpip'] ?? false,
      ...(values['socket-dir'] !== undefined ? { socketDir: values['socket-dir'] } : {}),
      ...(values.admin !== undefined ? { adminListen: parseHostPort(values.admin, '--admin') } : {}),
      ...(algorithms ? { algorithms } : {}),
    },
    drainTimeoutMs: intFlag(values['drain-timeout-ms'], '--drain-timeout-ms', 0) ?? 5_000,
    ...logging,
  };
}

/** Runs the gateway until a signal; resolves with the process exit code. */
export async function runGatewayCommand(argv: string[]): Promise<number> {
  const cmd = unlessHelp(parseGatewayArgs(argv), GATEWAY_USAGE);
  if (!cmd) return 0;
  const log = createLogger({ level: cmd.logLevel, format: cmd.logFormat });
  let gateway: Gateway;
  try {
    gateway = new Gateway({ ...cmd.options, log });
  } catch (err) {
    if (isEdgeError(err)) throw new UsageError(flagNames(err.message), err.code);
    throw err;
  }

  let info;
  try {
    info = await gateway.start();
  } catch (err) {
    await gateway.destroy();
    if (isEdgeError(err) && ['EDGE_ERR_INVALID_CONFIG', 'EDGE_ERR_KEY_INVALID', 'EDGE_ERR_KEY_PASSPHRASE'].includes(err.code)) {
      throw new UsageError(flagNames(err.message), err.code);
    }
    if (isEdgeError(err)) throw new Error(flagNames(err.message), { cause: err });
    throw err;
  }
  const shutdown = onShutdown({
    drain: async (signal) => {
      log('info', `${signal}: stopping the gateway (open connections have ${cmd.drainTimeoutMs} ms; send again to stop now)`);
      await gateway.close(cmd.drainTimeoutMs);
      return 0;
    },
    stop: () => gateway.destroy().then(() => 0),
    deadlineMs: cmd.drainTimeoutMs + DRAIN_BACKSTOP_MS,
  });
  // Printed once the signal handlers are in place: whoever waits for these lines may signal at once.
  process.stdout.write(`gateway listening on ${formatHostPort(cmd.options.listen.host, info.port)}, host key ${info.fingerprint}\n`);
  if (info.adminPort !== undefined) process.stdout.write(`gateway status at http://${formatHostPort(cmd.options.adminListen!.host, info.adminPort)}/status\n`);
  return shutdown.exitCode;
}

function maxStartupsFlag(text: string): string {
  try {
    parseMaxStartups(text, '--max-startups');
  } catch (err) {
    throw new UsageError((err as Error).message, 'EDGE_ERR_INVALID_CONFIG');
  }
  return text;
}

/** 'HOST:PORT', '[v6]:PORT' or a bare 'PORT' (= 127.0.0.1:PORT). */
export function parseHostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]*):(\d+)$/.exec(text) ?? /^()(\d+)$/.exec(text);
  const host = m ? (m[1] || '127.0.0.1') : '';
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new UsageError(`${flag} must be HOST:PORT, [IPv6]:PORT or PORT with a port from 0 to 65535 (got "${text}")`);
  }
  return { host, port };
}


/** Gateway messages name option keys; on the command line the flags are what the user typed. */
function flagNames(message: string): string {
  const flags: Array<[RegExp, string]> = [
    [/^authorizedKeysFile\b/, '--authorized-keys'], [/^hostKeyFile\b/, '--host-key'], [/^adminListen(\.\w+)?\b/, '--admin'],
    [/^listen(\.\w+)?\b/, '--listen'], [/^allowedClients(\[\d+\])?/, '--allowed-clients'], [/^maxConnections\b/, '--max-connections'],
    [/^maxAuthAttempts\b/, '--max-auth-attempts'], [/^loginGraceTimeoutMs\b/, '--login-grace-ms'], [/^idleTimeoutMs\b/, '--idle-timeout-ms'],
    [/^algorithms(\.\w+)?/, '--algorithms'], [/^maxStartups\b/, '--max-startups'], [/^perSourceMaxStartups\b/, '--per-source-max-startups'],
    [/^socketDir\b/, '--socket-dir'],
  ];
  for (const [re, flag] of flags) if (re.test(message)) return message.replace(re, flag);
  return message;
}
