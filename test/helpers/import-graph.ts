// The static import graph of the TypeScript sources: which npm packages a module reaches
// through `import … from` / `export … from` (type-only imports and dynamic import() excluded —
// those cost nothing at load time), and through a require() of a package at a module's top
// level (`const x = require('pkg/…')` with createRequire, as src/ssh2/ reaches ssh2's internal
// files: it loads when the module does). Used to keep heavy packages out of threads that do not
// need them.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const STATIC_IMPORT = /^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;
/** A require() of a package in a declaration at column 0 (top level); one inside a function is lazy. */
const TOP_LEVEL_REQUIRE = /^(?:export\s+)?(?:const|let|var)\s+[^=\n]+=\s*\(?require\(\s*['"]([^'".][^'"]*)['"]\s*\)/gm;

/** Package name → the first source file (relative to `root`) that imports it. */
export function reachablePackages(entry: string, root: string): Map<string, string> {
  const packages = new Map<string, string>();
  for (const [spec, file] of reachableSpecifiers(entry, root)) {
    const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
    if (!packages.has(name)) packages.set(name, file);
  }
  return packages;
}

/** Package specifier as written (`ssh2`, `ssh2/lib/client.js`) → the first source file that loads it. */
export function reachableSpecifiers(entry: string, root: string): Map<string, string> {
  const seen = new Set<string>();
  const specifiers = new Map<string, string>();
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of [...text.matchAll(STATIC_IMPORT), ...text.matchAll(TOP_LEVEL_REQUIRE)]) {
      const spec = m[1]!;
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) {
        const resolved = path.resolve(path.dirname(file), spec);
        const ts = resolved.replace(/\.js$/, '.ts');
        if (existsSync(ts)) walk(ts);
        else if (existsSync(resolved)) walk(resolved);
        continue;
      }
      if (!specifiers.has(spec)) specifiers.set(spec, path.relative(root, file));
    }
  };
  walk(path.resolve(root, entry));
  return specifiers;
}

// Every `import`/`export … from` of a relative module, type-only ones included (a type-only
// circle still ties two files together for a reader); dynamic import() is not a dependency.
const RELATIVE_IMPORT = /^\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/gm;

/** The relative-import graph of every .ts file under `dirs` (paths relative to `root`). */
export function importGraph(root: string, dirs: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const files = dirs.flatMap((dir) => readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => path.join(dir, f)));
  for (const file of files) {
    const deps: string[] = [];
    for (const m of readFileSync(path.join(root, file), 'utf8').matchAll(RELATIVE_IMPORT)) {
      const target = path.relative(root, path.resolve(root, path.dirname(file), m[1]!.replace(/\.js$/, '.ts')));
      if (existsSync(path.join(root, target))) deps.push(target);
    }
    graph.set(file, deps);
  }
  return graph;
}

/** Every import circle (strongly connected group of more than one file, or a file importing itself), as sorted file lists. */
export function importCircles(graph: Map<string, string[]>): string[][] {
  // Tarjan's strongly connected components, iteratively (no recursion limit on deep graphs).
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const circles: string[][] = [];
  for (const start of graph.keys()) {
    if (index.has(start)) continue;
    const work: Array<{ node: string; next: number }> = [{ node: start, next: 0 }];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const deps = graph.get(frame.node) ?? [];
      if (frame.next < deps.length) {
        const dep = deps[frame.next++]!;
        if (!index.has(dep)) {
          index.set(dep, counter);
          low.set(dep, counter++);
          stack.push(dep);
          onStack.add(dep);
          work.push({ node: dep, next: 0 });
        } else if (onStack.has(dep)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(dep)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const group: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          group.push(member);
        } while (member !== frame.node);
        if (group.length > 1 || deps.includes(frame.node)) circles.push(group.sort());
      }
    }
  }
  return circles;
}
