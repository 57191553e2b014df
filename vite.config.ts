import { defineConfig } from 'vite';

// The PWA lives in web/. It is served cross-origin isolated (COOP + COEP) because the
// sandbox's synchronous host calls block a worker on Atomics.wait over a SharedArrayBuffer,
// which browsers allow only in isolated pages. Bound to 127.0.0.1 unless told otherwise.
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  root: 'web',
  publicDir: 'public',
  build: { outDir: '../dist/web', emptyOutDir: true, target: 'es2022' },
  server: { host: '127.0.0.1', headers: isolation, fs: { allow: ['..'] } },
  preview: { host: '127.0.0.1', headers: isolation },
});
