// ISO 8601 UTC timestamps without Date#toISOString: in Node 20 (V8 11.3) toISOString (and
// JSON.stringify of a Date) looks up the local time zone and its display name through ICU, which
// pages in ≈ 0.65 MB of ICU's time-zone data for good (bench/results/2026-12-03-run-settled.md).
// The UTC getters do not. Same text as toISOString for years 0–9999.
const pad2 = (n: number) => (n < 10 ? '0' : '') + n;
const pad3 = (n: number) => (n < 10 ? '00' : n < 100 ? '0' : '') + n;

export function isoTime(at: number | Date = Date.now()): string {
  const d = typeof at === 'number' ? new Date(at) : at;
  const y = d.getUTCFullYear();
  if (!(y >= 0 && y <= 9999)) return d.toISOString(); // invalid dates throw there, as before
  return `${String(y).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}T${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.${pad3(d.getUTCMilliseconds())}Z`;
}
