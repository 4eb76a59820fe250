// A TCP connection carried over an SSH channel ends the way the channel ended: a real
// CHANNEL_EOF becomes a FIN (the pump does that), anything else — CLOSE without EOF, the SSH
// connection lost, a channel error, the gateway tearing the forward down — resets it (RST), so
// a cut transfer never looks complete to the program at the other end.
import type net from 'node:net';
import type { SshChannel } from '../session/channel-pipe.js';
import { trackChannelEof } from '../ssh2/channel-eof.js';

/**
 * Call on a fresh channel before pipeChannel(): these handlers then run before the pump's own,
 * so a cut channel resets the socket before the pump could end it with a FIN.
 */
export function resetSocketWhenChannelCut(channel: SshChannel, sock: net.Socket): void {
  const endedByEof = trackChannelEof(channel);
  channel.once('end', () => {
    if (endedByEof() === false) resetSocket(sock);
  });
  channel.once('error', () => resetSocket(sock));
}

/** Closes with RST instead of FIN. */
export function resetSocket(sock: net.Socket): void {
  if (sock.destroyed) return;
  try {
    sock.resetAndDestroy();
  } catch {
    sock.destroy(); // not connected yet: nothing to reset
  }
}
