// Which decorator mode a module is compiled in comes from the tsconfig.json nearest it, as in
// TypeScript and Vite: here the project's config (comments, `extends`: read by the compiler) asks
// for experimentalDecorators and a folder of drivers has its own plain config that does not; a
// second layout has a "solution" tsconfig.json whose referenced config names the mode. In
// Vite the plugin leaves legacy decorators to Vite's own transform (Oxc, which lowers them with its
// `__decorate` helper) and compiles only the standard ones (esbuild's `__decorateElement`); rollup
// gets both from the plugin, esbuild from itself. Also: importing a plugin loads no compiler.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/runtime/manifest.js';
import { repoRoot } from '../support/paths.js';
import { runNode } from '../support/run-node.js';
import { BUNDLERS, buildApp, cleanup } from './support/build-app.js';
import { transformSettings } from '../../plugin/tsconfig.js';

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
    `import { readFileSync } from 'node:fs';`,
    `import { createDriverRegistry, parseManifest } from 'gen-modules/runtime';`,
    `import { driverTable } from './generated/drivers.gen.js';`,
    `const manifest = parseManifest(readFileSync(new URL('./gen-modules-manifest.json', import.meta.url), 'utf8'));`,
    `const registry = createDriverRegistry(driverTable, { manifest, baseUrl: new URL('./', import.meta.url).href });`,
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
  for (const [file, text] of Object.entries(all)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
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

  it('reads the nearest config (through the compiler when it has comments or `extends`), or the referenced config that holds the module', () => {
    expect(transformSettings(join(app!, 'src/drivers/old.ts'))).toEqual({ experimentalDecorators: true });
    expect(transformSettings(join(app!, 'src/drivers/modern/new.ts'))).toEqual({ experimentalDecorators: false });
    const other = writeApp('solution');
    try {
      expect(transformSettings(join(other, 'src/drivers/old.ts'))).toEqual({ experimentalDecorators: true });
      expect(transformSettings(join(other, 'tools/task.ts'))).toEqual({ experimentalDecorators: false });
      // In no referenced config: the solution config's own settings (none).
      writeFileSync(join(other, 'loose.ts'), 'export {};\n');
      expect(transformSettings(join(other, 'loose.ts'))).toEqual({});
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

  it('vite: the plugin option overrides the tsconfig.json (standard decorators everywhere, compiled by the plugin)', async () => {
    const out = join(app!, 'dist-vite-standard');
    await buildApp('vite', app!, out, { legacyDecorators: false });
    const run = await runNode([join(out, 'main.mjs')]);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ old: 'standard', new: 'standard' });
    expect(allCode(out)).not.toMatch(/\b__decorate\(|__decorateClass/);
  });
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
