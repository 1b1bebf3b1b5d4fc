// Builds the published package into dist/: one ES module per `exports` entry (shared code in
// chunks), dependencies left external, plus type declarations. Run by `npm pack` and `npm publish`
// (prepack), by bin/gen-modules.js in a checkout that has no dist/ yet, and by the test suite's
// global setup so tests see current code. Not a `prepare` script: npm 11 warns, in every project
// that installs the package, about an install script it has not approved.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const entries = {
  index: 'src/index.ts',
  runtime: 'src/runtime/index.ts',
  cli: 'src/cli/main.ts',
  esbuild: 'plugin/esbuild.ts',
  rollup: 'plugin/rollup.ts',
  vite: 'plugin/vite.ts',
};
const entryPoints = Object.fromEntries(Object.entries(entries).filter(([, file]) => existsSync(`${root}/${file}`)));

rmSync(`${root}/dist`, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints,
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  chunkNames: 'chunks/[name]-[hash]',
  logLevel: 'warning',
});

if (!process.argv.includes('--no-types')) {
  const tsc = spawnSync(process.execPath, [`${root}/node_modules/typescript/bin/tsc`, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
}
