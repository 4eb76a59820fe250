// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by category,
// to show where the agent's CPU goes per GB moved. Usage: tsx bench/lib/profile-summary.ts FILE [TOP]
import { readFileSync } from 'node:fs';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }
interface Profile { nodes: Node[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export function summarizeProfile(file: string, top = 25): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFn = new Map<string, number>();
  const byCat = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const url = n.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|bench|workers)\//, '$1/');
    const name = `${n.callFrame.functionName || '(anonymous)'} ${url ? `${url}:${n.callFrame.lineNumber + 1}` : ''}`.trim();
    byFn.set(name, (byFn.get(name) ?? 0) + us);
    const cat = n.callFrame.functionName === '(idle)' ? 'idle'
      : n.callFrame.functionName === '(garbage collector)' ? 'gc'
        : n.callFrame.functionName === '(program)' ? 'program (native, unattributed)'
          : url.startsWith('ssh2/') ? 'ssh2 (JS + its native calls)'
            : url.startsWith('node:') || url === '' ? 'node core / native'
              : url.startsWith('src/') || url.includes('/src/') ? 'agent' : 'other';
    byCat.set(cat, (byCat.get(cat) ?? 0) + us);
  }
  const busy = total - (byCat.get('idle') ?? 0);
  const lines = [`${file}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy`];
  lines.push('  by category (% of busy):');
  for (const [c, us] of [...byCat].filter(([c]) => c !== 'idle').sort((a, b) => b[1] - a[1])) lines.push(`    ${((us / busy) * 100).toFixed(1).padStart(5)}%  ${c}`);
  lines.push(`  top ${top} functions by self time (% of busy):`);
  for (const [f, us] of [...byFn].filter(([f]) => !f.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`    ${((us / busy) * 100).toFixed(1).padStart(5)}%  ${f}`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(summarizeProfile(process.argv[2]!, Number(process.argv[3] ?? 25)) + '\n');
}
