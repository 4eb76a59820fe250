// IP literal checks with net.isIP/isIPv4/isIPv6's exact accept/reject behaviour, by hand.
// Node's IPv6 check is one large regular expression that V8 compiles on first use and again
// when it tiers it up: 5–30 ms of the agent's start on a slow core for the default
// `[::1]:*` in policy.allowedTargets alone (docs/performance.md, start-up). Scanning the
// characters once costs microseconds. test/unit/grammar-ip-address.test.ts compares every
// function with node:net over generated and hand-picked inputs.

const DOT = 46;
const COLON = 58;

/** 4 for an IPv4 literal, 6 for IPv6, else 0 (as net.isIP). */
export function ipFamily(s: string): 0 | 4 | 6 {
  if (isIPv4(s)) return 4;
  return isIPv6(s) ? 6 : 0;
}

/** Dotted quad, each part 0–255 without leading zeros (as net.isIPv4). */
export function isIPv4(s: string): boolean {
  return dottedQuadEnd(s, 0) === s.length && s.length > 0;
}

/** As net.isIPv6: hex groups, one `::` at most, an IPv4 tail, an optional `%zone`. */
export function isIPv6(s: string): boolean {
  const percent = s.indexOf('%');
  const end = percent === -1 ? s.length : percent;
  if (percent !== -1 && !isZone(s, percent + 1)) return false;
  let units = 0; // 16-bit groups written out (an IPv4 tail counts 2)
  let elided = false;
  let i = 0;
  if (end >= 2 && s.charCodeAt(0) === COLON && s.charCodeAt(1) === COLON) {
    elided = true;
    i = 2;
    if (i === end) return true;
  } else if (s.charCodeAt(0) === COLON) {
    return false;
  }
  for (;;) {
    // A group starts at i: hex digits, or an IPv4 tail that ends the address.
    let j = i;
    while (j < end && j - i < 5 && isHex(s.charCodeAt(j))) j++;
    if (j < end && s.charCodeAt(j) === DOT) {
      if (dottedQuadEnd(s, i) !== end) return false;
      units += 2;
      break;
    }
    if (j === i || j - i > 4) return false;
    units++;
    if (j === end) break;
    if (s.charCodeAt(j) !== COLON) return false;
    if (j + 1 < end && s.charCodeAt(j + 1) === COLON) {
      if (elided) return false;
      elided = true;
      i = j + 2;
      if (i === end) break;
    } else {
      i = j + 1;
      if (i === end) return false;
    }
  }
  return elided ? units <= 7 : units === 8;
}

/** Where a dotted quad starting at `from` ends (its length past `from`), or -1. */
function dottedQuadEnd(s: string, from: number): number {
  let i = from;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (s.charCodeAt(i) !== DOT) return -1;
      i++;
    }
    const start = i;
    let value = 0;
    while (i < s.length && i - start < 4) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      value = value * 10 + (c - 48);
      i++;
    }
    const digits = i - start;
    if (digits === 0 || digits > 3 || value > 255 || (digits > 1 && s.charCodeAt(start) === 48)) return -1;
  }
  return i;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** `%` then one or more of [0-9a-zA-Z.:-] to the end (Node's zone id; no second `%`). */
function isZone(s: string, from: number): boolean {
  if (from >= s.length) return false;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === DOT || c === COLON;
    if (!ok) return false;
  }
  return true;
}
