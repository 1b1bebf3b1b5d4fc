#!/usr/bin/env node
// The published entry: runs the bundled CLI from dist/, which the package ships. A checkout of the
// repository has none until something builds it (`npm run build:pkg`, the tests): then it is built
// here first, so that `npm ci && npx gen-modules` works there too.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/cli.js', import.meta.url);
const builder = new URL('../scripts/build-package.mjs', import.meta.url);
if (!existsSync(cli) && existsSync(builder)) {
  const built = spawnSync(process.execPath, [fileURLToPath(builder), '--no-types'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (built.status !== 0) {
    console.error('gen-modules: dist/ is missing and could not be built (npm run build:pkg)');
    process.exit(70);
  }
}
const { main } = await import(cli.href);

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(`gen-modules: internal error: ${error instanceof Error ? error.stack : String(error)}`);
    process.exitCode = 70;
  },
);
