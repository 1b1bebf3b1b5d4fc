import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^gen-modules\/runtime$/, replacement: here('./src/runtime/index.ts') },
      { find: /^gen-modules\/esbuild$/, replacement: here('./plugin/esbuild.ts') },
      { find: /^gen-modules\/rollup$/, replacement: here('./plugin/rollup.ts') },
      { find: /^gen-modules\/vite$/, replacement: here('./plugin/vite.ts') },
      { find: /^gen-modules$/, replacement: here('./src/index.ts') },
    ],
  },
  // vitest transforms with Oxc, which does not lower standard decorators (field notes): sources
  // that use them are compiled through esbuild instead.
  oxc: false,
  esbuild: { target: 'es2022' },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
