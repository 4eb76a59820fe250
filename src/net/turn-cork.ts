// Target writes corked for the rest of the event-loop turn, one flush for all of them. ssh2
// hands a channel one chunk per SSH packet and a socket read of the SSH connection holds several,
// so each target got one write() system call per packet; corked until the turn's check phase
// (setImmediate), a turn's packets reach each target in one writev() and request/response
// latency is unchanged (see channel-pipe.ts). One module-level list and one setImmediate per turn
// serve every target of the thread (and the SSH socket's write batching, ssh-write-batching.ts):
// wrapping each target's write() cost four closures and a timer per channel, measurable on
// channel opens.
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

/**
 * Corks `socket` (once) until the end of this event-loop turn; call before each write. True when
 * this call corked it (the turn's first write: one batch), false when it already was or cannot be.
 */
export function corkForTurn(socket: Socket): boolean {
  if (socket.writableCorked > 0 || socket.destroyed || !socket.writable) return false;
  socket.cork();
  corked.push(socket);
  if (!scheduled) {
    scheduled = true;
    setImmediate(uncorkAll);
  }
  return true;
}
