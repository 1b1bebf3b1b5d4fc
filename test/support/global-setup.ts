// Once per test run: build the package's dist/ (the CLI tests run bin/gen-modules.js) and the
// example emulator's lazy and eager builds, which several suites execute read-only.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function run(args: string[]): void {
  const result = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`global setup: node ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
}

export default function setup(): void {
  run(['scripts/build-package.mjs', '--no-types']);
  run(['--import', 'tsx', 'fixtures/emulator/build.ts']);
}
