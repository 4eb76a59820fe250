// Which unix socket a client may ask the gateway to create (streamlocal-forward@openssh.com,
// `ssh -R /dir/name.sock:host:port`), and where. Off unless the gateway has a socket directory.
//
// Place: the requested path is resolved against the socket directory (a relative path is taken
// as relative to it) and normalised; the result's parent must be the directory itself (its
// realpath, resolved once at start), so `..`, sub-directories and absolute paths elsewhere are
// refused, and a symlinked sub-directory cannot lead out. The gateway binds the normalised path.
//
// Name: a function of the identity (socketOwnerName). The socket's file name must be
// `<owner>.sock` or `<owner>-<suffix>.sock` (suffix: letters, digits, `.`, `_`, `-`), where the
// owner name is
//   key          the SSH user name the key logged in with
//   password     none: password logins may not create sockets (a typed name is no identity)
//   (certificate: the certificate's key id)
// Owner names must be 1–64 of letters, digits, `.`, `_`, `-`, not starting with `.` or `-`.
// The authorized_keys file is shared by every user name, so a typed user name proves nothing by
// itself: a key line's principals="device-42,…" binds the key to those names (any other user
// name gets no socket). Without principals= the name only separates cooperating clients; a
// socket already held belongs to the key holding it either way (Gateway's ownership rules).
// With hyphens in user names the spaces overlap (user `dev` may take `dev-42.sock` while it is
// free); the holder keeps it until its connection fails a keepalive probe.
//
// Key options, as sshd: permitlisten does not apply to unix sockets (sshd ignores it for
// streamlocal too); `restrict` and `no-port-forwarding` refuse them (`port-forwarding` after
// `restrict` allows them again).
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { EdgeError } from '../errors.js';
import type { KeyOptions } from './authorized-keys.js';
import type { ClientIdentity } from './client-identity.js';

/** sun_path is 108 bytes on Linux (104 on BSD/macOS) including the NUL. */
export const MAX_SOCKET_PATH_BYTES = 103;

const OWNER_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;
const SUFFIX = /^[A-Za-z0-9._-]+$/;

/** The name a connection's sockets are named after, or undefined if it may not have sockets. */
export function socketOwnerName(identity: ClientIdentity | undefined, user: string | undefined): string | undefined {
  if (!identity || user === undefined) return undefined;
  switch (identity.kind) {
    case 'key': return user;
    case 'password': return undefined;
    // A certificate names its device: the key id the CA signed (not a name the client typed).
    case 'certificate': return identity.keyId;
  }
}

/** The socket file names an owner may use, as text for messages. */
export function allowedSocketNames(owner: string): string {
  return `${owner}.sock or ${owner}-<suffix>.sock`;
}

export type SocketDecision = { allowed: true; path: string } | { allowed: false; reason: string };

/**
 * May this login create `requested`? `dir` is the socket directory's realpath; `options` the
 * matched key's options (undefined for a login without a key).
 */
export function checkSocketRequest(dir: string, requested: string, identity: ClientIdentity | undefined, user: string | undefined, options: KeyOptions | undefined): SocketDecision {
  const refuse = (reason: string): SocketDecision => ({ allowed: false, reason });
  if (options && !options.portForwarding) return refuse(`port forwarding is disabled for this key (${options.restrict ? 'restrict' : 'no-port-forwarding'} in authorized_keys)`);
  const owner = socketOwnerName(identity, user);
  if (owner === undefined) return refuse('unix socket forwards need a publickey login (the socket is named after the user the key logged in with)');
  if (requested === '' || requested.includes('\0')) return refuse('empty or malformed socket path');
  const resolved = path.resolve(dir, requested);
  if (path.dirname(resolved) !== dir) return refuse(`sockets must be directly inside the gateway's socket directory ${dir}`);
  // One authorized_keys serves every user name, so for a key login the typed user name proves
  // nothing: only the names the operator wrote on the key's line may name its sockets.
  if (identity?.kind === 'key' && (!options || options.principals.length === 0)) {
    return refuse(`this key has no principals="…" in authorized_keys; a key login's sockets are named after its principals (add principals="${owner}" to the key's line to allow ${allowedSocketNames(owner)})`);
  }
  if (options && options.principals.length > 0 && !options.principals.includes(owner)) {
    return refuse(`user "${owner}" is not in this key's principals (${options.principals.join(', ')}); its sockets are named after those`);
  }
  if (!OWNER_NAME.test(owner)) return refuse(`user name "${owner}" cannot name a socket (letters, digits, ".", "_", "-"; at most 64)`);
  const name = path.basename(resolved);
  const suffix = name.startsWith(`${owner}-`) && name.endsWith('.sock') ? name.slice(owner.length + 1, -'.sock'.length) : undefined;
  if (name !== `${owner}.sock` && !(suffix !== undefined && SUFFIX.test(suffix))) {
    return refuse(`user "${owner}" may only use ${allowedSocketNames(owner)} (not ${name})`);
  }
  if (Buffer.byteLength(resolved) > MAX_SOCKET_PATH_BYTES) return refuse(`socket path ${resolved} is longer than ${MAX_SOCKET_PATH_BYTES} bytes`);
  return { allowed: true, path: resolved };
}

/** The socket directory's realpath; it must exist and be a directory. */
export async function resolveSocketDir(dir: string): Promise<string> {
  try {
    const real = await realpath(dir);
    if (!(await stat(real)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    return real;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new EdgeError('EDGE_ERR_INVALID_CONFIG', `socketDir: ${dir} is not a usable directory (${e.code ?? e.message}); create it first (e.g. mode 0750, group of the reverse proxy).`, { cause: err });
  }
}
