// Holds items until their consumer exists, then hands them over in order. startAgent() starts
// the session workers before the main thread has loaded telemetry (the two overlap on two
// cores); the sessions' first events (state, connected, forward up, spans) wait here so that
// metrics and traces still see them. Bounded: past `limit` items are counted, not kept.
export class HeldEvents<T> {
  private held: T[] = [];
  private dropped = 0;
  private consumer: ((item: T) => void) | undefined;

  constructor(private readonly limit: number) {}

  push(item: T): void {
    if (this.consumer) this.consumer(item);
    else if (this.held.length < this.limit) this.held.push(item);
    else this.dropped += 1;
  }

  /** Hands every held item to `consumer`, and later ones straight away. Returns how many were dropped. */
  release(consumer: (item: T) => void): number {
    const held = this.held;
    this.held = [];
    for (const item of held) consumer(item);
    this.consumer = consumer;
    return this.dropped;
  }
}
