// Worker-thread entry for bench/lib/sshd-control-worker.ts: registers tsx's loader first
// (a worker's own entry cannot be TypeScript), then runs it.
import { register } from 'tsx/esm/api';

register();
await import('./sshd-control-worker.ts');
