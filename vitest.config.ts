import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Native inference tests share two cores; running files in parallel only adds contention.
    fileParallelism: false,
    reporters: ['default'],
  },
});
