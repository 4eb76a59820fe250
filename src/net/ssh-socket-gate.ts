// ssh2 writes to the SSH socket without looking at write()'s return value, so bytes queued
// toward the server are bounded only by the channel windows (2 MiB per busy channel). On a
// slow uplink with many busy channels that is unbounded memory on a small device. The gate
// lets every channel pump stop reading its target while the SSH socket holds more than
// `limit` unsent bytes, and wakes them all on the socket's 'drain'.
import type { Socket } from 'node:net';

export class SshSocketGate {
  private readonly waiting = new Set<() => void>();
  private listening = false;

  constructor(private readonly socket: Socket, private readonly limit: number) {}

  get overLimit(): boolean {
    return this.socket.writableLength > this.limit;
  }

  /** Calls `resume` once the socket has drained (or is torn down). */
  waitForDrain(resume: () => void): void {
    this.waiting.add(resume);
    if (this.listening) return;
    this.listening = true;
    const wake = () => {
      this.socket.off('drain', wake);
      this.socket.off('close', wake);
      this.listening = false;
      const callbacks = [...this.waiting];
      this.waiting.clear();
      for (const cb of callbacks) cb();
    };
    this.socket.on('drain', wake);
    this.socket.on('close', wake);
  }

  cancel(resume: () => void): void {
    this.waiting.delete(resume);
  }
}
