// The laziness guard, in all three bundlers: fixtures/plugin-apps/guard imports the module driver
// alpha statically (src/main.ts:3 -> src/core/boot.ts:5 -> src/drivers/alpha.ts), which every
// bundler would otherwise bundle eagerly without a word (esbuild, rollup) or with a vague warning
// (Vite). The build fails with the import chain, each step as file:line.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { context, type BuildOptions } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import genEsbuild from '../../plugin/esbuild.js';
import type { BuildManifest } from '../../src/runtime/manifest.js';
import { repoRoot, tsxLoader } from '../support/paths.js';
import { runNode } from '../support/run-node.js';
import { BUNDLERS, buildApp, cleanup, copyApp, esbuildBaseOptions } from './support/build-app.js';

const fromRepo = createRequire(repoRoot);

describe('laziness guard', () => {
  let app: string | undefined;
  beforeAll(() => {
    app = copyApp('guard');
  });
  afterAll(() => cleanup(app));

  it.each(BUNDLERS)('%s: a static import of a module driver fails the build with the chain as file:line', async (bundler) => {
    const error = (await buildApp(bundler, app!, join(app!, `dist-${bundler}`)).then(
      () => undefined,
      (e: unknown) => e,
    )) as (Error & { errors?: { location?: { file: string; line: number; lineText?: string }; frame?: string }[]; loc?: { file: string; line: number }; frame?: string }) | undefined;
    expect(error, 'the build must fail').toBeDefined();
    const message = error!.message;
    expect(message).toContain(`module driver 'alpha' (src/drivers/alpha.ts) is reachable from an entry through static imports`);
    const chain = message.split('\n').filter((l) => /^\s+src\//.test(l));
    expect(chain).toEqual([`  src/main.ts:3: import "./core/boot.js" (src/core/boot.ts)`, `  src/core/boot.ts:5: import "../drivers/alpha.js"`]);
    // `import type` of beta is erased: not a violation.
    expect(message).not.toContain(`'beta'`);
    // The error's own location is the last step (esbuild: errors[].location, rollup: loc).
    if (bundler === 'esbuild') expect(error!.errors?.[0]?.location).toMatchObject({ file: 'src/core/boot.ts', line: 5 });
    if (bundler === 'rollup') expect(error!.loc).toMatchObject({ file: join(app!, 'src/core/boot.ts'), line: 5 });
    if (bundler === 'vite') expect(message).toContain(`${join(app!, 'src/core/boot.ts')}:5:`);
    // And its source line (esbuild: location.lineText, rollup: frame, Vite: its errors' frame).
    const frames = { esbuild: error!.errors?.[0]?.location?.lineText, rollup: error!.frame, vite: error!.errors?.[0]?.frame };
    expect(frames[bundler]).toBe(`import { AlphaDriver } from '../drivers/alpha.js';`);
  });

  // rollup and Vite check before they write; esbuild has written everything by the time the
  // plugin's check runs, and the plugin deletes it. What the folder held before stays.
  it.each(BUNDLERS)('%s: a build the guard fails leaves no output of its own', async (bundler) => {
    const out = join(app!, `dist-failed-${bundler}`);
    mkdirSync(join(out, 'drivers'), { recursive: true });
    writeFileSync(join(out, 'keep.txt'), 'not the build\n');
    writeFileSync(join(out, 'drivers/notes.txt'), 'not the build either\n');
    const error = await buildApp(bundler, app!, out, { keepOutdir: true }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toContain(`module driver 'alpha' (src/drivers/alpha.ts) is reachable`);
    expect(readdirSync(out, { recursive: true, encoding: 'utf8' }).sort()).toEqual(['drivers', 'drivers/notes.txt', 'keep.txt']);
  });

  it('esbuild: a failed build removes the folders its outputs leave empty, not the output folder', async () => {
    const out = join(app!, 'dist-failed-folders');
    const error = await buildApp('esbuild', app!, out).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toContain(`module driver 'alpha' (src/drivers/alpha.ts) is reachable`);
    expect(readdirSync(out, { recursive: true, encoding: 'utf8' })).toEqual([]);
  });

  // Bundlers that follow symlinks (esbuild's metafile, Vite) name modules by their real paths.
  it.each(BUNDLERS)('%s: the same through a symlinked project folder', async (bundler) => {
    const links = mkdtempSync(join(tmpdir(), 'gen-modules-guard-link-'));
    try {
      symlinkSync(app!, join(links, 'app'), 'dir');
      const linked = join(links, 'app');
      const error = await buildApp(bundler, linked, join(linked, `dist-link-${bundler}`)).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error, 'the build must fail').toBeDefined();
      expect(error!.message).toContain(`module driver 'alpha' (src/drivers/alpha.ts) is reachable from an entry through static imports`);
      expect(error!.message).toContain(`src/core/boot.ts:5: import "../drivers/alpha.js"`);
      // Nothing of the failed build is left, its folders included (esbuild names the outputs by real paths).
      const out = join(linked, `dist-link-${bundler}`);
      expect(existsSync(out) ? readdirSync(out, { recursive: true, encoding: 'utf8' }) : []).toEqual([]);
    } finally {
      cleanup(links);
    }
  });

  // A driver file that is itself a link (here to a file in another folder): the bundlers name its
  // module by the real path, the scanner by the link. Both the guard and the lazy chunk must see
  // one module.
  const withLinkedAlpha = (dir: string) => {
    mkdirSync(join(dir, 'src/impl'));
    renameSync(join(dir, 'src/drivers/alpha.ts'), join(dir, 'src/impl/alpha-real.ts'));
    symlinkSync('../impl/alpha-real.ts', join(dir, 'src/drivers/alpha.ts'), 'file');
    return dir;
  };
  it.each(BUNDLERS)('%s: a driver file that is a symlink: the guard sees a static import of it, and its one module is its lazy chunk', async (bundler) => {
    const dir = withLinkedAlpha(copyApp('guard'));
    try {
      const error = await buildApp(bundler, dir, join(dir, 'dist')).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error, 'the build must fail').toBeDefined();
      expect(error!.message).toContain(`module driver 'alpha' (src/drivers/alpha.ts) is reachable from an entry through static imports`);

      writeFileSync(join(dir, 'src/core/boot.ts'), `export function bootDrivers(): string {\n  return 'none';\n}\n`);
      const out = join(dir, 'dist');
      await buildApp(bundler, dir, out);
      const manifest = JSON.parse(readFileSync(join(out, 'gen-modules-manifest.json'), 'utf8')) as BuildManifest;
      expect(manifest.drivers.alpha?.chunk).toMatch(/^drivers\/alpha-[\w-]+\.mjs$/);
      const chunks = readdirSync(out, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.mjs'));
      const withAlpha = chunks.filter((f) => /\bAlphaDriver\s*=\s*class\b|\bclass AlphaDriver\b/.test(readFileSync(join(out, f), 'utf8')));
      expect(withAlpha).toEqual([manifest.drivers.alpha!.chunk]);
    } finally {
      cleanup(dir);
    }
  });

  // Loading one driver must not load another: a static import between two drivers is caught from
  // the importing driver's lazy chunk (esbuild and rollup would put the imported driver in a chunk
  // both load).
  it.each(BUNDLERS)('%s: a module driver importing another statically fails the build from its lazy chunk', async (bundler) => {
    const dir = copyApp('guard');
    try {
      writeFileSync(join(dir, 'src/core/boot.ts'), `export function bootDrivers(): string {\n  return 'none';\n}\n`);
      const beta = readFileSync(join(dir, 'src/drivers/beta.ts'), 'utf8');
      writeFileSync(join(dir, 'src/drivers/beta.ts'), beta.replace(`import { blockDriver } from 'gen-modules/runtime';\n`, `import { blockDriver } from 'gen-modules/runtime';\nimport { AlphaDriver } from './alpha.js';\nexport const base = AlphaDriver.name;\n`));
      const error = await buildApp(bundler, dir, join(dir, 'dist')).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error, 'the build must fail').toBeDefined();
      expect(error!.message).toContain(`module driver 'alpha' (src/drivers/alpha.ts) is reachable from the lazy chunk of src/drivers/beta.ts through static imports`);
      expect(error!.message).toContain(`src/drivers/beta.ts:2: import "./alpha.js"`);
    } finally {
      cleanup(dir);
    }
  });

  it("guard: 'warn' reports the chain and builds; the driver then has no chunk of its own (what the guard prevents)", async () => {
    const out = join(app!, 'dist-warn');
    const warnings = await buildApp('esbuild', app!, out, { plugin: { guard: 'warn' } });
    expect(warnings.join('\n')).toContain(`src/core/boot.ts:5: import "../drivers/alpha.js"`);
    const manifest = JSON.parse(readFileSync(join(out, 'gen-modules-manifest.json'), 'utf8')) as BuildManifest;
    const entryCode = [...manifest.entries, ...manifest.entryImports].map((f) => readFileSync(join(out, f), 'utf8')).join('\n');
    // esbuild moved alpha's class into code the entry loads eagerly.
    expect(entryCode).toMatch(/\bAlphaDriver\s*=\s*class\b|\bclass AlphaDriver\b/);
  });
});

// esbuild logs what onEnd callbacks return only for a context's builds; a build() has ended when
// they run, and its messages reach only the rejected promise. A script ending in
// `.catch(() => process.exit(1))` (esbuild's own examples) would fail in silence, so the plugin
// prints them itself then, at the build's log level, and leaves a context's to esbuild. (esbuild's
// own process writes to the terminal directly: what this process writes is the plugin's.)
describe("esbuild: the guard's messages are printed once, by build() and by a context", () => {
  let app: string | undefined;
  let written: string[] = [];
  beforeAll(() => {
    app = copyApp('guard');
  });
  afterAll(() => cleanup(app));
  afterEach(() => vi.restoreAllMocks());
  const capture = () => {
    written = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
  };
  const chainStep = `src/core/boot.ts:5: import "../drivers/alpha.js"`;

  it('build(): the error, with its place and code frame, unless the log level is silent', async () => {
    const fail = (logLevel: BuildOptions['logLevel']) => buildApp('esbuild', app!, join(app!, 'dist-printed'), { esbuild: { logLevel, color: false } }).then(() => 'built', (e: unknown) => (e as Error).message);
    capture();
    expect(await fail('error')).toContain(chainStep);
    const printed = written.join('');
    expect(printed).toContain(`✘ [ERROR] gen-modules: module driver 'alpha' (src/drivers/alpha.ts) is reachable from an entry`);
    expect(printed).toContain(chainStep);
    expect(printed).toContain('[plugin gen-modules]');
    expect(printed).toContain(`src/core/boot.ts:5:`);
    expect(printed).toContain(`import { AlphaDriver } from '../drivers/alpha.js';`);
    capture();
    expect(await fail('silent')).toContain(chainStep);
    expect(written.join('')).toBe('');
  });

  it("build() with guard: 'warn': the warning at log level warning, not at error", async () => {
    const warn = (logLevel: BuildOptions['logLevel']) => buildApp('esbuild', app!, join(app!, 'dist-printed-warn'), { plugin: { guard: 'warn' }, esbuild: { logLevel, color: false } });
    capture();
    expect((await warn('warning')).join('\n')).toContain(chainStep);
    expect(written.join('')).toContain(`▲ [WARNING] gen-modules: module driver 'alpha'`);
    capture();
    await warn('error');
    expect(written.join('')).toBe('');
  });

  // The whole path, as a user's build script runs it (from the app's folder; esbuild and tsx from
  // this repository): its own process, esbuild's logger writing to
  // the same stderr, and the process exiting as soon as the build rejects.
  it("a build script ending in .catch(() => process.exit(1)): the violation on stderr once, exit 1", async () => {
    const script = join(app!, 'build-script.mts');
    writeFileSync(
      script,
      [
        `import esbuild from ${JSON.stringify(pathToFileURL(fromRepo.resolve('esbuild')).href)};`,
        `const { build } = esbuild;`,
        `import genModules from ${JSON.stringify(join(repoRoot, 'plugin/esbuild.ts'))};`,
        `const options = ${JSON.stringify(esbuildBaseOptions(app!, join(app!, 'dist-script')))};`,
        `await build({ ...options, logLevel: 'info', color: false, plugins: [genModules()] }).catch(() => process.exit(1));`,
        `console.log('built');`,
      ].join('\n'),
    );
    const run = await runNode(['--import', tsxLoader, script], { cwd: app! });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.split(`module driver 'alpha' (src/drivers/alpha.ts) is reachable`).length - 1, run.stderr).toBe(1);
    expect(run.stderr).toContain(chainStep);
  });

  it('a context: esbuild logs them; the plugin does not print them again', async () => {
    // At log level error esbuild prints the violation to this test's output itself, once.
    const ctx = await context({ ...esbuildBaseOptions(app!, join(app!, 'dist-printed-context')), logLevel: 'error', color: false, plugins: [genEsbuild({ cwd: app! })] });
    try {
      capture();
      const message = await ctx.rebuild().then(() => 'built', (e: unknown) => (e as Error).message);
      expect(message).toContain(chainStep);
      expect(written.join('')).toBe('');
    } finally {
      vi.restoreAllMocks();
      await ctx.dispose();
    }
  });
});
