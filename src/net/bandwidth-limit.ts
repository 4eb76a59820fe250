// A forward's bandwidth cap (maxBytesPerSecond): one token bucket per direction, shared by all
// of the forward's channels, so the cap holds for the forward as a whole and other forwards are
// untouched. It never buffers: a reader that has overdrawn its bucket is paused until the debt
// is paid back (the SSH channel stops re-opening its window, or the target socket stops being
// read, and TCP/SSH flow control slows the far side). At most one chunk (a socket read or an SSH
// packet) passes before the pause, which is why the bucket may go into debt.

/** Burst allowance: small enough that a transfer's duration reflects the cap. */
const MAX_BURST_BYTES = 64 * 1024;

export class TokenBucket {
  private rate = 0;
  private tokens = 0;
  private burst = 0;
  private last: number;

  constructor(bytesPerSecond: number, private readonly now: () => number = () => performance.now()) {
    this.last = now();
    this.setRate(bytesPerSecond);
  }

  /** 0 = unlimited. A new rate starts with a full burst. */
  setRate(bytesPerSecond: number): void {
    this.rate = bytesPerSecond > 0 ? bytesPerSecond : 0;
    this.burst = Math.min(this.rate, MAX_BURST_BYTES);
    this.tokens = this.burst;
    this.last = this.now();
  }

  get limited(): boolean {
    return this.rate > 0;
  }

  /** Takes `bytes` (possibly into debt) and returns how long the reader must wait, in ms. */
  take(bytes: number): number {
    if (this.rate === 0) return 0;
    this.refill();
    this.tokens -= bytes;
    return this.waitMs();
  }

  /** Milliseconds until the bucket is out of debt (0 when it is not in debt). */
  waitMs(): number {
    if (this.rate === 0) return 0;
    this.refill();
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.rate) * 1000);
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }
}

/** Both directions of one forward's cap. */
export class ForwardBandwidth {
  /** From the outside client to the target. */
  readonly in: TokenBucket;
  /** From the target back to the client. */
  readonly out: TokenBucket;

  constructor(bytesPerSecond: number, now?: () => number) {
    this.in = new TokenBucket(bytesPerSecond, now);
    this.out = new TokenBucket(bytesPerSecond, now);
    this.currentRate = bytesPerSecond;
  }

  /** The cap in bytes per second (0 = none). */
  get rate(): number {
    return this.currentRate;
  }

  private currentRate = 0;

  setRate(bytesPerSecond: number): void {
    this.currentRate = bytesPerSecond;
    this.in.setRate(bytesPerSecond);
    this.out.setRate(bytesPerSecond);
  }
}

/**
 * Holds one readable side (a channel or a target socket) while its bucket is in debt. Resuming
 * is left to `canResume`, so a reader also paused for backpressure stays paused.
 */
export class ThrottledReader {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly bucket: TokenBucket,
    private readonly stream: { pause(): unknown; resume(): unknown },
    private readonly canResume: () => boolean,
  ) {}

  /** True while the reader is held for the cap (other pause reasons must not resume it). */
  get holding(): boolean {
    return this.timer !== undefined;
  }

  /** Counts bytes just read; pauses the reader when the bucket went into debt. */
  consumed(bytes: number): void {
    if (!this.bucket.limited) return;
    const wait = this.bucket.take(bytes);
    if (wait > 0 && this.timer === undefined) {
      this.stream.pause();
      this.arm(wait);
    }
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      // Other channels of the forward may have drawn on the bucket meanwhile.
      const more = this.bucket.waitMs();
      if (more > 0) return this.arm(more);
      this.timer = undefined;
      if (this.canResume()) this.stream.resume();
    }, ms);
  }
}
