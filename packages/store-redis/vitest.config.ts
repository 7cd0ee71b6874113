import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // One redis-server and several gateways per file: files run one after another on 2 cores.
    fileParallelism: false,
  },
});
