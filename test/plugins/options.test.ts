// Plugin options are typed and validated (unknown keys rejected with a suggestion), and scanner
// diagnostics surface as each bundler's own errors, with locations; errors about the project carry
// no stack of ours.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import genEsbuild from '../../plugin/esbuild.js';
import genRollup from '../../plugin/rollup.js';
import genVite from '../../plugin/vite.js';
import { BUNDLERS, buildApp, cleanup, copyApp, type BuildAppOptions, type Bundler } from './support/build-app.js';

const factories = { esbuild: genEsbuild, rollup: genRollup, vite: genVite } as const;

type BuildError = Error & { errors?: { text: string; location: { file: string; line: number; column: number; lineText: string } | null }[]; loc?: { file: string; line: number; column: number }; id?: string };

/** Builds and returns the bundler's error (the test fails if the build succeeds). */
async function buildError(bundler: Bundler, app: string, options: BuildAppOptions = {}): Promise<BuildError> {
  const error = await buildApp(bundler, app, join(app, `dist-${bundler}`), options).then(
    () => undefined,
    (e: unknown) => e as BuildError,
  );
  expect(error, 'the build must fail').toBeDefined();
  return error!;
}

/**
 * An error about the project shows no stack of ours. rollup's and Vite's command lines print a
 * thrown error's stack under its message (rolldown also copies each plugin error's stack into the
 * message of the error it throws); esbuild shows the source line of a thrown error's first frame,
 * with the stack below it. For a problem in the project, those frames would be the plugin's and the
 * bundler's: a screen of noise above the one line that matters.
 */
function expectNoStack(bundler: Bundler, error: BuildError, says: string | RegExp): void {
  if (bundler === 'esbuild') {
    const ours = error.errors!.find((e) => (typeof says === 'string' ? e.text.includes(says) : says.test(e.text)))!;
    expect(ours, String(says)).toBeDefined();
    expect(ours.location === null || !ours.location.file.includes('node_modules'), `placed at ${ours.location?.file}`).toBe(true);
    expect(ours.location?.lineText ?? '').not.toMatch(/^\s+at /m);
  } else {
    // What the command line prints: Vite its error's stack, which starts with its message; rollup
    // the message, then the stack.
    const printed = bundler === 'vite' ? error.message : `${error.message}\n${error.stack ?? ''}`;
    expect(printed).not.toMatch(/^\s+at /m);
  }
}

/** The guard app without its static import of a module driver: it builds as far as the output. */
function lazyGuardApp(): string {
  const app = copyApp('guard');
  writeFileSync(join(app, 'src/core/boot.ts'), 'export const bootDrivers = () => "";\n');
  return app;
}

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
      const cjs = {
        esbuild: { esbuild: { format: 'cjs' as const } },
        rollup: { rollupFormat: 'cjs' as const },
        vite: { vite: { build: { rollupOptions: { input: { main: join(app, 'src/main.ts') }, output: { format: 'cjs' as const } } } } },
      }[bundler];
      const error = await buildError(bundler, app, cjs);
      const says = bundler === 'esbuild' ? /gen-modules\/esbuild: lazy chunks need code splitting, which esbuild supports only with format: 'esm' \(got 'cjs'\)/ : new RegExp(`gen-modules/${bundler}: lazy chunks are loaded with import\\(\\), so they must be ES modules: output.format must be 'es' \\(got 'cjs'\\)`);
      expect(error.message).toMatch(says);
      expectNoStack(bundler, error, says);
    } finally {
      cleanup(app);
    }
  });

  it.each(['rollup', 'vite'] as const)('%s: output options that turn code splitting off fail the build, naming the option', async (bundler) => {
    const app = lazyGuardApp();
    try {
      const off = (output: Record<string, unknown>) =>
        bundler === 'rollup' ? { rollupOutput: output } : { vite: { build: { rollupOptions: { input: { main: join(app, 'src/main.ts') }, output } } } };
      const cases =
        bundler === 'rollup'
          ? [{ inlineDynamicImports: true }]
          : [{ inlineDynamicImports: true }, { codeSplitting: false }];
      for (const output of cases) {
        const error = await buildError(bundler, app, off(output));
        const says = `gen-modules/${bundler}: lazy chunks need code splitting, and this build turns it off with ${bundler === 'vite' ? 'output.codeSplitting: false (or output.inlineDynamicImports)' : 'output.inlineDynamicImports'}`;
        expect(error.message, JSON.stringify(output)).toContain(says);
        expectNoStack(bundler, error, says);
      }
    } finally {
      cleanup(app);
    }
  });

  it('esbuild: options that rule out lazy chunks (splitting: false, no bundling, outfile) fail the build, naming the option', async () => {
    const app = copyApp('guard');
    try {
      const failure = async (esbuild: BuildAppOptions['esbuild'], says: RegExp) => {
        const error = await buildError('esbuild', app, { esbuild });
        expect(error.message).toMatch(says);
        expectNoStack('esbuild', error, says);
      };
      await failure({ splitting: false }, /gen-modules\/esbuild: lazy chunks need code splitting, and this build sets 'splitting: false'/);
      await failure({ bundle: false }, /gen-modules\/esbuild: lazy chunks need bundling: set 'bundle: true'/);
      await failure({ bundle: undefined }, /gen-modules\/esbuild: lazy chunks need bundling: set 'bundle: true'/);
      await failure({ outdir: undefined, outfile: join(app, 'dist/main.mjs') }, /gen-modules\/esbuild: lazy chunks need code splitting, which needs 'outdir' \(not 'outfile'\)/);
    } finally {
      cleanup(app);
    }
  });

  it.each(BUNDLERS)('%s: a config file that does not exist fails the build, naming it', async (bundler) => {
    const app = copyApp('guard');
    try {
      const error = await buildError(bundler, app, { plugin: { config: 'missing.json' } });
      expect(error.message).toContain('config file missing.json does not exist');
      expectNoStack(bundler, error, 'config file missing.json does not exist');
    } finally {
      cleanup(app);
    }
  });

  // esbuild and Vite: the plugin writes the manifest (rollup writes it as an emitted asset itself).
  it.each(['esbuild', 'vite'] as const)('%s: a manifest that cannot be written fails the build, naming it', async (bundler) => {
    const app = lazyGuardApp();
    try {
      const out = join(app, `dist-${bundler}`);
      mkdirSync(join(out, 'gen-modules-manifest.json'), { recursive: true });
      const says = `cannot write ${join(out, 'gen-modules-manifest.json')}: it is a directory`;
      // esbuild's build() does not log what the end of the build reports: the plugin prints it.
      const printed: string[] = [];
      const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (printed.push(String(chunk)), true));
      const error = await buildError(bundler, app, { keepOutdir: true, ...(bundler === 'esbuild' ? { esbuild: { logLevel: 'error', color: false } } : {}) }).finally(() => spy.mockRestore());
      expect(error.message).toContain(says);
      expectNoStack(bundler, error, says);
      if (bundler === 'esbuild') expect(printed.join('')).toContain(`✘ [ERROR] ${says} [plugin gen-modules]`);
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

/** A copy of the basic app with one more driver file, src/drivers/omega.ts, of these lines. */
function appWithOmega(lines: string[]): string {
  const app = copyApp('basic');
  writeFileSync(join(app, 'src/drivers/omega.ts'), [...lines, ''].join('\n'));
  return app;
}

describe('scanner diagnostics as bundler errors', () => {
  let app: string | undefined;
  beforeAll(() => {
    // Line 4 has the misspelt option key.
    app = appWithOmega([
      `import { blockDriver } from 'gen-modules/runtime';`,
      ``,
      `@blockDriver({ format: 'omega',`,
      `  prob: { score: 100, match: [{ at: 0, bytes: 'OMEGA' }] } })`,
      `export class OmegaDriver {}`,
    ]);
  });
  afterAll(() => cleanup(app));

  it.each(BUNDLERS)('%s: GM1004 with file, line and column', async (bundler) => {
    const error = await buildError(bundler, app!);
    expect(error.message).toContain(`GM1004: unknown option 'prob' in @blockDriver(...); did you mean 'probe'?`);
    expectNoStack(bundler, error, 'GM1004');
    if (bundler === 'esbuild') {
      // (A fresh copy has no table yet, so esbuild also reports the table's import as unresolved.)
      const ours = error.errors!.find((e) => e.text.startsWith('GM1004'));
      expect(ours?.location).toMatchObject({ file: 'src/drivers/omega.ts', line: 4, column: 2 });
    } else if (bundler === 'rollup') {
      expect(error.loc).toEqual({ file: join(app!, 'src/drivers/omega.ts'), line: 4, column: 2 });
      expect(error.id).toBe(join(app!, 'src/drivers/omega.ts'));
    } else {
      expect(error.message).toContain(`src/drivers/omega.ts:4:3: GM1004`);
    }
  });
});

// The plugins read a driver file whose decorator takes plain literals without the compiler
// (src/scanner/literal-scan.ts), which does not check the rest of the file's syntax: the bundler
// parses every driver file, and its own error names the file and the line.
describe('a syntax error outside the declaration is the bundler’s to report', () => {
  let app: string | undefined;
  beforeAll(() => {
    // Line 5 has the error.
    app = appWithOmega([
      `import { blockDriver } from 'gen-modules/runtime';`,
      `@blockDriver({ format: 'omega', probe: { score: 100, match: [{ at: 0, bytes: 'OMEGA' }] } })`,
      `export class OmegaDriver {`,
      `  size(): number {`,
      `    return 1 +;`,
      `  }`,
      `}`,
    ]);
  });
  afterAll(() => cleanup(app));

  it.each(BUNDLERS)('%s: the build fails at the file and line', async (bundler) => {
    const error = await buildError(bundler, app!);
    // Not the scanner's GM1001: the plugin did not parse the file.
    expect(`${error.message} ${JSON.stringify(error.errors ?? [])}`).not.toContain('GM1001');
    if (bundler === 'esbuild') {
      expect(error.errors!.map((e) => e.location && `${e.location.file}:${e.location.line}`)).toContain('src/drivers/omega.ts:5');
    } else {
      const text = `${error.message} ${JSON.stringify(error.loc ?? null)} ${error.id ?? ''}`;
      expect(text).toContain('src/drivers/omega.ts');
      expect(text).toMatch(/omega\.ts[^]*?(?::5:|"line":5)/);
    }
  });
});
