#!/usr/bin/env node
// Runs the compiled CLI when the package has been built (npm run build), else the TypeScript
// sources through tsx, so `npx edge-agent` works straight after `npm install` from a checkout.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const built = fileURLToPath(new URL('../dist/src/cli.js', import.meta.url));
if (existsSync(built)) {
  await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli.ts', import.meta.url).href);
}
