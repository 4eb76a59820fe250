// No SHA-1 user-auth signatures: ssh2 signs with an RSA key as `ssh-rsa` (SHA-1) when the server
// did not announce `server-sig-algs` (EXT_INFO). OpenSSH 9 refuses that; so does the agent. ssh2
// already has the switch for it — its compat flag IMPLY_RSA_SHA2_SIGALGS makes it use
// rsa-sha2-256/512 regardless — but sets it only for OpenSSH 7.4 servers, and recomputes the
// flags from every server's version string. We pin that one bit on this client's protocol object,
// so an old server that only knows ssh-rsa rejects the key (the next method is tried) instead of
// receiving a SHA-1 signature. Operators who need SHA-1 for a legacy host opt in with
// algorithms.serverHostKey: ["ssh-rsa"] (then the hook is not installed).
// test/unit/ssh2-rsa-sha2-user-auth.test.ts fails if an ssh2 upgrade changes this.
import { createRequire } from 'node:module';
import type { Client } from 'ssh2';

const require = createRequire(import.meta.url);

/** Installs the hook on a client after connect() (which creates its protocol). Returns false if ssh2's shape changed. */
export function requireRsaSha2UserAuth(client: Client): boolean {
  const flag = (require('ssh2/lib/protocol/constants.js') as { COMPAT?: Record<string, number> }).COMPAT?.IMPLY_RSA_SHA2_SIGALGS;
  const proto = (client as unknown as { _protocol?: { _compatFlags?: unknown } })._protocol;
  if (typeof flag !== 'number' || !proto || typeof proto._compatFlags !== 'number') return false;
  let flags = proto._compatFlags;
  Object.defineProperty(proto, '_compatFlags', {
    configurable: true,
    enumerable: true,
    get: () => flags | flag,
    set: (value: number) => { flags = value; },
  });
  return true;
}
