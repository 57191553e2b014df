import { defineConfig } from 'vitest/config';

// Node-side suites: unit tests, the simulator's seeds and the Node adapters' acceptance runs.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    globals: true,
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
