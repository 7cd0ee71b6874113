import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const core = fileURLToPath(new URL('../inference-core/src/', import.meta.url));

export default defineConfig({
  resolve: {
    // Test against the core's sources so a stale dist/ never hides a contract change.
    alias: [
      { find: /^@inferkit\/inference-core\/testing$/, replacement: `${core}testing.ts` },
      { find: /^@inferkit\/inference-core$/, replacement: `${core}index.ts` },
    ],
  },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
