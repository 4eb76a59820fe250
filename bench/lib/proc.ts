// CPU and memory of processes, read from /proc (Linux only).
import { readdirSync, readFileSync } from 'node:fs';

const TICKS = 100; // USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK)

/** Resident set size in bytes (VmRSS), or 0 when the process is gone. */
export function rss(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** Peak resident set size in bytes since start or the last resetPeakRss (VmHWM), 0 when gone. */
export function peakRss(pid: number): number {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** User + system CPU seconds the process used so far (all its threads). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields after ")": state(0) ppid(1) … utime(11) stime(12)
    return (Number(f[11]) + Number(f[12])) / TICKS;
  } catch {
    return 0;
  }
}

export function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

export function descendants(root: number): number[] {
  const kids = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const ppid = parentOf(Number(e));
    if (ppid < 0) continue;
    let list = kids.get(ppid);
    if (!list) kids.set(ppid, (list = []));
    list.push(Number(e));
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    for (const c of kids.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** The pid whose command line contains `needle` (first match), or undefined. */
export function findProcess(needle: string): number | undefined {
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(needle)) return Number(e);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

/** CPU seconds of a process and all its descendants (e.g. sshd's per-connection children). */
export function treeCpuSeconds(root: number): number {
  return [root, ...descendants(root)].reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}
