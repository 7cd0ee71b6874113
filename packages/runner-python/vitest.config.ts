import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Tests start real python3 workers; a worker import takes ~0.1-0.5 s on a loaded 2-core box.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
