import { defineConfig } from 'vite';

// The dev server proxies the API to a running backend, so the app always talks to its own origin
// (no CORS needed): `BOXOFFICE_BACKEND=http://127.0.0.1:8000 npm run dev`. Start that backend with
// BOXOFFICE_PUBLIC_URL=http://localhost:5173 so ticket links and 3-D Secure pages come back through here.
const backend = process.env.BOXOFFICE_BACKEND ?? 'http://127.0.0.1:8000';

export default defineConfig({
  // Relative asset URLs: dist/ works at `/` (as the backend serves it) or under any sub-path.
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, target: 'es2022' },
  server: {
    proxy: {
      '/graphql': { target: backend, ws: true, changeOrigin: true },
      '/tickets': { target: backend, changeOrigin: true },
      '/healthz': { target: backend, changeOrigin: true },
      // The payment simulator's 3-D Secure pages (only when the backend runs without STRIPE_API_KEY).
      '/stripe-sim': { target: backend, changeOrigin: true },
    },
  },
});
