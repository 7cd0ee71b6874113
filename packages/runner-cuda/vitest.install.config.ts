import { defineConfig } from 'vitest/config';

// `pnpm run test:install`: installs packed tarballs into fresh apps with plain npm (slow, uses
// the npm registry for third-party packages), so it stays out of `pnpm test`'s default suite.
export default defineConfig({
  test: {
    include: ['install-test/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 900_000,
    fileParallelism: false,
  },
});
