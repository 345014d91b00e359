// The console's build: static files under dist/apps/console that the gateway serves at /console
// (apps/api-gateway/src/app/console). Nothing is inlined (no data: URLs, no inline scripts or styles), so
// the gateway's Content-Security-Policy can refuse everything but 'self'.
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/console/',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../../dist/apps/console', import.meta.url)),
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
