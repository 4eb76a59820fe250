// Target writes corked for the rest of the event-loop turn, one flush for all of them. ssh2
// hands a channel one chunk per SSH packet and a socket read of the SSH connection holds several,
// so each target got one write() system call per packet; corked until the turn's check phase
// (setImmediate), a turn's packets reach each target in one writev() and request/response
// latency is unchanged (see channel-pipe.ts). One module-level list and one setImmediate per turn
// serve every target of the thread: wrapping each target's write() (ssh-write-batching.ts, as
// the SSH socket does) cost four closures and a timer per channel, measurable on channel opens.
import type { Socket } from 'node:net';

let corked: Socket[] = [];
let spare: Socket[] = [];
let scheduled = false;

function uncorkAll(): void {
  scheduled = false;
  const list = corked;
  corked = spare;
  spare = list;
  for (let i = 0; i < list.length; i++) {
    const socket = list[i]!;
    // uncork() on an ended/destroyed socket is harmless; writableCorked guards double uncorks
    if (socket.writableCorked > 0) socket.uncork();
  }
  list.length = 0;
}

/** Corks `socket` (once) until the end of this event-loop turn; call before each write. */
export function corkForTurn(socket: Socket): void {
  if (socket.writableCorked > 0 || socket.destroyed || !socket.writable) return;
  socket.cork();
  corked.push(socket);
  if (!scheduled) {
    scheduled = true;
    setImmediate(uncorkAll);
  }
}
