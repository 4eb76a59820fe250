// ssh2 hook: send one keepalive probe to a client from the server side.
//
// ssh2's server pings clients only from its own keepalive timer and has no public "ping now".
// The gateway needs one on demand: before a port is handed to a new connection of the same
// key, the old holder is asked whether it is still alive (ping-before-takeover). The probe is
// the same packet the timer sends (GLOBAL_REQUEST keepalive@openssh.com, want-reply): OpenSSH
// and ssh2 clients answer it (with REQUEST_FAILURE), so any bytes from the client shortly after
// mean it is alive. Reaches into Connection._protocol.ping() (ssh2 1.x).
import type { Connection } from 'ssh2';

interface ServerConnectionInternals {
  _protocol?: { ping?: () => void; _destruct?: unknown };
}

/** Sends keepalive@openssh.com (want-reply) to the client; false if ssh2's internals changed. */
export function pingClient(client: Connection): boolean {
  const proto = (client as unknown as ServerConnectionInternals)._protocol;
  if (!proto || typeof proto.ping !== 'function') return false;
  proto.ping();
  return true;
}
