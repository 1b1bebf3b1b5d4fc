// Which decorator mode a module is compiled in comes from the tsconfig.json nearest it, as in
// TypeScript and Vite: here the project's config (comments, `extends`) asks
// for experimentalDecorators and a folder of drivers has its own plain config that does not; a
// second layout has a "solution" tsconfig.json whose referenced config names the mode. In
// Vite the plugin leaves legacy decorators to Vite's own transform (Oxc, which lowers them with its
// `__decorate` helper) and compiles only the standard ones (esbuild's `__decorateElement`); rollup
// gets both from the plugin, esbuild from itself. Also: importing a plugin loads no compiler.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/runtime/manifest.js';
import { repoRoot } from '../support/paths.js';
import { noteCompilerReads } from '../support/compiler-reads.js';
import { runNode } from '../support/run-node.js';
import { BUNDLERS, buildApp, cleanup } from './support/build-app.js';
import { clearTransformSettings, transformSettings } from '../../plugin/tsconfig.js';
import { createCore } from '../../plugin/rollup-core.js';
import { typescriptTransform } from '../../plugin/typescript-transform.js';
import { registryFromManifest } from '../support/app-main.js';
import { writeFiles } from '../support/files.js';

// A second decorator on each driver records the call it got: standard decorators receive a
// context object, legacy ones only the class.
const files: Record<string, string> = {
  'gen-modules.config.json': JSON.stringify({ drivers: ['src/drivers/**/*.ts'], out: 'src/generated/drivers.gen.ts' }),
  'tsconfig.base.json': JSON.stringify({ compilerOptions: { target: 'ES2022', experimentalDecorators: true } }),
  'tsconfig.json': `// The project's settings.\n{\n  "extends": "./tsconfig.base.json",\n  "compilerOptions": { "strict": true, },\n}\n`,
  'src/drivers/modern/tsconfig.json': JSON.stringify({ compilerOptions: { target: 'ES2022', experimentalDecorators: false } }),
  'src/shared/mode.ts': `export function mode(target: any, context?: { kind: string }): void {\n  target.mode = context ? 'standard' : 'legacy';\n}\n`,
  'src/drivers/old.ts': `import { blockDriver } from 'gen-modules/runtime';\nimport { mode } from '../shared/mode.js';\n@blockDriver({ format: 'old' })\n@mode\nexport class OldDriver {}\n`,
  'src/drivers/modern/new.ts': `import { blockDriver } from 'gen-modules/runtime';\nimport { mode } from '../../shared/mode.js';\n@blockDriver({ format: 'new' })\n@mode\nexport class NewDriver {}\n`,
  'src/main.ts': [
    ...registryFromManifest,
    `const modeOf = async (name: string) => ((await registry.load(name)) as unknown as { mode: string }).mode;`,
    `process.stdout.write(JSON.stringify({ old: await modeOf('old'), new: await modeOf('new') }) + '\\n');`,
    ``,
  ].join('\n'),
};

// Vite's project templates: tsconfig.json only references the configs that hold the settings.
const solution: Record<string, string> = {
  'tsconfig.json': JSON.stringify({ files: [], references: [{ path: './tsconfig.app.json' }, { path: './tools' }] }),
  'tsconfig.app.json': `{\n  // The application.\n  "compilerOptions": { "target": "ES2022", "experimentalDecorators": true },\n  "include": ["src"]\n}\n`,
  'tools/tsconfig.json': JSON.stringify({ compilerOptions: { experimentalDecorators: false }, include: ['.'] }),
  'tools/task.ts': `export const task = 1;\n`,
};

function writeApp(layout: 'nested' | 'solution' = 'nested'): string {
  const dir = mkdtempSync(join(tmpdir(), 'gen-modules-decorator-modes-'));
  const all: Record<string, string> = { ...files };
  if (layout === 'solution') {
    delete all['tsconfig.base.json'];
    Object.assign(all, solution);
  }
  writeFiles(dir, all);
  return dir;
}

const allCode = (out: string) =>
  readdirSync(out, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.mjs'))
    .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'))
    .join('\n');

describe('decorator mode per module, from its nearest tsconfig.json', () => {
  let app: string | undefined;
  beforeAll(() => {
    app = writeApp();
  });
  afterAll(() => cleanup(app));

  it('reads the nearest config (comments, `extends`), or the referenced config that holds the module', () => {
    // useDefineForClassFields: what target ES2022 implies, as in TypeScript.
    const es2022 = { target: 'es2022', useDefineForClassFields: true };
    expect(transformSettings(join(app!, 'src/drivers/old.ts'))).toEqual({ experimentalDecorators: true, ...es2022 });
    expect(transformSettings(join(app!, 'src/drivers/modern/new.ts'))).toEqual({ experimentalDecorators: false, ...es2022 });
    const other = writeApp('solution');
    try {
      expect(transformSettings(join(other, 'src/drivers/old.ts'))).toEqual({ experimentalDecorators: true, ...es2022 });
      expect(transformSettings(join(other, 'tools/task.ts'))).toEqual({ experimentalDecorators: false });
      // `extends` across folders; an explicit setting wins over what the target implies.
      writeFileSync(join(other, 'tools/tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2020' }, include: ['.'] }));
      writeFileSync(join(other, 'tsconfig.app.json'), `{ "extends": "./tools/tsconfig.json", "compilerOptions": { "useDefineForClassFields": true, "verbatimModuleSyntax": true }, "include": ["src"] }`);
      clearTransformSettings();
      expect(transformSettings(join(other, 'tools/task.ts'))).toEqual({ target: 'es2020' });
      expect(transformSettings(join(other, 'src/drivers/old.ts'))).toEqual({ target: 'es2020', useDefineForClassFields: true, verbatimModuleSyntax: true });
      // In no referenced config: the solution config's own settings (none).
      writeFileSync(join(other, 'loose.ts'), 'export {};\n');
      expect(transformSettings(join(other, 'loose.ts'))).toEqual({});
    } finally {
      cleanup(other);
    }
  });

  it('compiles class fields as the module\'s target implies: [[Set]] before ES2022, [[Define]] from it', async () => {
    const other = writeApp('solution');
    try {
      writeFileSync(join(other, 'tools/tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2020' }, include: ['.'] }));
      const { compile } = typescriptTransform('all', {});
      const code = 'export class Point {\n  x = 1;\n}\n';
      const old = await compile(code, join(other, 'tools/point.ts'));
      const current = await compile(code, join(other, 'src/point.ts'));
      expect(old?.code).toMatch(/this\.x = 1/);
      expect(current?.code).not.toMatch(/this\.x = 1/);
      expect(current?.code).toMatch(/^\s*x = 1;/m);
    } finally {
      cleanup(other);
    }
  });

  it.each(BUNDLERS)('%s: each driver runs in the mode its tsconfig.json names', async (bundler) => {
    const out = join(app!, `dist-${bundler}`);
    await buildApp(bundler, app!, out, { decoratorsFromTsconfig: true });
    const run = await runNode([join(out, 'main.mjs')]);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ old: 'legacy', new: 'standard' });
    const manifest = parseManifest(readFileSync(join(out, 'gen-modules-manifest.json'), 'utf8'));
    expect(Object.keys(manifest.drivers).sort()).toEqual(['new', 'old']);
    const code = allCode(out);
    expect(code).toMatch(/__decorateElement|__runInitializers/);
    if (bundler === 'vite') {
      // The legacy module went through Vite's own transform only.
      expect(code).toMatch(/\b__decorate\(/);
      expect(code).not.toMatch(/__decorateClass/);
    } else {
      expect(code).toMatch(/__decorateClass/);
    }
  });

  // esbuild reads the nearest tsconfig.json and its `extends` but not `references`, so only the
  // plugins that compile TypeScript themselves are checked here.
  it.each(['rollup', 'vite'] as const)('%s: a solution tsconfig.json: each module in the mode of the referenced config that holds it', async (bundler) => {
    const other = writeApp('solution');
    try {
      const out = join(other, `dist-${bundler}`);
      await buildApp(bundler, other, out, { decoratorsFromTsconfig: true });
      const run = await runNode([join(out, 'main.mjs')]);
      expect(run.stderr).toBe('');
      expect(JSON.parse(run.stdout)).toEqual({ old: 'legacy', new: 'standard' });
      expect(allCode(out)).toMatch(bundler === 'vite' ? /\b__decorate\(/ : /__decorateClass/);
    } finally {
      cleanup(other);
    }
  });

  it('vite: modules in a folder whose tsconfig.json names legacy decorators never reach the plugin\'s transform hook', async () => {
    const out = join(app!, 'dist-vite-filter');
    const transformed: string[] = [];
    const count = (plugin: import('vite').Plugin) => {
      const hook = plugin.transform as { handler: (...args: unknown[]) => unknown };
      const handler = hook.handler;
      hook.handler = function (this: unknown, code: unknown, id: unknown) {
        transformed.push(String(id));
        return handler.call(this, code, id);
      };
    };
    await buildApp('vite', app!, out, { decoratorsFromTsconfig: true, vite: { withPlugin: count } });
    expect(JSON.parse((await runNode([join(out, 'main.mjs')])).stdout)).toEqual({ old: 'legacy', new: 'standard' });
    // The standard-decorator driver is compiled by the plugin; the legacy one is left to Vite
    // without a call (its folder is kept out of the hook's filter before the bundler starts).
    expect(transformed.some((id) => id.endsWith('/src/drivers/modern/new.ts'))).toBe(true);
    expect(transformed.filter((id) => id.includes('/src/drivers/') && !id.includes('/modern/'))).toEqual([]);
    // A watched build keeps every decorated module in the filter: a tsconfig.json may change between rebuilds.
    transformed.length = 0;
    let watcher: { on(event: 'event', listener: (e: { code: string; error?: unknown }) => void): void; close(): Promise<void> } | undefined;
    await buildApp('vite', app!, out, { decoratorsFromTsconfig: true, vite: { withPlugin: count, build: { watch: {} } }, onViteResult: (result) => (watcher = result as unknown as typeof watcher) });
    try {
      await new Promise<void>((done, fail) =>
        watcher!.on('event', (e) => {
          if (e.code === 'END') done();
          if (e.code === 'ERROR') fail(e.error);
        }),
      );
    } finally {
      await watcher!.close();
    }
    expect(transformed.some((id) => id.endsWith('/src/drivers/old.ts'))).toBe(true);
    // The same plugin used again for a watched build (or the dev server) drops what an earlier build kept out.
    const core = createCore({ bundler: 'vite', options: { cwd: app! }, transform: 'decorated', resolveTs: false, manifestVia: 'write', chunksOnDisk: true });
    const oldId = join(app!, 'src/drivers/old.ts').split(sep).join('/');
    const excludesOld = () => (core.hooks.transform as { filter: { id: { exclude: RegExp[] } } }).filter.id.exclude.some((pattern) => pattern.test(oldId));
    await core.beforeBundlerStarts(true);
    expect(excludesOld()).toBe(true);
    await core.beforeBundlerStarts(false);
    expect(excludesOld()).toBe(false);
  });

  it('vite: the plugin option overrides the tsconfig.json (standard decorators everywhere, compiled by the plugin)', async () => {
    const out = join(app!, 'dist-vite-standard');
    await buildApp('vite', app!, out, { legacyDecorators: false });
    const run = await runNode([join(out, 'main.mjs')]);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ old: 'standard', new: 'standard' });
    expect(allCode(out)).not.toMatch(/\b__decorate\(|__decorateClass/);
  });
});

// The config has a comment and an `extends`: reading it must not need the compiler either (it did,
// once per process: 0.24 s before every Vite build whose modules use decorators).
it('a Vite build whose scan cache answers loads no TypeScript compiler to read the tsconfig.json', async () => {
  const app = writeApp();
  try {
    // The scan cache lives in the application's node_modules/.cache and keeps nothing changed in the last two seconds (a folder changes when the
    // build adds the generated table to it).
    const backdate = () => {
      const past = new Date(Date.now() - 60_000);
      for (const file of ['.', ...readdirSync(app, { recursive: true, encoding: 'utf8' })]) utimesSync(join(app, file), past, past);
    };
    mkdirSync(join(app, 'node_modules'));
    backdate();
    const script = [
      ...noteCompilerReads,
      `const { build } = await import('vite');`,
      `const { default: genModules } = await import(${JSON.stringify(`${repoRoot}dist/vite.js`)});`,
      `const app = ${JSON.stringify(app)};`,
      `await build({ configFile: false, root: app, logLevel: 'silent', resolve: { alias: { 'gen-modules/runtime': ${JSON.stringify(`${repoRoot}src/runtime/index.ts`)} } },`,
      `  plugins: [genModules({ cwd: app })], ssr: { noExternal: true },`,
      `  build: { ssr: true, outDir: app + '/dist-cached', emptyOutDir: true, minify: false, target: 'node20', rollupOptions: { input: { main: app + '/src/main.ts' }, output: { entryFileNames: '[name].mjs', chunkFileNames: '[name]-[hash].mjs' } } } });`,
      `process.stdout.write(JSON.stringify({ compiler }));`,
    ].join('\n');
    const build = async () => {
      const run = await runNode(['--input-type=module', '-e', script], { cwd: repoRoot });
      expect(run.stderr).toBe('');
      return JSON.parse(run.stdout) as { compiler: boolean };
    };
    // The first build scans (with the compiler) and writes the table; once that is old enough to
    // be kept, a build fills the cache, and the next one is answered by it.
    expect(await build()).toEqual({ compiler: true });
    backdate();
    await build();
    expect(await build()).toEqual({ compiler: false });
    const run = await runNode([join(app, 'dist-cached/main.mjs')]);
    expect(JSON.parse(run.stdout)).toEqual({ old: 'legacy', new: 'standard' });
  } finally {
    cleanup(app);
  }
});

it('importing gen-modules/esbuild, /rollup and /vite loads neither ts-morph nor the TypeScript compiler', async () => {
  const script = [
    `import { createRequire } from 'node:module';`,
    `for (const entry of ['esbuild', 'rollup', 'vite']) await import(${JSON.stringify(`${repoRoot}dist/`)} + entry + '.js');`,
    `const loaded = Object.keys(createRequire(import.meta.url).cache).filter((f) => /[\\\\/](ts-morph|@ts-morph|typescript)[\\\\/]/.test(f));`,
    `process.stdout.write(JSON.stringify(loaded));`,
  ].join('\n');
  const run = await runNode(['--input-type=module', '-e', script]);
  expect(run.stderr).toBe('');
  expect(JSON.parse(run.stdout)).toEqual([]);
});
