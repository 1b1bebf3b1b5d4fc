// The scan cache is keyed by the code that wrote it. An installed package cannot tell its versions
// apart by its files' stamps: npm gives every installed file the same mtime (1985), and a chunk can
// keep its size when the code in it (or the name of a chunk it imports) changes. So the published
// bundle carries a hash of its sources (scripts/build-package.mjs), and a cache written by one
// build is never read by another: it would hand back the tables the old code rendered.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { repoRoot } from '../support/paths.js';
import { writeFiles } from '../support/files.js';

const work = mkdtempSync(join(tmpdir(), 'gm-code-id-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Every file and folder under `dir` dated as npm dates installed files. */
function npmDates(dir: string): void {
  const when = new Date('1985-10-26T08:15:00Z');
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' })) utimesSync(join(dir, entry), when, when);
}

/** Builds the package from `pkg`'s sources (without declarations) and keeps the dist as `name`. */
function buildAs(pkg: string, name: string): string {
  const run = spawnSync(process.execPath, [join(pkg, 'scripts/build-package.mjs'), '--no-types'], { encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  const dist = join(pkg, name);
  cpSync(join(pkg, 'dist'), dist, { recursive: true });
  npmDates(dist);
  return dist;
}

function generate(dist: string, project: string) {
  const script = `import(${JSON.stringify(pathToFileURL(join(dist, 'cli.js')).href)}).then(({ main }) => main(['--json'])).then((code) => { process.exitCode = code; });`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: project, encoding: 'utf8', env: { ...process.env, GEN_MODULES_CACHE: '1' } });
  expect(run.status, run.stderr + run.stdout).toBe(0);
  return JSON.parse(run.stdout) as { outcome: string; stats: { read: number; reused: number } };
}

it('a build of changed sources does not read the cache an earlier build wrote, even where the chunk sizes match', () => {
  const pkg = join(work, 'pkg');
  for (const folder of ['src', 'plugin', 'scripts']) cpSync(join(repoRoot, folder), join(pkg, folder), { recursive: true });
  cpSync(join(repoRoot, 'package.json'), join(pkg, 'package.json'));
  symlinkSync(join(repoRoot, 'node_modules'), join(pkg, 'node_modules'));
  const before = buildAs(pkg, 'dist-before');
  // One character of a comment in the generated table: the same size everywhere.
  const emitter = join(pkg, 'src/codegen/emit-table.ts');
  const changed = readFileSync(emitter, 'utf8').replace('whatever its build state.', 'whatever its build state!');
  expect(changed).toContain('whatever its build state!');
  writeFileSync(emitter, changed);
  const after = buildAs(pkg, 'dist-after');
  const sizes = (dist: string) => readdirSync(join(dist, 'chunks')).map((f) => statSync(join(dist, 'chunks', f)).size).sort();
  expect(sizes(after), 'the two builds have chunks of the same sizes').toEqual(sizes(before));

  const project = join(work, 'project');
  writeFiles(project, {
    'gen-modules.config.json': JSON.stringify({ drivers: ['src/drivers/*.ts'], out: 'src/generated/drivers.gen.ts' }),
    'src/drivers/raw.ts': `import { blockDriver } from 'gen-modules/runtime';\n@blockDriver({ format: 'raw' }) export class Raw {}\n`,
  });
  mkdirSync(join(project, 'node_modules'));
  // Older than the two seconds within which the cache does not trust an mtime.
  const past = new Date(Date.now() - 60_000);
  for (const entry of ['gen-modules.config.json', 'src/drivers/raw.ts', 'src/drivers', 'src']) utimesSync(join(project, entry), past, past);

  expect(generate(before, project).outcome).toBe('written');
  expect(generate(before, project).stats, 'the first build reads its own cache').toMatchObject({ read: 0 });
  const second = generate(after, project);
  expect(second.stats.read, 'the second build scans the sources itself').toBeGreaterThan(0);
  expect(second.outcome).toBe('written');
  expect(readFileSync(join(project, 'src/generated/drivers.gen.ts'), 'utf8')).toContain('declared in the sources, whatever its build state!');
});
