// Types of scripts/bundle.mjs for the tests that import it (test/unit/bundle-graph.test.ts).
import type { BuildOptions } from 'esbuild';

export const PROGRAMS: { cli: Record<string, string>; lib: Record<string, string>; worker: Record<string, string> };
export function bundleOptions(program: keyof typeof PROGRAMS, outdir?: string): BuildOptions & { metafile: true };
/** Non-ASCII characters (only in the comments esbuild keeps) as '?', one per UTF-16 unit. */
export function asciiOnly(text: string): string;
/** Bundles `program` into `outdir` (default dist/) as `npm run build` does, ASCII-only; esbuild's metafile. */
export function bundleProgram(program: keyof typeof PROGRAMS, outdir?: string): Promise<import('esbuild').Metafile>;
