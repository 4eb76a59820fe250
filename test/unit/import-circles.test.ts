// No import circles in the sources: a circle means neither file can be understood (or moved)
// without the other. Walks every relative import, type-only ones included.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { importCircles, importGraph } from '../helpers/import-graph.js';

const root = path.resolve(import.meta.dirname, '../..');

describe('import circles', () => {
  it('finds a circle where there is one (the checker itself)', () => {
    const graph = new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts', 'd.ts']], ['e.ts', []]]);
    expect(importCircles(graph)).toEqual([['a.ts', 'b.ts', 'c.ts'], ['d.ts']]);
  });

  it('src/, config/, telemetry/ and workers/ have none', () => {
    const graph = importGraph(root, ['src', 'config', 'telemetry', 'workers']);
    expect(graph.size).toBeGreaterThan(100);
    const circles = importCircles(graph).map((group) => group.join(' <-> '));
    expect(circles, `import circles:\n  ${circles.join('\n  ')}`).toEqual([]);
  });
});
