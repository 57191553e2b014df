import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

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
  plugins: [
    // Installable and offline: a web manifest, and the service worker of sw/sw.ts with the
    // app shell's precache manifest injected (workbox-build). The page registers it itself
    // (web/sw-register.ts, workbox-window) to offer updates; the dev server has none.
    VitePWA({
      strategies: 'injectManifest',
      srcDir: '../sw',
      filename: 'sw.ts',
      injectRegister: false,
      injectManifest: {
        rollupFormat: 'iife',
        globPatterns: ['**/*.{js,css,html,svg,png,webmanifest}'],
        maximumFileSizeToCacheInBytes: 8 * 1024 * 1024,
      },
      manifest: {
        name: 'LiquidMesh',
        short_name: 'LiquidMesh',
        description: 'Run WebAssembly modules across a mesh of browsers, headless Chromium and Node peers.',
        start_url: './',
        scope: './',
        display: 'standalone',
        background_color: '#0f172a',
        theme_color: '#0f172a',
        icons: [
          { src: 'icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icons/icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
          { src: 'icons/icon.svg', sizes: 'any', type: 'image/svg+xml' },
        ],
      },
      devOptions: { enabled: false },
    }),
  ],
});
