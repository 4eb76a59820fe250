// A bounded per-thread pool of equal-sized buffers for the data path (inbound packets, outbound
// packets, copies of target reads): a block is handed out as a view, given back by the one user
// that knows no view of it is left, and reused; a block never given back is garbage-collected
// like any buffer. Reuse instead of a fresh ArrayBuffer per packet keeps bulk transfers from
// piling up "external memory" that V8 frees only every ~25 MB (docs/performance.md).

export interface BlockPoolStats {
  /** Blocks created because none was free. */
  allocated: number;
  /** Blocks handed out again from the free list. */
  reused: number;
  /** Blocks given back. */
  released: number;
}

/** Drops the free blocks after this long without a take(): an idle worker keeps no pool. */
export const IDLE_TRIM_MS = 30_000;

/** Runs `fn` after `ms` without keeping the process alive; returns nothing to cancel (the check is cheap). */
export type IdleTimer = (fn: () => void, ms: number) => void;
const unrefTimer: IdleTimer = (fn, ms) => { setTimeout(fn, ms).unref(); };

export class BlockPool {
  private readonly free: Buffer[] = [];
  /** Blocks handed out and not given back, by their ArrayBuffer. */
  private readonly busy = new WeakMap<ArrayBufferLike, Buffer>();
  private takenSinceCheck = false;
  private trimScheduled = false;

  /**
   * `maxFree`: free blocks kept; more given back than this are dropped (the pool stays bounded).
   * The free list is emptied once a whole `idleTrimMs` passes without a take().
   */
  constructor(
    private readonly blockBytes: number,
    private readonly maxFree: number,
    readonly stats: BlockPoolStats,
    private readonly idleTrimMs = IDLE_TRIM_MS,
    private readonly timer: IdleTimer = unrefTimer,
  ) {}

  /**
   * Whether `len` bytes are worth a block: at least half of one. A smaller buffer holding a whole
   * block would multiply what a byte-counted queue (a channel's 2 MiB buffer, the SSH socket
   * gate) really holds; those get an exact-size buffer, as without the pool.
   */
  fits(len: number): boolean {
    return len * 2 >= this.blockBytes && len <= this.blockBytes;
  }

  /** Free blocks now kept. */
  get freeCount(): number {
    return this.free.length;
  }

  /** A view of the first `len` (≤ blockBytes) bytes of a free or new block. */
  take(len: number): Buffer {
    this.takenSinceCheck = true;
    let block = this.free.pop();
    if (block) this.stats.reused += 1;
    else {
      block = Buffer.allocUnsafeSlow(this.blockBytes);
      this.stats.allocated += 1;
    }
    this.busy.set(block.buffer, block);
    return block.subarray(0, len);
  }

  /** Is this a view of a block handed out and not given back? */
  holds(view: Uint8Array): boolean {
    return this.busy.has(view.buffer);
  }

  /** Takes the view's block out of the pool's records (later calls for it do nothing); recycle() it when free. */
  claim(view: Uint8Array): Buffer | undefined {
    const block = this.busy.get(view.buffer);
    if (block) this.busy.delete(view.buffer);
    return block;
  }

  /** Puts a claimed block back on the free list. */
  recycle(block: Buffer): void {
    this.stats.released += 1;
    if (this.free.length < this.maxFree) this.free.push(block);
    this.scheduleTrim();
  }

  private scheduleTrim(): void {
    if (this.trimScheduled || this.free.length === 0) return;
    this.trimScheduled = true;
    this.takenSinceCheck = false;
    this.timer(() => {
      this.trimScheduled = false;
      if (!this.takenSinceCheck) this.free.length = 0;
      else this.scheduleTrim();
    }, this.idleTrimMs);
  }

  /** Gives the view's block back: only for the holder of the last reference to every view of it. */
  release(view: Uint8Array): void {
    const block = this.claim(view);
    if (block) this.recycle(block);
  }
}
