import { defineConfig } from 'vitest/config';
import SlowFirstSequencer from './test/helpers/slow-first-sequencer.js';

// Three tiers, each runnable alone (`npx vitest run --project unit|component|integration`);
// `npm test` runs all three. docs/architecture.md "Tests" says what belongs where.
const tier = (name: string, extra: Record<string, unknown> = {}) => ({ extends: true as const, test: { name, include: [`test/${name}/**/*.test.ts`], ...extra } });

export default defineConfig({
  test: {
    globalSetup: ['test/helpers/ensure-sshd.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    // each test file in its own child process: real sockets, real sshd processes
    pool: 'forks',
    // 2-core CI machines: at most two test files at a time (vitest 4: top-level maxWorkers)
    maxWorkers: 2,
    fileParallelism: true,
    // the slowest files start first within their tier (test/helpers/slow-first-sequencer.ts)
    sequence: { sequencer: SlowFirstSequencer },
    projects: [tier('unit', { isolate: false }), tier('component'), tier('integration')],
  },
});
