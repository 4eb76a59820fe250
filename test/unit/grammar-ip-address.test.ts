// src/grammar/ip-address.ts must accept and reject exactly what node:net does (it replaces
// net.isIP/isIPv4/isIPv6 in the grammar to keep Node's IPv6 regular expression off the start path).
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { ipFamily, isIPv4, isIPv6 } from '../../src/grammar/ip-address.js';

const HAND_PICKED = [
  '', '::', ':::', '::1', '[::1]', '::1%', '::1%eth0', '::1%eth0%1', 'fe80::1%en0.5:x-Y', '::1% eth0', '1::', '1:::2', ':1::2', '1::2:',
  '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:', '1:2:3:4:5:6:7::', '1::3:4:5:6:7:8', '1::3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9',
  'ffff::', 'FFFF::ABCD', '12345::', '0000:0:00:000::', 'g::1', '::g', '1::2::3',
  '::1.2.3.4', '::ffff:1.2.3.4', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '1:2:3:4:5::1.2.3.4', '1:2:3:4:5:6::1.2.3.4',
  '::1.2.3', '::1.2.3.4.5', '::01.2.3.4', '::256.2.3.4', '::a.2.3.4', '1.2.3.4::', '1.2.3.4:1::', '::1.2.3.4%z', '::1.2.3.4:1',
  '0.0.0.0', '127.0.0.1', '255.255.255.255', '256.0.0.1', '01.2.3.4', '1.2.3', '1.2.3.4.', '.1.2.3.4', '1.2.3.4 ', ' 1.2.3.4', '1.2.3.4\n',
  '1..2.3', '1234.1.1.1', '00.0.0.0', 'localhost', 'example.com', '*', '[::1]:*', '127.0.0.1:22', '::1/128', '10.0.0.0/8',
];

/** Deterministic pseudo-random strings, both unstructured and built from address-like pieces. */
function* generated(count: number): Generator<string> {
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const alphabet = '0123456789abcdefABCDEF::::....g%-zZ';
  const pieces = ['::', ':', '0', '1', 'ffff', '12345', '255', '256', '01', '1.2.3.4', '.', '%eth0', '%', 'g', '192.168.0.1', '1:', ':1'];
  for (let n = 0; n < count; n++) {
    let s = '';
    if (n % 3 === 0) {
      const len = rnd(40);
      for (let i = 0; i < len; i++) s += alphabet[rnd(alphabet.length)];
    } else if (n % 3 === 1) {
      const k = rnd(14);
      for (let i = 0; i < k; i++) s += pieces[rnd(pieces.length)];
    } else {
      const groups: string[] = [];
      for (let i = rnd(10); i > 0; i--) groups.push(rnd(3) ? rnd(65536).toString(16) : '');
      s = groups.join(':');
      if (rnd(3) === 0) s += `:${rnd(300)}.${rnd(300)}.${rnd(256)}.${rnd(256)}`;
      if (rnd(5) === 0) s += `%${'eth0'.slice(0, rnd(5))}`;
    }
    yield s;
  }
}

function mismatches(inputs: Iterable<string>): string[] {
  const out: string[] = [];
  for (const s of inputs) {
    if (isIPv4(s) !== net.isIPv4(s) || isIPv6(s) !== net.isIPv6(s) || ipFamily(s) !== net.isIP(s)) out.push(s);
  }
  return out;
}

describe('IP literal checks', () => {
  it('agree with node:net on hand-picked edge cases', () => {
    expect(mismatches(HAND_PICKED)).toEqual([]);
    expect(ipFamily('::1')).toBe(6);
    expect(ipFamily('127.0.0.1')).toBe(4);
    expect(ipFamily('[::1]')).toBe(0);
  });

  it('agree with node:net on 100 000 generated strings (a third of them well-formed or nearly)', () => {
    const inputs = [...generated(100_000)];
    expect(inputs.filter((s) => net.isIPv6(s)).length).toBeGreaterThan(3_000);
    expect(mismatches(inputs)).toEqual([]);
  });
});
