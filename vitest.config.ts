import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';
import { defineConfig, type Plugin } from 'vitest/config';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/**
 * Vite 8 and vitest transform TypeScript with Oxc, which leaves standard (TC39) decorators
 * unlowered, and Node cannot run them (field notes). Sources with a decorator go through esbuild
 * first, as the bundler plugins do for Vite builds.
 */
const lowerDecorators: Plugin = {
  name: 'lower-standard-decorators',
  enforce: 'pre',
  async transform(code, id) {
    const file = id.split('?')[0]!;
    if (!/\.m?tsx?$/.test(file) || file.includes('/node_modules/') || !/^\s*@\w/m.test(code)) return null;
    const result = await transform(code, { loader: file.endsWith('x') ? 'tsx' : 'ts', target: 'es2022', format: 'esm', sourcemap: true, sourcefile: file });
    return { code: result.code, map: result.map };
  },
};

export default defineConfig({
  plugins: [lowerDecorators],
  resolve: {
    alias: [
      { find: /^gen-modules\/runtime$/, replacement: here('./src/runtime/index.ts') },
      { find: /^gen-modules\/esbuild$/, replacement: here('./plugin/esbuild.ts') },
      { find: /^gen-modules\/rollup$/, replacement: here('./plugin/rollup.ts') },
      { find: /^gen-modules\/vite$/, replacement: here('./plugin/vite.ts') },
      { find: /^gen-modules$/, replacement: here('./src/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
