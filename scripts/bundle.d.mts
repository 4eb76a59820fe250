// Types of scripts/bundle.mjs for the tests that import it (test/unit/bundle-graph.test.ts).
import type { BuildOptions } from 'esbuild';

export const PROGRAMS: { cli: Record<string, string>; lib: Record<string, string>; worker: Record<string, string> };
export function bundleOptions(program: keyof typeof PROGRAMS, outdir?: string): BuildOptions & { metafile: true };
