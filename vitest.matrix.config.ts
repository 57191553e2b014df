import { defineConfig } from 'vitest/config';
import e2e from './vitest.e2e.config.ts';

// The engine matrix (test/e2e/matrix/): the end-to-end settings, run in a namespace with a
// link since Firefox's ICE needs one: `node test/run.mjs matrix`.
export default defineConfig({ test: { ...e2e.test, include: ['test/e2e/matrix/**/*.e2e.ts'], exclude: ['node_modules/**'] } });
