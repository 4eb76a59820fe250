// The session worker's event sender (src/supervisor/worker-event-sender.ts) over a real
// MessageChannel: one turn's channel events arrive as one message, in order; any other event
// flushes what is pending first, so the main thread sees the same order as before.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { WorkerChannelEvent, WorkerEvent } from '../../src/protocol.js';
import { createWorkerEventSender } from '../../src/supervisor/worker-event-sender.js';

const ports: MessagePort[] = [];
afterEach(() => { for (const p of ports.splice(0)) p.close(); });

function channel(): { sender: ReturnType<typeof createWorkerEventSender>; received: WorkerEvent[]; settle(): Promise<void> } {
  const { port1, port2 } = new MessageChannel();
  ports.push(port1, port2);
  const received: WorkerEvent[] = [];
  port1.on('message', (e: WorkerEvent) => received.push(e));
  // two macrotask hops: the sender's setImmediate, then the message's delivery
  const settle = () => new Promise<void>((r) => setTimeout(r, 30));
  return { sender: createWorkerEventSender(port2), received, settle };
}

const open = (id: number): WorkerChannelEvent => ({
  type: 'channelOpen',
  info: { id, sessionId: 's', forwardId: 'f', originAddress: '127.0.0.1', originPort: 1000 + id, connectedAddress: '127.0.0.1', connectedPort: 80, bind: '127.0.0.1', requestedPort: 80, target: 'tcp://127.0.0.1:1', direction: 'remote' },
});
const close = (id: number): WorkerChannelEvent => ({
  type: 'channelClose',
  info: { ...open(id).info, reason: 'eof', bytesIn: 1, bytesOut: 2, durationMs: 3, error: null },
});

describe('worker event sender', () => {
  it('sends the channel events of one turn as one channelEvents message, in order', async () => {
    const { sender, received, settle } = channel();
    for (let i = 0; i < 5; i++) { sender.sendChannelEvent(open(i)); sender.sendChannelEvent(close(i)); }
    await settle();
    expect(received).toEqual([{ type: 'channelEvents', events: [0, 1, 2, 3, 4].flatMap((i) => [open(i), close(i)]) }]);
  });

  it('a lone channel event goes as itself', async () => {
    const { sender, received, settle } = channel();
    sender.sendChannelEvent(open(7));
    await settle();
    expect(received).toEqual([open(7)]);
  });

  it('any other event first flushes the pending channel events (order kept), and the turn\'s flush sends only what came after', async () => {
    const { sender, received, settle } = channel();
    sender.sendChannelEvent(open(1));
    sender.sendChannelEvent(close(1));
    sender.send({ type: 'log', level: 'info', message: 'after channel 1' });
    sender.sendChannelEvent(open(2));
    sender.send({ type: 'final' });
    sender.sendChannelEvent(close(2));
    await settle();
    expect(received).toEqual([
      { type: 'channelEvents', events: [open(1), close(1)] },
      { type: 'log', level: 'info', message: 'after channel 1' },
      open(2),
      { type: 'final' },
      close(2),
    ]);
  });
});
