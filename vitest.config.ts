import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/ensure-sshd.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    // each test file in its own child process: real sockets, real sshd processes
    pool: 'forks',
    // 2-core CI machines: at most two test files at a time (vitest 4: top-level maxWorkers)
    maxWorkers: 2,
    fileParallelism: true,
  },
});
