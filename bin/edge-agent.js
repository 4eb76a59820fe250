#!/usr/bin/env node
// No node flags here (nor in the Dockerfile or the systemd unit): the agent applies the GC
// settings its figures depend on itself (src/runtime-flags.ts), so `npx edge-agent`,
// `node dist/src/cli.js`, the container and a hand-written unit all run the same settings, and
// the shebang works with env(1) implementations without -S (BusyBox).
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
