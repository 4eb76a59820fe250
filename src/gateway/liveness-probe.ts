// Is an SSH client still there? Asked before a port it holds is handed to a new connection of
// the same identity (ping-before-takeover): a device reconnecting after its link died gets its
// port back at once, but a live holder keeps it — a copied key alone cannot evict a device.
//
// The probe is one keepalive@openssh.com request (src/ssh2/server-ping.ts). Any bytes from the
// client within the timeout (the reply, or any traffic) count as alive.
import type net from 'node:net';
import type { Connection } from 'ssh2';
import { pingClient } from '../ssh2/server-ping.js';

export type ProbeResult = 'alive' | 'dead' | 'unsupported';

export function probeClientAlive(client: Connection, socket: net.Socket, timeoutMs: number): Promise<ProbeResult> {
  if (socket.destroyed || !socket.readable) return Promise.resolve('dead');
  return new Promise((resolve) => {
    const done = (result: ProbeResult) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(result);
    };
    const onData = () => done('alive');
    const onClose = () => done('dead');
    const timer = setTimeout(() => done('dead'), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    if (!pingClient(client)) done('unsupported');
  });
}
