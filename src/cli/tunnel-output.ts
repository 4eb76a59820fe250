// What `edge-agent tunnel` prints on stdout: one line each time a forward comes up, with the
// real port (port 0 = the server or the OS picked one). Scripts read these lines (e.g. to learn
// the remote port), so their wording is part of the command's interface.

/** A remote forward's status, as the session reports it (only what the line needs). */
export interface RemoteForwardUp {
  id: string;
  state: string;
  bind: string;
  remotePort: number | null;
  remoteSocket?: string;
  target: string | null;
}

/** A -L/-D listener's status, as the session reports it (only what the line needs). */
export type ListenerUp = { id: string; state: string; bind: string; localPort: number | null } & (
  | { kind: 'local'; target: string }
  | { kind: 'dynamic' }
);

/** "forward R1 up: 127.0.0.1:40123 on gw -> http://…", or null when the forward is not up. */
export function remoteForwardLine(fwd: RemoteForwardUp, gateway: string): string | null {
  if (fwd.state !== 'up') return null;
  return `forward ${fwd.id} up: ${fwd.remoteSocket ?? `${fwd.bind || '*'}:${fwd.remotePort}`} on ${gateway} -> ${fwd.target}\n`;
}

/** "local forward L1 listening: 127.0.0.1:8080 -> db:5432 via host" (or the SOCKS line), or null. */
export function listenerLine(fwd: ListenerUp, via: string): string | null {
  if (fwd.state !== 'up' || fwd.localPort === null) return null;
  const listen = `${fwd.bind === '' ? '*' : fwd.bind.includes(':') ? `[${fwd.bind}]` : fwd.bind}:${fwd.localPort}`;
  return fwd.kind === 'local'
    ? `local forward ${fwd.id} listening: ${listen} -> ${fwd.target.replace(/^tcp:\/\//, '')} via ${via}\n`
    : `dynamic forward ${fwd.id} listening: ${listen} (SOCKS4/4a/5) via ${via}\n`;
}

/** Writes a line when there is one. */
export function print(line: string | null): void {
  if (line !== null) process.stdout.write(line);
}
