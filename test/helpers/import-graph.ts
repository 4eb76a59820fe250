// The static import graph of the TypeScript sources: which npm packages a module reaches
// through `import … from` / `export … from` (type-only imports and dynamic import() excluded —
// those cost nothing at load time). Used to keep heavy packages out of threads that do not
// need them.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const STATIC_IMPORT = /^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;

/** Package name → the first source file (relative to `root`) that imports it. */
export function reachablePackages(entry: string, root: string): Map<string, string> {
  const seen = new Set<string>();
  const packages = new Map<string, string>();
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(STATIC_IMPORT)) {
      const spec = m[1]!;
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) {
        const resolved = path.resolve(path.dirname(file), spec);
        const ts = resolved.replace(/\.js$/, '.ts');
        if (existsSync(ts)) walk(ts);
        else if (existsSync(resolved)) walk(resolved);
        continue;
      }
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      if (!packages.has(name)) packages.set(name, path.relative(root, file));
    }
  };
  walk(path.resolve(root, entry));
  return packages;
}
