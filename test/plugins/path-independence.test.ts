// Same inputs, same bytes, wherever the project lives: one project built in two folders of
// different depths gives the same output files, byte for byte, and the same manifest (chunk names,
// sizes, integrity values, build id), with each bundler. The runtime is copied into the project,
// as an installed package would be. Vite runs with the project as the working directory, as
// `vite build` does: rolldown names modules in its output's comments relative to it.
import { cpSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/paths.js';
import { BUNDLERS, buildApp, cleanup } from './support/build-app.js';

const roots: string[] = [];

/** The basic app with a copy of the runtime inside it, at `depth` folders below a new temporary folder. */
function placeApp(depth: number): { app: string; runtime: string } {
  const root = mkdtempSync(join(tmpdir(), 'gen-modules-place-'));
  roots.push(root);
  const app = join(root, ...Array.from({ length: depth }, (_, i) => `level${i}`), 'app');
  cpSync(join(repoRoot, 'fixtures/plugin-apps/basic'), app, { recursive: true });
  cpSync(join(repoRoot, 'src/runtime'), join(app, 'vendor/gen-modules/runtime'), { recursive: true });
  cpSync(join(repoRoot, 'src/model.ts'), join(app, 'vendor/gen-modules/model.ts'));
  return { app, runtime: join(app, 'vendor/gen-modules/runtime/index.ts') };
}

const filesOf = (dir: string) =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split('\\').join('/'))
    .sort();

describe('the same project in two folders', () => {
  afterAll(() => roots.forEach((root) => cleanup(root)));

  it.each(BUNDLERS)('%s: the same output files, byte for byte, and the same manifest', async (bundler) => {
    const outputs: string[] = [];
    for (const depth of [0, 3]) {
      const { app, runtime } = placeApp(depth);
      const out = join(app, 'dist');
      const cwd = process.cwd();
      if (bundler === 'vite') process.chdir(app);
      try {
        await buildApp(bundler, app, out, { runtime });
      } finally {
        process.chdir(cwd);
      }
      outputs.push(out);
    }
    const [first, second] = outputs as [string, string];
    expect(filesOf(second)).toEqual(filesOf(first));
    expect(filesOf(first)).toContain('gen-modules-manifest.json');
    for (const file of filesOf(first)) expect(readFileSync(join(second, file), 'utf8'), file).toBe(readFileSync(join(first, file), 'utf8'));
  });
});
