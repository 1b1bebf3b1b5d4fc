// Builds the published package into dist/: one ES module per `exports` entry (shared code in
// chunks), dependencies left external, plus type declarations. Run by `npm pack` and `npm publish`
// (prepack), by bin/gen-modules.js in a checkout that has no dist/ yet, and by the test suite's
// global setup so tests see current code. Not a `prepare` script: npm 11 warns, in every project
// that installs the package, about an install script it has not approved.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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

// The scan cache's key holds this hash of the sources: a cache written by another version of the
// code is never read (installed files all have npm's fixed mtime; see scan-cache.ts codeId).
const sources = ['src', 'plugin'].flatMap((folder) =>
  readdirSync(`${root}/${folder}`, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .sort()
    .map((file) => `${folder}/${file}`),
);
const codeHash = createHash('sha256');
for (const file of sources) codeHash.update(`${file}\0`).update(readFileSync(`${root}/${file}`)).update('\0');

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
  define: { __GEN_MODULES_CODE_ID__: JSON.stringify(codeHash.digest('hex')) },
  logLevel: 'warning',
});

if (!process.argv.includes('--no-types')) {
  const tsc = spawnSync(process.execPath, [`${root}/node_modules/typescript/bin/tsc`, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
}
