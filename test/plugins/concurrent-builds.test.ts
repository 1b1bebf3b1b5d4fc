// Builds of one project at the same time in one process, as a task runner or Vite's client and SSR
// environments start them: two per bundler, from a copy that has no generated table yet. The
// plugins share state per process (the scan cache's files, the table they regenerate, esbuild's
// pool of entry-link folders, the guard's and the real-path caches, which each build start
// clears); each build must still be whole, and the same sources give the same build id.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/index.js';
import { parseManifest } from '../../src/runtime/manifest.js';
import { runNode } from '../support/run-node.js';
import { BUNDLERS, buildApp, cleanup, copyApp } from './support/build-app.js';

describe('concurrent builds of one project', () => {
  let app: string | undefined;
  beforeAll(() => {
    app = copyApp('basic');
    rmSync(join(app, 'src/generated'), { recursive: true, force: true });
  });
  afterAll(() => cleanup(app));

  it('two builds per bundler at once: every build whole, one build id per bundler, the table as generate writes it', { timeout: 120_000 }, async () => {
    const builds = BUNDLERS.flatMap((bundler) => [1, 2].map((n) => ({ bundler, out: join(app!, `dist-${bundler}-${n}`) })));
    for (let round = 0; round < 2; round++) {
      await Promise.all(builds.map(({ bundler, out }) => buildApp(bundler, app!, out)));
      const manifests = builds.map(({ out }) => parseManifest(readFileSync(join(out, 'gen-modules-manifest.json'), 'utf8')));
      for (const [i, { bundler, out }] of builds.entries()) {
        const manifest = manifests[i]!;
        expect(Object.keys(manifest.drivers).sort(), `${bundler} ${out}`).toEqual(['alpha', 'beta', 'gamma']);
        for (const chunk of Object.keys(manifest.chunks)) expect(existsSync(join(out, chunk)), `${out}/${chunk}`).toBe(true);
      }
      for (const bundler of BUNDLERS) {
        const [a, b] = manifests.filter((_, i) => builds[i]!.bundler === bundler);
        expect(a!.buildId, bundler).toBe(b!.buildId);
      }
    }
    // The table on disk is whole: what one generate run writes, unchanged.
    const table = readFileSync(join(app!, 'src/generated/drivers.gen.ts'), 'utf8');
    const result = await generate({ config: join(app!, 'gen-modules.config.json') });
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(readFileSync(join(app!, 'src/generated/drivers.gen.ts'), 'utf8')).toBe(table);
    // And every build runs: it probes an alpha image and loads alpha's chunk.
    const image = join(app!, 'alpha.img');
    writeFileSync(image, 'ALPHA001 and some data');
    for (const { bundler, out } of builds) {
      const run = await runNode([join(out, 'main.mjs'), 'read', image]);
      expect(run.code, `${bundler}: ${run.stderr}`).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ format: 'alpha' });
    }
  });
});
