// ssh2 routes an incoming `forwarded-tcpip` channel only when the server's reported
// `destIP:destPort` equals, as text, the address we asked for; anything else is rejected with
// no event at all (ssh2 issue #377: ask for "localhost", OpenSSH reports "127.0.0.1" or "::1").
// We replace the client's private `_forwarding` table with a view that asks our own router,
// which matches by port. This is the only place that touches ssh2 internals for routing;
// test/unit/ssh2-forward-routing.test.ts fails loudly if an ssh2 upgrade changes the field.
import type { Client } from 'ssh2';

/** Returns the remote port to accept a channel for, or undefined to let ssh2 reject it. */
export type ForwardLookup = (destIP: string, destPort: number) => number | undefined;

interface ClientInternals { _forwarding?: Record<string, number> }

/** Must be called right after `client.connect()`, which resets the table. */
export function installForwardRouting(client: Client, lookup: ForwardLookup): void {
  const internals = client as unknown as ClientInternals;
  if (typeof internals._forwarding !== 'object' || internals._forwarding === null) {
    throw new Error('ssh2 internals changed: Client._forwarding is missing; see src/ssh2/forward-routing.ts');
  }
  const own = internals._forwarding;
  internals._forwarding = new Proxy(own, {
    get(target, key) {
      if (typeof key !== 'string') return Reflect.get(target, key);
      const sep = key.lastIndexOf(':');
      const port = Number(key.slice(sep + 1));
      if (sep < 0 || !Number.isInteger(port)) return Reflect.get(target, key);
      return lookup(key.slice(0, sep), port);
    },
  });
}
