// Types of scripts/bundle.mjs for the tests that import it (test/unit/bundle-graph.test.ts).
import type { BuildOptions } from 'esbuild';

export const PROGRAMS: { cli: Record<string, string>; lib: Record<string, string>; worker: Record<string, string> };
export function bundleOptions(program: keyof typeof PROGRAMS, outdir?: string): BuildOptions & { metafile: true };
/** Throws, naming `file` and the line, when `text` has a non-ASCII character. */
export function assertAscii(file: string, text: string): void;
/** Bundles `program` into `outdir` (default dist/) as `npm run build` does (failing on non-ASCII output); esbuild's metafile. */
export function bundleProgram(program: keyof typeof PROGRAMS, outdir?: string): Promise<import('esbuild').Metafile>;
