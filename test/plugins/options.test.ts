// Plugin options are typed and validated (unknown keys rejected with a suggestion), and scanner
// diagnostics surface as each bundler's own errors, with locations.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import genEsbuild from '../../plugin/esbuild.js';
import genRollup from '../../plugin/rollup.js';
import genVite from '../../plugin/vite.js';
import { BUNDLERS, buildApp, cleanup, copyApp, type BuildAppOptions } from './support/build-app.js';

const factories = { esbuild: genEsbuild, rollup: genRollup, vite: genVite } as const;

describe('plugin options', () => {
  it.each(BUNDLERS)('%s: an unknown key is rejected with a suggestion', (bundler) => {
    const make = factories[bundler] as (options?: unknown) => unknown;
    expect(() => make({ manifets: 'm.json' })).toThrow(`gen-modules/${bundler}: unknown option 'manifets'; did you mean 'manifest'?`);
    expect(() => make({ guard: 'loud' })).toThrow(`option 'guard' must be "error", "warn" or "off"`);
    expect(() => make({ manifest: 'sub/m.json' })).toThrow(`option 'manifest' must be a file name`);
    expect(() => make('config.json')).toThrow('options must be an object');
    expect(() => make({ config: 'gen-modules.config.json', guard: 'warn', manifest: 'm.json' })).not.toThrow();
  });

  // The runtime imports lazy chunks with import(), and the build id statement is an export.
  it.each(BUNDLERS)('%s: an output format other than ES modules fails the build, naming the option', async (bundler) => {
    const app = copyApp('guard');
    try {
      const out = join(app, 'dist');
      const cjs = {
        esbuild: { esbuild: { format: 'cjs' as const } },
        rollup: { rollupFormat: 'cjs' as const },
        vite: { vite: { build: { rollupOptions: { input: { main: join(app, 'src/main.ts') }, output: { format: 'cjs' as const } } } } },
      }[bundler];
      const error = await buildApp(bundler, app, out, cjs).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error, 'the build must fail').toBeDefined();
      expect(error!.message).toMatch(bundler === 'esbuild' ? /gen-modules\/esbuild: lazy chunks need code splitting, which esbuild supports only with format: 'esm' \(got 'cjs'\)/ : new RegExp(`gen-modules/${bundler}: lazy chunks are loaded with import\\(\\), so they must be ES modules: output.format must be 'es' \\(got 'cjs'\\)`));
    } finally {
      cleanup(app);
    }
  });

  it('esbuild: options that rule out lazy chunks (splitting: false, outfile) fail the build, naming the option', async () => {
    const app = copyApp('guard');
    try {
      const failure = (esbuild: BuildAppOptions['esbuild']) =>
        buildApp('esbuild', app, join(app, 'dist'), { esbuild }).then(
          () => 'built',
          (e: unknown) => (e as Error).message,
        );
      expect(await failure({ splitting: false })).toMatch(/gen-modules\/esbuild: lazy chunks need code splitting, and this build sets 'splitting: false'/);
      expect(await failure({ outdir: undefined, outfile: join(app, 'dist/main.mjs') })).toMatch(/gen-modules\/esbuild: lazy chunks need code splitting, which needs 'outdir' \(not 'outfile'\)/);
    } finally {
      cleanup(app);
    }
  });

  it('typescript: rollup and Vite take it (nested keys checked too); esbuild refuses it', () => {
    expect(() => genRollup({ typescript: { experimentalDecorators: true, target: 'es2022' } })).not.toThrow();
    expect(() => genVite({ typescript: { experimentalDecorator: true } as never })).toThrow(
      `unknown option 'typescript.experimentalDecorator'; did you mean 'typescript.experimentalDecorators'?`,
    );
    expect(() => genEsbuild({ typescript: true })).toThrow(`option 'typescript' is for rollup and Vite`);
  });
});

describe('scanner diagnostics as bundler errors', () => {
  let app: string | undefined;
  beforeAll(() => {
    app = copyApp('basic');
    // Line 4 has the misspelt option key.
    writeFileSync(
      join(app, 'src/drivers/omega.ts'),
      [
        `import { blockDriver } from 'gen-modules/runtime';`,
        ``,
        `@blockDriver({ format: 'omega',`,
        `  prob: { score: 100, match: [{ at: 0, bytes: 'OMEGA' }] } })`,
        `export class OmegaDriver {}`,
        ``,
      ].join('\n'),
    );
  });
  afterAll(() => cleanup(app));

  it.each(BUNDLERS)('%s: GM1004 with file, line and column', async (bundler) => {
    const error = (await buildApp(bundler, app!, join(app!, `dist-${bundler}`)).then(
      () => undefined,
      (e: unknown) => e,
    )) as (Error & { errors?: { text: string; location?: { file: string; line: number; column: number } }[]; loc?: { file: string; line: number; column: number }; id?: string }) | undefined;
    expect(error, 'the build must fail').toBeDefined();
    expect(error!.message).toContain(`GM1004: unknown option 'prob' in @blockDriver(...); did you mean 'probe'?`);
    if (bundler === 'esbuild') {
      // (A fresh copy has no table yet, so esbuild also reports the table's import as unresolved.)
      const ours = error!.errors!.find((e) => e.text.startsWith('GM1004'));
      expect(ours?.location).toMatchObject({ file: 'src/drivers/omega.ts', line: 4, column: 2 });
    } else if (bundler === 'rollup') {
      expect(error!.loc).toEqual({ file: join(app!, 'src/drivers/omega.ts'), line: 4, column: 2 });
      expect(error!.id).toBe(join(app!, 'src/drivers/omega.ts'));
    } else {
      expect(error!.message).toContain(`src/drivers/omega.ts:4:3: GM1004`);
    }
  });
});
