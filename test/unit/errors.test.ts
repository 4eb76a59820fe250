import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { asEdgeError, EdgeError, ERROR_CODES, fromPlainError, toPlainError } from '../../src/errors.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : full.endsWith('.ts') ? [full] : [];
  });
}

describe('error codes', () => {
  it('docs/errors.md lists every code with its retryable flag, and no code that does not exist', () => {
    const doc = readFileSync(path.join(root, 'docs', 'errors.md'), 'utf8');
    const table = doc.split('<!-- error-codes:start -->')[1]!.split('<!-- error-codes:end -->')[0]!;
    const rows = [...table.matchAll(/^\| `(EDGE_ERR_[A-Z_]+)` \| (yes|no) \|/gm)].map((m) => [m[1], m[2] === 'yes']);
    const expected = Object.entries(ERROR_CODES).map(([code, info]) => [code, info.retryable]);
    expect(rows).toEqual(expected);
  });

  it('every EDGE_ERR_* code the source uses is defined', () => {
    const used = new Set<string>();
    for (const file of [...sourceFiles(path.join(root, 'src')), ...sourceFiles(path.join(root, 'config')), ...sourceFiles(path.join(root, 'workers'))]) {
      for (const m of readFileSync(file, 'utf8').matchAll(/EDGE_ERR_[A-Z_]+/g)) used.add(m[0]);
    }
    const unknown = [...used].filter((code) => !(code in ERROR_CODES));
    expect(unknown).toEqual([]);
  });

  it('a bug is EDGE_ERR_INTERNAL naming where it happened, never a network or protocol code; coded errors pass through', () => {
    const bug = asEdgeError(new TypeError("Cannot read properties of undefined (reading 'port')"), "session s1's connection attempt");
    expect(bug).toMatchObject({ code: 'EDGE_ERR_INTERNAL', retryable: true, details: { errorName: 'TypeError' } });
    expect(bug.message).toBe("Internal error in session s1's connection attempt (a bug: please report it with this line): TypeError: Cannot read properties of undefined (reading 'port')");
    expect(asEdgeError('thrown string', 'x').message).toContain('string: thrown string');
    const coded = new EdgeError('EDGE_ERR_CONNECT_REFUSED', 'refused');
    expect(asEdgeError(coded, 'x')).toBe(coded);
  });

  it('round-trips through a plain object (as across a worker boundary) with code, flag and details', () => {
    const err = new EdgeError('EDGE_ERR_FORWARD_REFUSED', 'refused', { details: { port: 80 } });
    const plain = structuredClone(toPlainError(err));
    const back = fromPlainError(plain);
    expect(back).toBeInstanceOf(EdgeError);
    expect(back).toMatchObject({ code: 'EDGE_ERR_FORWARD_REFUSED', message: 'refused', retryable: true, details: { port: 80 } });
  });
});
