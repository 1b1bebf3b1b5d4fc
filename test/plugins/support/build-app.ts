// Builds a small application (a copy of fixtures/plugin-apps/<name> in a temporary folder) with one
// of the three bundlers and its gen-modules plugin, the way an application's own build would.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../support/paths.js';

export type Bundler = 'esbuild' | 'rollup' | 'vite';
export const BUNDLERS: readonly Bundler[] = ['esbuild', 'rollup', 'vite'];

/** This repository's runtime source, which `gen-modules/runtime` resolves to in the test builds. */
export const runtimeEntry = `${repoRoot}src/runtime/index.ts`;

/** A fresh copy of fixtures/plugin-apps/<name> in a temporary folder (removed with `cleanup`). */
export function copyApp(name: string, into?: string): string {
  const dir = into ?? mkdtempSync(join(tmpdir(), `gen-modules-${name}-`));
  cpSync(`${repoRoot}fixtures/plugin-apps/${name}`, dir, { recursive: true, filter: (src) => !/\/(dist[^/]*|generated)$/.test(src) });
  return dir;
}

export function cleanup(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

export interface BuildAppOptions {
  /** experimentalDecorators instead of standard decorators. */
  legacyDecorators?: boolean;
  /** Leave the decorator mode to each module's tsconfig.json (no tsconfigRaw, no `typescript` plugin option). */
  decoratorsFromTsconfig?: boolean;
  /** Extra plugin options (guard, manifest...). */
  plugin?: Record<string, unknown>;
  /** esbuild only: `define` for __APP_VARIANT__. */
  variant?: string;
  /** Entry file relative to the app (default src/main.ts). */
  entry?: string;
  /** Build into `outdir` as it is, a rebuild (default: emptied first). */
  keepOutdir?: boolean;
  /** esbuild only: more build options (sourcemap, write...) and plugins listed before gen-modules'. */
  esbuild?: Partial<import('esbuild').BuildOptions> & { pluginsBefore?: import('esbuild').Plugin[] };
  /** esbuild only: receives the build result (outputFiles under write: false). */
  onEsbuildResult?: (result: import('esbuild').BuildResult) => void;
  /** rollup only: the output format (default 'es'). */
  rollupFormat?: 'es' | 'cjs';
  /** The file `gen-modules/runtime` resolves to (default: this repository's src/runtime/index.ts). */
  runtime?: string;
  /** rollup only: more output options. */
  rollupOutput?: import('rollup').OutputOptions;
  /** Vite only: more `build` options (sourcemap, write...) and plugins listed before gen-modules'. */
  vite?: { build?: Record<string, unknown>; pluginsBefore?: import('vite').PluginOption[]; withPlugin?: (plugin: import('vite').Plugin) => void };
  /** Vite only: receives the build's result (the chunks under write: false). */
  onViteResult?: (result: Awaited<ReturnType<typeof import('vite').build>>) => void;
}

/** What every esbuild build of an app here sets: entry `main`, `.mjs` outputs, ES modules for Node. */
export function esbuildBaseOptions(app: string, outdir: string, entry = join(app, 'src/main.ts'), runtime = runtimeEntry) {
  return {
    absWorkingDir: app,
    entryPoints: { main: entry },
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    alias: { 'gen-modules/runtime': runtime },
  } as const;
}

/**
 * Builds `app` into `outdir` (entry `main.mjs`, chunks `*-HASH.mjs`) and returns the warnings (esbuild,
 * rollup). Rejects with the bundler's error.
 */
export async function buildApp(bundler: Bundler, app: string, outdir: string, options: BuildAppOptions = {}): Promise<string[]> {
  if (!options.keepOutdir) rmSync(outdir, { recursive: true, force: true });
  const entry = join(app, options.entry ?? 'src/main.ts');
  const legacy = options.legacyDecorators ?? false;
  if (bundler === 'esbuild') {
    const { build } = await import('esbuild');
    const { default: genModules } = await import('gen-modules/esbuild');
    const { pluginsBefore = [], ...esbuildOptions } = options.esbuild ?? {};
    const result = await build({
      ...esbuildBaseOptions(app, outdir, entry, options.runtime),
      define: { __APP_VARIANT__: JSON.stringify(options.variant ?? 'default') },
      ...(options.decoratorsFromTsconfig ? {} : { tsconfigRaw: { compilerOptions: { experimentalDecorators: legacy } } }),
      logLevel: 'silent',
      plugins: [...pluginsBefore, genModules({ cwd: app, ...options.plugin })],
      ...esbuildOptions,
    });
    options.onEsbuildResult?.(result);
    return result.warnings.map((w) => w.text);
  }
  const alias = {
    name: 'alias-runtime',
    enforce: 'pre' as const,
    resolveId: (source: string) => (source === 'gen-modules/runtime' ? (options.runtime ?? runtimeEntry) : null),
  };
  const output = { dir: outdir, format: 'es' as const, entryFileNames: '[name].mjs', chunkFileNames: '[name]-[hash].mjs' };
  const typescript = options.decoratorsFromTsconfig ? true : { experimentalDecorators: legacy };
  if (bundler === 'rollup') {
    const { rollup } = await import('rollup');
    const { default: genModules } = await import('gen-modules/rollup');
    const warnings: string[] = [];
    const bundle = await rollup({
      input: { main: entry },
      external: [/^node:/],
      plugins: [alias, genModules({ cwd: app, typescript, ...options.plugin })],
      onwarn: (warning) => warnings.push(warning.message),
    });
    try {
      await bundle.write({ ...output, format: options.rollupFormat ?? output.format, ...options.rollupOutput });
    } finally {
      await bundle.close();
    }
    return warnings;
  }
  const { build } = await import('vite');
  const { default: genModules } = await import('gen-modules/vite');
  const plugin = genModules({ cwd: app, typescript, ...options.plugin });
  options.vite?.withPlugin?.(plugin);
  const result = await build({
    configFile: false,
    root: app,
    logLevel: 'silent',
    plugins: [alias, ...(options.vite?.pluginsBefore ?? []), plugin],
    ssr: { noExternal: true },
    build: { ssr: true, outDir: outdir, emptyOutDir: !options.keepOutdir, minify: false, target: 'node20', rollupOptions: { input: { main: entry }, output }, ...options.vite?.build },
  });
  options.onViteResult?.(result);
  return [];
}
