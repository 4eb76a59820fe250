#!/usr/bin/env -S node --single-threaded-gc
// --single-threaded-gc: measured −45% CPU per GB tunnelled on 1–2 core machines (see README).
// The installed command runs the build (dist/, made by `npm run build`, and by `npm pack`
// through prepack). Running the TypeScript sources is a development path: `npm run dev -- …`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = new URL('../dist/src/cli.js', import.meta.url);
if (existsSync(fileURLToPath(built))) {
  await import(built.href);
} else {
  process.stderr.write(
    'edge-agent: this checkout has no build (dist/ is missing).\n' +
    "Run 'npm run build' first, or run the sources with 'npm run dev -- <command>'.\n",
  );
  process.exitCode = 1;
}
