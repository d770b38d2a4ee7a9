import { defineConfig } from 'vite';

// GraphiQL for boxoffice's GET /graphql page: its own small build (graphiql/ -> dist-graphiql/), served by
// the backend under /graphiql/ (boxoffice/graphiql_page.py, GRAPHIQL_PATH), so the IDE never loads
// anything from a CDN and the page runs no inline script.
export default defineConfig({
  root: 'graphiql',
  base: '/graphiql/',
  logLevel: 'warn', // no listing of its ~40 chunks on every build
  build: {
    outDir: '../dist-graphiql',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4000, // GraphiQL is one ~1 MB bundle, loaded by developers only
    rollupOptions: {
      onwarn(warning, warn) {
        // GraphiQL's React dependencies mark modules "use client" (for server components): harmless here.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
});
