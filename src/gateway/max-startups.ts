// Limits on unauthenticated connections, as OpenSSH's sshd has them (MaxStartups,
// PerSourceMaxStartups): a flood of idle TCP connections must not lock reconnecting agents out.
//
//   START:RATE:FULL  below START unauthenticated connections every new one is served; from START
//                    on a new one is dropped with probability RATE %, rising linearly to 100 %
//                    at FULL (random early drop, so a legitimate client still gets a fair
//                    share of attempts while a flood is going on). Default 10:30:100.
//   per source       at most N unauthenticated connections from one address (default 10); the
//                    next one from that address is dropped at once.
// A dropped connection is closed at accept, before any SSH byte.
import { EdgeError } from '../errors.js';

export interface MaxStartups {
  start: number;
  /** Percent, 1–100. */
  rate: number;
  full: number;
}

export const DEFAULT_MAX_STARTUPS: Readonly<MaxStartups> = Object.freeze({ start: 10, rate: 30, full: 100 });

/** 'START:RATE:FULL', or a bare 'N' (= N:100:N: a hard limit, as in sshd). */
export function parseMaxStartups(text: string, key = 'maxStartups'): MaxStartups {
  const bad = () => new EdgeError('EDGE_ERR_INVALID_CONFIG', `${key}: must be START:RATE:FULL (e.g. 10:30:100) with 1 ≤ START ≤ FULL and RATE a percentage from 1 to 100, or a single number (got "${text}").`);
  const parts = String(text).trim().split(':');
  if (!parts.every((p) => /^\d{1,9}$/.test(p))) throw bad();
  const nums = parts.map(Number);
  let ms: MaxStartups;
  if (nums.length === 1) ms = { start: nums[0]!, rate: 100, full: nums[0]! };
  else if (nums.length === 3) ms = { start: nums[0]!, rate: nums[1]!, full: nums[2]! };
  else throw bad();
  if (ms.start < 1 || ms.start > ms.full || ms.rate < 1 || ms.rate > 100) throw bad();
  return ms;
}

/** Whether to drop a new connection while `unauthenticated` others are still logging in. */
export function dropStartup(unauthenticated: number, limits: MaxStartups, random: () => number = Math.random): boolean {
  if (unauthenticated >= limits.full) return true;
  if (unauthenticated < limits.start) return false;
  const percent = limits.rate + ((100 - limits.rate) * (unauthenticated - limits.start)) / (limits.full - limits.start);
  return random() * 100 < percent;
}

export function formatMaxStartups(limits: MaxStartups): string {
  return `${limits.start}:${limits.rate}:${limits.full}`;
}
