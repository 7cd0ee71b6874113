import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Tests start real python3 workers; a worker import takes ~0.1-0.5 s on a loaded 2-core box.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'runner-python', include: ['src/**/*.test.ts'], exclude: ['src/**/*.heap.test.ts'] } },
      {
        // A small heap, so that a frame that would exhaust a real host's heap does it here.
        extends: true,
        test: { name: 'heap', include: ['src/**/*.heap.test.ts'], pool: 'forks', execArgv: ['--max-old-space-size=256'] },
      },
    ],
  },
});
