// OTLP export failures: every one counted, at most one log line per signal per interval, with
// the number of failures since the previous line (injected clock).
import { describe, expect, it } from 'vitest';
import { ExportFailureLog, type TelemetrySignal } from '../../telemetry/export-failures.js';

describe('ExportFailureLog', () => {
  it('counts every failure and logs at most once a minute per signal, with the count', () => {
    let now = 1_000_000;
    const lines: Array<{ message: string; fields?: Record<string, unknown> }> = [];
    const counted: TelemetrySignal[] = [];
    const failures = new ExportFailureLog({ now: () => now, log: (_l, message, fields) => lines.push({ message, fields }), count: (s) => counted.push(s) });
    const boom = new Error('Unexpected server response: 500 from http://user:secret@collector:4318');
    failures.failed('metrics', boom);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.message).toMatch(/OTLP metrics export failed 1 time\(s\)/);
    expect(lines[0]!.message).not.toContain('secret');
    for (let i = 0; i < 10; i++) { now += 5_000; failures.failed('metrics', boom); }
    failures.failed('traces', boom); // another signal has its own budget
    expect(lines).toHaveLength(2);
    expect(lines[1]!.message).toMatch(/OTLP traces export failed 1 time/);
    now += 15_000; // 65 s after the first line
    failures.failed('metrics', boom);
    expect(lines).toHaveLength(3);
    expect(lines[2]!.message).toMatch(/metrics export failed 11 time\(s\) since the last report \(12 in total\)/);
    expect(lines[2]!.fields).toMatchObject({ signal: 'metrics', failures: 11 });
    expect(counted.filter((s) => s === 'metrics')).toHaveLength(12);
    expect(failures.total('metrics')).toBe(12);
  });
});
