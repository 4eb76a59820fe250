// How a session worker sends its events to the main thread. A busy session opens and closes
// channels by the thousand per second; one postMessage per channelOpen/channelClose is a
// structured clone plus a wake-up of the main thread each. Channel events of one event-loop turn
// go as one `channelEvents` message at the end of the turn (setImmediate); any other event
// first flushes what is pending, so the order the main thread sees is unchanged.
import type { WorkerChannelEvent, WorkerEvent } from '../protocol.js';

export interface WorkerEventSender {
  send(event: WorkerEvent): void;
  /** Queued until the end of this turn (or the next send()). */
  sendChannelEvent(event: WorkerChannelEvent): void;
}

export function createWorkerEventSender(port: { postMessage(message: WorkerEvent): void }): WorkerEventSender {
  let pending: WorkerChannelEvent[] = [];
  let scheduled = false;
  const flushPending = () => {
    if (pending.length === 0) return;
    const events = pending;
    pending = [];
    port.postMessage(events.length === 1 ? events[0]! : { type: 'channelEvents', events });
  };
  const endOfTurn = () => {
    scheduled = false;
    flushPending();
  };
  return {
    send(event) {
      flushPending();
      port.postMessage(event);
    },
    sendChannelEvent(event) {
      pending.push(event);
      if (!scheduled) {
        scheduled = true;
        setImmediate(endOfTurn);
      }
    },
  };
}
