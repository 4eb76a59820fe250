// ssh2 accessor (client side): the SSH server's software version from its identification line
// ("SSH-2.0-OpenSSH_9.6p1 Ubuntu-3" → "OpenSSH_9.6p1"). ssh2 parses it and keeps it in the
// private `Client._remoteVer` (ssh2 1.17, set in the protocol's onHeader, before KEXINIT) but
// neither exposes it nor passes it with 'handshake'. The session needs it for /status, for
// "closed before identifying itself" (sshd past MaxStartups: busy, not broken) and to know
// whether the server sends with TCP_NODELAY (ssh-write-batching.ts).
// test/unit/ssh2-server-software-version.test.ts fails if an ssh2 upgrade changes this.
import type { Client } from 'ssh2';

/** The server's software version, or undefined until its identification line has arrived. */
export function serverSoftwareVersion(client: Client): string | undefined {
  const version = (client as unknown as { _remoteVer?: unknown })._remoteVer;
  return typeof version === 'string' && version !== '' ? version : undefined;
}
