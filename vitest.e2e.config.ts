import { defineConfig } from 'vitest/config';

// End-to-end suites: real processes, real Chromium, real WebRTC on loopback.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.ts'],
    // The engine matrix runs in a namespace with a link of its own (vitest.matrix.config.ts).
    exclude: ['test/e2e/matrix/**', 'node_modules/**'],
    globals: true,
    environment: 'node',
    testTimeout: 240_000,
    hookTimeout: 240_000,
    fileParallelism: false,
  },
});
