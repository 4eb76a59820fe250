// Every measured value of a run: appended to bench/results/<run>.jsonl as it is taken, and kept
// in memory (per tunnel, and per repetition for the paired ratios) for the report.
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { summarize, type Summary } from './stats.js';

export class Recorder {
  readonly runId = new Date().toISOString().replace(/[:.]/g, '-');
  readonly jsonl: string;
  private readonly samples = new Map<string, number[]>(); // `${figure}|${tunnel}` → values
  private readonly pairs = new Map<string, Record<string, number>>(); // `${figure}|${rep}` → tunnel → value

  constructor(resultsDir: string, private readonly quick: boolean) {
    mkdirSync(resultsDir, { recursive: true });
    this.jsonl = path.join(resultsDir, `${this.runId}${quick ? '-quick' : ''}.jsonl`);
  }

  record(figure: string, tunnel: string, value: number, unit: string, rep = 0, extra: Record<string, unknown> = {}): void {
    const key = `${figure}|${tunnel}`;
    if (!this.samples.has(key)) this.samples.set(key, []);
    this.samples.get(key)!.push(value);
    const pk = `${figure}|${rep}`;
    if (!this.pairs.has(pk)) this.pairs.set(pk, {});
    this.pairs.get(pk)![tunnel] = value;
    appendFileSync(this.jsonl, JSON.stringify({ run: this.runId, quick: this.quick, at: new Date().toISOString(), figure, tunnel, rep, value, unit, ...extra }) + '\n');
  }

  stat(figure: string, tunnel: string): Summary | null {
    return summarize(this.samples.get(`${figure}|${tunnel}`) ?? []);
  }

  /** Ratios agent/ssh paired by repetition (same round), then summarised. */
  pairedRatio(figure: string, tunnel: string, base: string): Summary | null {
    const ratios: number[] = [];
    for (const [key, r] of this.pairs) {
      if (!key.startsWith(`${figure}|`)) continue;
      if (r[tunnel] !== undefined && r[base] !== undefined && r[base] !== 0) ratios.push(r[tunnel]! / r[base]!);
    }
    return summarize(ratios);
  }
}
