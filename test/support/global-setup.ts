// Once per test run: build the package's dist/ (the CLI tests run bin/gen-modules.js) and the
// example emulator's lazy and eager builds, which several suites execute read-only.
//
// The run also gets a temp folder of its own (TMPDIR, which the test workers and every process
// they start inherit), removed when the run ends: the tests make hundreds of temp projects, and
// test workers ended by vitest, or children a test kills, cannot clean up after themselves (a whole
// run used to leave about 50 folders in /tmp).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function run(args: string[]): void {
  const result = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`global setup: node ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
}

export default function setup(): () => void {
  run(['scripts/build-package.mjs', '--no-types']);
  run(['--import', 'tsx', 'fixtures/emulator/build.ts']);
  const before = process.env.TMPDIR;
  const runTemp = mkdtempSync(join(tmpdir(), 'gen-modules-tests-'));
  process.env.TMPDIR = runTemp;
  return () => {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    rmSync(runTemp, { recursive: true, force: true });
  };
}
