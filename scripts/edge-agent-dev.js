#!/usr/bin/env node
// Development only (`npm run dev -- <command>`, `npm start`, the tests): runs the TypeScript
// sources through tsx, a devDependency, so what runs is what you are editing. Session workers
// started from the sources load through tsx too (src/supervisor/worker-pool.ts).
import { register } from 'tsx/esm/api';

register();
await import(new URL('../src/cli.ts', import.meta.url).href);
