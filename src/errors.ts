// Every failure the agent reports carries a stable EDGE_ERR_* code, a retryable flag and a
// message an operator can act on. The README lists every code (a test keeps the two in step).
// Errors cross worker boundaries as plain objects (structured clone drops custom fields), so
// toPlainError / fromPlainError are the only way they travel.

export interface ErrorCodeInfo {
  /** Whether the session/channel may try again and expect a different outcome. */
  retryable: boolean;
  /** One line for the README's table. */
  summary: string;
}

export const ERROR_CODES = {
  // --- reaching the SSH host
  EDGE_ERR_CONNECT_TIMEOUT: { retryable: true, summary: 'The TCP connection to the SSH host did not complete within `connectTimeoutMs`.' },
  EDGE_ERR_CONNECT_REFUSED: { retryable: true, summary: 'The SSH host refused the TCP connection (nothing listening on that port).' },
  EDGE_ERR_HOST_NOT_FOUND: { retryable: true, summary: 'The SSH host name did not resolve.' },
  EDGE_ERR_NETWORK: { retryable: true, summary: 'Another network error on the connection to the SSH host (reset, unreachable, …).' },
  EDGE_ERR_HANDSHAKE_TIMEOUT: { retryable: true, summary: 'SSH version exchange, key exchange and authentication did not finish within `handshakeTimeoutMs`.' },
  EDGE_ERR_PROTOCOL: { retryable: true, summary: 'The SSH handshake or protocol failed (no common algorithm, bad packet, server disconnect).' },
  EDGE_ERR_NO_COMMON_ALGORITHM: { retryable: true, summary: 'The SSH host accepts none of the algorithms the agent offers (legacy host): upgrade it, or widen the session\'s `algorithms` (`--algorithms`) for it.' },
  EDGE_ERR_CONNECTION_LOST: { retryable: true, summary: 'An established SSH session closed unexpectedly.' },
  EDGE_ERR_KEEPALIVE_TIMEOUT: { retryable: true, summary: 'The SSH host stopped answering keepalives (`keepalive.intervalMs` × `keepalive.countMax`).' },
  EDGE_ERR_RECONNECT_LIMIT: { retryable: false, summary: 'The session gave up after `reconnect.maxRetries` attempts.' },
  EDGE_ERR_WORKER_CRASHED: { retryable: true, summary: 'The worker thread running a session exited unexpectedly; the session is restarted with backoff.' },
  EDGE_ERR_RECONNECT_CANCELLED: { retryable: false, summary: 'A `reconnectAttempt` listener cancelled further reconnects.' },
  EDGE_ERR_LISTEN_FAILED: { retryable: true, summary: 'The gateway could not open a listening socket (its SSH or admin address): in use, not permitted, or not available.' },
  EDGE_ERR_PROXY_UNREACHABLE: { retryable: true, summary: 'The proxy in `proxy` (or HTTPS_PROXY/ALL_PROXY) could not be reached (refused, unresolvable, timed out); the SSH host was not contacted.' },
  EDGE_ERR_PROXY_AUTH_FAILED: { retryable: false, summary: 'The proxy rejected the credentials of the proxy URL, or requires credentials that were not given (HTTP 407, SOCKS authentication).' },
  EDGE_ERR_PROXY_REFUSED: { retryable: true, summary: 'The proxy itself refused to connect to the SSH host (its policy: HTTP 403 and other 4xx, SOCKS "not allowed by ruleset", SOCKS4 "rejected").' },
  EDGE_ERR_PROXY_TARGET_REFUSED: { retryable: true, summary: 'The proxy tried, but the SSH host refused or could not be reached from the proxy (HTTP 502/503/504, SOCKS "connection refused", "host unreachable").' },
  EDGE_ERR_PROXY_PROTOCOL: { retryable: true, summary: 'The proxy answered with something that is not a valid HTTP CONNECT or SOCKS reply.' },
  // --- trusting the SSH host
  EDGE_ERR_HOST_KEY_MISMATCH: { retryable: false, summary: 'The host key the server offered is not the one known_hosts or the pinned fingerprints expect.' },
  EDGE_ERR_HOST_KEY_UNKNOWN: { retryable: false, summary: 'No known_hosts entry or pinned fingerprint exists for this host, so its key cannot be verified.' },
  EDGE_ERR_HOST_KEY_REVOKED: { retryable: false, summary: 'The server offered a key marked `@revoked` in known_hosts.' },
  EDGE_ERR_HOST_CERT_INVALID: { retryable: false, summary: 'The server presented a host certificate from a trusted CA that is not valid for this connection: not a host certificate, its principals do not include the host name dialled, outside its validity window, or malformed.' },
  // --- proving who we are
  EDGE_ERR_AUTH_FAILED: { retryable: false, summary: 'The SSH host rejected every configured authentication method.' },
  EDGE_ERR_KEY_INVALID: { retryable: false, summary: 'A private key file could not be read or parsed.' },
  EDGE_ERR_KEY_PASSPHRASE: { retryable: false, summary: 'A private key is encrypted and its passphrase is missing or wrong.' },
  EDGE_ERR_CERT_EXPIRED: { retryable: true, summary: 'The user certificate is expired or not yet valid (checked before connecting; the message shows valid-after/valid-before). Retried: a renewed certificate file is read at the next attempt.' },
  EDGE_ERR_CERT_INVALID: { retryable: false, summary: 'A certificate file (`certificateFile`, `--cert`, `KEY-cert.pub`) could not be read or parsed, is not a user certificate, or does not belong to its private key.' },
  // --- forwards
  EDGE_ERR_FORWARD_REFUSED: { retryable: true, summary: 'The SSH host refused a `tcpip-forward` request (port in use, or not permitted by its policy).' },
  EDGE_ERR_FORWARD_CANCEL_FAILED: { retryable: false, summary: 'The SSH host refused to cancel a forward.' },
  EDGE_ERR_UNKNOWN_FORWARD: { retryable: false, summary: 'No forward with that id or bind address/port exists on the session.' },
  EDGE_ERR_LOCAL_LISTEN_FAILED: { retryable: true, summary: 'A local (`-L`) or dynamic (`-D`) forward could not open its listener on the device (address in use, not permitted, not available); retried with backoff, fatal with `exitOnForwardFailure`.' },
  // --- channels and targets
  EDGE_ERR_TARGET_REFUSED: { retryable: true, summary: 'The target service refused the connection; the channel was rejected.' },
  EDGE_ERR_TARGET_TIMEOUT: { retryable: true, summary: 'The target service did not accept the connection within `targetConnectTimeoutMs`.' },
  EDGE_ERR_TARGET_UNREACHABLE: { retryable: true, summary: 'The target could not be reached (unresolvable host, missing unix socket, network error).' },
  EDGE_ERR_ORIGIN_REJECTED: { retryable: false, summary: 'A channel came from an address outside the forward\'s `allowOrigins`.' },
  EDGE_ERR_MAX_CHANNELS: { retryable: true, summary: 'A channel arrived while the forward already had `maxChannels` open.' },
  EDGE_ERR_UNKNOWN_CHANNEL: { retryable: false, summary: 'No open channel has that id (event mode `sendChannelData`/`closeChannel`).' },
  EDGE_ERR_CHANNEL_OPEN_FAILED: { retryable: true, summary: 'The SSH host refused or did not confirm (`openTimeoutMs`) a direct-tcpip channel of a local or dynamic forward (destination unreachable from the SSH host, or forwarding not permitted there).' },
  EDGE_ERR_SESSION_UNAVAILABLE: { retryable: true, summary: 'A connection to a local or dynamic forward arrived while the SSH session was down, and the session did not come back within `sessionWaitMs`.' },
  EDGE_ERR_DESTINATION_DENIED: { retryable: false, summary: 'A SOCKS request asked for a destination outside the dynamic forward\'s `allowDestinations`.' },
  EDGE_ERR_SOCKS_AUTH_FAILED: { retryable: false, summary: 'A SOCKS client did not authenticate: wrong username/password, no acceptable method, or SOCKS4 on a forward that requires a password.' },
  EDGE_ERR_SOCKS_PROTOCOL: { retryable: false, summary: 'A SOCKS client sent a malformed or unsupported request (not SOCKS4/4a/5, a command other than CONNECT, a bad address), or did not finish its handshake in time.' },
  // --- assignment documents and the local policy
  EDGE_ERR_ASSIGNMENT_REVISION: { retryable: false, summary: 'An assignment document\'s `revision` is not a safe integer (0 to 2^53−1), so it cannot be ordered; the document is rejected and the running one keeps running.' },
  EDGE_ERR_ASSIGNMENT_STALE: { retryable: false, summary: 'An assignment document\'s revision is not above the revision floor (the running or last applied revision, kept in the state dir across restarts); it is ignored.' },
  EDGE_ERR_ASSIGNMENT_SIGNATURE: { retryable: false, summary: 'An assignment document (or the cached one) is unsigned or its signature does not verify with `assignments.signingPublicKey`; it is rejected.' },
  EDGE_ERR_ASSIGNMENT_EXPIRED: { retryable: false, summary: 'An assignment document\'s `expires` time has passed; it is not applied and the running one keeps running.' },
  EDGE_ERR_POLICY_BUDGET: { retryable: false, summary: 'Sessions, forwards or a forward\'s maxChannels exceed `policy.maxSessions` / `policy.maxForwardsPerSession` / `policy.maxChannelsPerForward`; the whole document is rejected (a config file over budget does not start).' },
  EDGE_ERR_POLICY_LOCAL_ONLY: { retryable: false, summary: 'An assignment document sets a key only the local config may set: `algorithms`, `hostKeys.insecureAcceptAny` or a forward\'s `http.insecureSkipVerify` (unless `policy.allowInsecureAcceptAny` / `allowInsecureSkipVerify`), an `http.caFile` or `hostKeys.knownHostsFile` outside `policy.allowedCaFiles` / `allowedKnownHostsFiles`, an SSH host (`host`, `hosts[]`, a `proxy` URL) outside `policy.allowedSshHosts`; the whole document is rejected and the running one keeps running.' },
  EDGE_ERR_POLICY_DENIED: { retryable: false, summary: 'A forward\'s target or bind address is outside the local policy (`policy.allowedTargets`, `allowedBindAddresses`, `allowedLocalBindAddresses`); that forward is refused.' },
  // --- the caller's side
  EDGE_ERR_INVALID_CONFIG: { retryable: false, summary: 'A configuration value is invalid; the message names the key.' },
  EDGE_ERR_INVALID_SPEC: { retryable: false, summary: 'A command-line forward spec (`-R`, `-L`, `-D`) or flag is invalid; the message shows the accepted forms.' },
  EDGE_ERR_UNKNOWN_SESSION: { retryable: false, summary: 'No session with that id is running (admin `POST /sessions/<id>/reconnect`).' },
  EDGE_ERR_INTERNAL: { retryable: true, summary: 'An unexpected exception inside the agent (or in a library caller\'s event listener): a bug, not a network or configuration problem. The message names where it happened and the original error; please report it with that log line. Sessions keep retrying.' },
  EDGE_ERR_CLOSED: { retryable: false, summary: 'The session or tunnel was closed by its owner.' },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface PlainError {
  name: 'EdgeError';
  code: ErrorCode;
  message: string;
  retryable: boolean;
  details?: Record<string, unknown>;
}

export class EdgeError extends Error {
  override name = 'EdgeError' as const;
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** Machine-readable facts behind the message (never secrets). */
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: { details?: Record<string, unknown>; cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    if (options.details) this.details = options.details;
  }

  toJSON(): PlainError {
    return toPlainError(this);
  }
}

export function isEdgeError(value: unknown, code?: ErrorCode): value is EdgeError {
  return value instanceof EdgeError && (code === undefined || value.code === code);
}

/**
 * `err` as an EdgeError: coded errors pass through; anything else (a TypeError, a throw from a
 * listener) is a bug and becomes EDGE_ERR_INTERNAL naming `where` — never a retryable
 * network/protocol code that would hide it.
 */
export function asEdgeError(err: unknown, where: string): EdgeError {
  if (isEdgeError(err)) return err;
  const name = err instanceof Error ? err.name : typeof err;
  const message = err instanceof Error ? err.message : String(err);
  return new EdgeError('EDGE_ERR_INTERNAL', `Internal error in ${where} (a bug: please report it with this line): ${name}: ${message}`, { details: { errorName: name }, cause: err });
}

export function toPlainError(err: EdgeError): PlainError {
  const plain: PlainError = { name: 'EdgeError', code: err.code, message: err.message, retryable: err.retryable };
  if (err.details) plain.details = { ...err.details };
  return plain;
}

export function fromPlainError(plain: PlainError): EdgeError {
  return new EdgeError(plain.code, plain.message, { details: plain.details, retryable: plain.retryable });
}
