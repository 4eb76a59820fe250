// The one place that says what a failed system call means: errno (and undici's connect
// timeout) → a class, an EDGE_ERR_* code for connections, and the short operator-grade phrase
// every message uses ("no such file", "the port is already in use", "connection refused …").
// Callers keep their own sentence (who failed, where, what to check); only the meaning of the
// code lives here, so the same errno reads the same in the CLI, /status, logs and spans.
import type { ErrorCode } from '../errors.js';

export type ErrnoClass =
  | 'refused' // ECONNREFUSED: nothing listens there (or a firewall rejects)
  | 'timed-out' // ETIMEDOUT, undici's connect timeout
  | 'name-not-resolved' // ENOTFOUND, EAI_AGAIN
  | 'unreachable' // EHOSTUNREACH, ENETUNREACH
  | 'reset' // ECONNRESET, EPIPE: the peer went away mid-stream
  | 'in-use' // EADDRINUSE
  | 'permission' // EACCES, EPERM
  | 'address-unavailable' // EADDRNOTAVAIL
  | 'family-unsupported' // EAFNOSUPPORT, EPROTONOSUPPORT
  | 'no-such-file' // ENOENT
  | 'is-directory' // EISDIR
  | 'not-directory' // ENOTDIR
  | 'other';

const CLASS_OF: Record<string, ErrnoClass> = {
  ECONNREFUSED: 'refused',
  ETIMEDOUT: 'timed-out',
  UND_ERR_CONNECT_TIMEOUT: 'timed-out',
  ENOTFOUND: 'name-not-resolved',
  EAI_AGAIN: 'name-not-resolved',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  EADDRINUSE: 'in-use',
  EACCES: 'permission',
  EPERM: 'permission',
  EADDRNOTAVAIL: 'address-unavailable',
  EAFNOSUPPORT: 'family-unsupported',
  EPROTONOSUPPORT: 'family-unsupported',
  ENOENT: 'no-such-file',
  EISDIR: 'is-directory',
  ENOTDIR: 'not-directory',
};

export function classifyErrno(code: string | undefined): ErrnoClass {
  return (code !== undefined && CLASS_OF[code]) || 'other';
}

/**
 * The errno of an error, also when wrapped: undici puts the socket's error in `cause`, Node's
 * happy-eyeballs connect in `errors` (AggregateError).
 */
export function errnoOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown }; errors?: Array<{ code?: unknown }> } | null | undefined;
  const code = e?.code ?? e?.cause?.code ?? e?.errors?.[0]?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * A bind failed because this machine lacks the address family or address (no IPv6, or the
 * address is on no interface): a dual-stack listener then keeps the family that worked.
 */
export function isMissingAddressFamily(code: string | undefined): boolean {
  const kind = classifyErrno(code);
  return kind === 'family-unsupported' || kind === 'address-unavailable';
}

/** What a failed outgoing connection is, as an error code. */
export function connectErrorCode(code: string | undefined): ErrorCode {
  switch (classifyErrno(code)) {
    case 'refused': return 'EDGE_ERR_CONNECT_REFUSED';
    case 'timed-out': return 'EDGE_ERR_CONNECT_TIMEOUT';
    case 'name-not-resolved': return 'EDGE_ERR_HOST_NOT_FOUND';
    default: return 'EDGE_ERR_NETWORK';
  }
}

/** Anything not classified: the error's own message (it names the errno, e.g. "EMFILE: …"). */
function fallback(code: string | undefined, err: unknown): string {
  return err instanceof Error && err.message ? err.message : (code ?? String(err));
}

/** Why an outgoing connection failed, e.g. "connection refused (nothing listening there)". */
export function connectFailureReason(err: unknown): string {
  const code = errnoOf(err);
  switch (classifyErrno(code)) {
    case 'refused': return 'connection refused (nothing listening there)';
    case 'timed-out': return 'connection timed out';
    case 'name-not-resolved': return `the host name did not resolve (${code})`;
    case 'unreachable': return `no route to it (${code})`;
    case 'reset': return 'connection reset';
    default: return fallback(code, err);
  }
}

/** Why a file could not be read or used, e.g. "no such file", "permission denied". */
export function fileErrorReason(err: unknown): string {
  const code = errnoOf(err);
  switch (classifyErrno(code)) {
    case 'no-such-file': return 'no such file';
    case 'permission': return 'permission denied';
    case 'is-directory': return 'it is a directory';
    case 'not-directory': return 'a parent is not a directory';
    default: return fallback(code, err);
  }
}

/**
 * Why listening failed. `tcp`: a host and port (the agent's -L/SOCKS listeners, the gateway
 * and its forwards); `unix`: a socket path the gateway creates.
 */
export function listenErrorReason(err: unknown, kind: 'tcp' | 'unix' = 'tcp'): string {
  const code = errnoOf(err);
  switch (classifyErrno(code)) {
    case 'in-use': return kind === 'unix' ? 'the path is in use' : 'the port is already in use';
    case 'permission': return kind === 'unix' ? 'permission denied (the gateway may not create files in the socket directory)' : 'permission denied (ports below 1024 need privileges)';
    case 'address-unavailable': return 'the address is not available on this machine';
    case 'family-unsupported': return 'that address family is not supported on this machine';
    case 'name-not-resolved': return 'the bind address did not resolve';
    default: return fallback(code, err);
  }
}
