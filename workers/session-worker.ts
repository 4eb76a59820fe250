// The piscina worker entry: sets the thread up, then runs one SSH session per task
// (workers/session-runner.ts). The pool uses atomics: 'disabled', so a task may stay pending for
// the session's whole life while the thread's event loop runs.
// First: this thread's heap setup put the main thread's young-generation cap back to V8's default.
import './reapply-runtime-flags.js';
// Second, before anything in this thread loads ssh2: skips ssh2's unused poly1305 WebAssembly (~3.6 MB a thread).
import '../src/ssh2/poly1305-wasm.js';
import type { SessionTaskInput, SessionTaskResult } from '../src/protocol.js';
import { importSibling } from '../src/import-sibling.js';

// The session code (and ssh2) is imported once the two modules above have run, not statically:
// in the bundled build (scripts/bundle.mjs) a file's package imports are evaluated before any of
// its code, so a static import would load ssh2 before the hook is in place. Started right away,
// so that it loads while piscina reports the thread ready.
const runner = importSibling(import.meta.url, './session-runner', () => import('./session-runner.js'));
runner.catch(() => {}); // a failed load fails the first task instead (below)

export default async function runSession(input: SessionTaskInput): Promise<SessionTaskResult> {
  return (await runner).runSession(input);
}
