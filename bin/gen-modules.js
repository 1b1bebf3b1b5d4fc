#!/usr/bin/env node
// The published entry: runs the bundled CLI from dist/ (built by `npm run build:pkg`, which
// `npm ci` runs through the prepare script).
import { main } from '../dist/cli.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(`gen-modules: internal error: ${error instanceof Error ? error.stack : String(error)}`);
    process.exitCode = 70;
  },
);
