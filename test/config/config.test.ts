// Loading and validating gen-modules.config.json and gen-modules.config.ts: defaults, every
// problem reported at once with its place, a TypeScript config without a build step.
import { mkdirSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { repoRoot } from '../support/paths.js';
import { writeFiles } from '../support/files.js';

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'gm-config-'));
  writeFiles(dir, files);
  return dir;
}

async function problems(files: Record<string, string>): Promise<string[]> {
  const dir = project(files);
  try {
    await loadConfig(undefined, dir);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).diagnostics.map((d) => `${d.code} ${d.file}:${d.line}:${d.column} ${d.message}`);
  }
  throw new Error('the config loaded');
}

describe('gen-modules.config.json', () => {
  it('fills in defaults', async () => {
    const dir = project({ 'gen-modules.config.json': JSON.stringify({ drivers: 'src/*.ts', out: 'gen/t.gen.ts' }) });
    const loaded = await loadConfig(undefined, dir);
    expect(loaded.root).toBe(dir);
    expect(loaded.config).toEqual({
      drivers: ['src/*.ts'],
      out: 'gen/t.gen.ts',
      importExtension: '.js',
      states: {},
      defaultState: 'module',
      packages: [],
      registries: {},
      exclude: [],
      probe: { order: [], buffer: 'padded' },
    });
  });

  it('normalises packages and registries', async () => {
    const dir = project({
      'gen-modules.config.json': JSON.stringify({
        drivers: ['src/*.ts'],
        out: 'gen/t.gen.ts',
        packages: ['@acme/a', { name: 'b', drivers: ['lib/*.ts'], rootDir: 'src/', outDir: './dist' }],
        registries: { charDriver: { keys: ['name'], out: 'gen/chardev.gen.ts', states: { pty: 'disabled' } } },
      }),
    });
    const { config } = await loadConfig(undefined, dir);
    expect(config.packages).toEqual([{ name: '@acme/a' }, { name: 'b', drivers: ['lib/*.ts'], rootDir: 'src', outDir: './dist' }]);
    expect(config.registries).toEqual({ charDriver: { out: 'gen/chardev.gen.ts', keys: ['name'], drivers: ['src/*.ts'], states: { pty: 'disabled' }, defaultState: 'module' } });
  });

  it('reports every problem at once, each naming its key and place, unknown keys with a suggestion', async () => {
    const text = [
      '{',
      '  "driver": ["src/*.ts"],',
      '  "out": "gen/t.js",',
      '  "importExtension": ".mjs",',
      '  "states": { "qcow2": "builtn" },',
      '  "packages": ["Not A Name", { "name": "x", "drivers": [] }],',
      '  "registries": { "blockDriver": {}, "chardev": { "out": "gen/t.js", "kyes": ["name"] } }',
      '}',
    ].join('\n');
    expect(await problems({ 'gen-modules.config.json': text })).toEqual([
      "GM9001 gen-modules.config.json:2:3 unknown option 'driver'; did you mean 'drivers'?",
      `GM9001 gen-modules.config.json:3:10 'out' must be the path of a TypeScript file to generate, e.g. "src/generated/drivers.gen.ts", got string "gen/t.js"`,
      `GM9001 gen-modules.config.json:4:22 'importExtension' must be ".js" or ".ts", got string ".mjs"`,
      `GM9001 gen-modules.config.json:5:24 'states.qcow2' must be one of "builtin", "module", "disabled", got string "builtn"; did you mean "builtin"?`,
      `GM9001 gen-modules.config.json:6:16 'packages[0]' must name an npm package, got string "Not A Name"`,
      `GM9001 gen-modules.config.json:6:56 'packages[1].drivers' must be a non-empty array of glob patterns, e.g. ["src/drivers/**/*.ts"], got a list`,
      "GM9001 gen-modules.config.json:7:19 registry name 'blockDriver' must be an identifier other than 'blockDriver' (the decorator's registry name)",
      `GM9001 gen-modules.config.json:7:58 'registries.chardev.out' must be the path of a TypeScript file to generate, e.g. "src/generated/drivers.gen.ts", got string "gen/t.js"`,
      "GM9001 gen-modules.config.json:7:70 unknown option 'kyes' in 'registries.chardev'; did you mean 'keys'?",
    ]);
  });

  it("checks 'probe': its keys, the buffer mode and the order's driver names", async () => {
    const dir = project({ 'gen-modules.config.json': JSON.stringify({ drivers: 'src/*.ts', out: 'gen/t.gen.ts', probe: { order: ['vdi', 'qcow2'], buffer: 'exact' } }) });
    expect((await loadConfig(undefined, dir)).config.probe).toEqual({ order: ['vdi', 'qcow2'], buffer: 'exact' });
    const text = ['{', '  "drivers": ["src/*.ts"],', '  "out": "gen/t.gen.ts",', '  "probe": { "oder": [], "buffer": "short", "order": ["vdi", "Qcow", "vdi", 3] }', '}'].join('\n');
    expect(await problems({ 'gen-modules.config.json': text })).toEqual([
      "GM9001 gen-modules.config.json:4:14 unknown option 'oder' in 'probe'; did you mean 'order'?",
      `GM9001 gen-modules.config.json:4:36 'probe.buffer' must be "padded" or "exact", got string "short"`,
      `GM9001 gen-modules.config.json:4:62 'probe.order[1]' must be a driver name matching /^[a-z][a-z0-9_-]{0,63}$/ (lower-case letter, then letters, digits, _ or -), got string "Qcow"`,
      "GM9001 gen-modules.config.json:4:70 'probe.order[2]': 'vdi' is listed twice",
      `GM9001 gen-modules.config.json:4:77 'probe.order[3]' must be a driver name matching /^[a-z][a-z0-9_-]{0,63}$/ (lower-case letter, then letters, digits, _ or -), got number 3`,
    ]);
  });

  it('reports invalid JSON at its place', async () => {
    expect(await problems({ 'gen-modules.config.json': '{\n  "drivers": ["a"],\n  "out": "b.ts",,\n}' })).toEqual([
      expect.stringMatching(/^GM9001 gen-modules\.config\.json:3:17 invalid JSON: /),
    ]);
  });

  it('a config path that is a directory is a config error, not a crash', async () => {
    const dir = project({ 'sub/readme.txt': '' });
    mkdirSync(join(dir, 'gen-modules.config.json'));
    for (const file of ['sub', undefined]) {
      const error = await loadConfig(file, dir).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toBe(`config file ${file ?? 'gen-modules.config.json'} cannot be read: it is a directory`);
    }
  });

  it("requires 'drivers' unless packages provide them", async () => {
    expect(await problems({ 'gen-modules.config.json': '{ "out": "gen/t.gen.ts" }' })).toEqual([
      `GM9001 gen-modules.config.json:1:1 'drivers' must be a non-empty array of glob patterns, e.g. ["src/drivers/**/*.ts"], got nothing`,
    ]);
    const dir = project({ 'gen-modules.config.json': '{ "out": "gen/t.gen.ts", "packages": ["@acme/drivers"] }' });
    expect((await loadConfig(undefined, dir)).config.drivers).toEqual([]);
  });

  it('reads a JSON config saved with a byte-order mark, and places its problems as without one', async () => {
    const dir = project({ 'gen-modules.config.json': '\uFEFF{ "drivers": ["src/*.ts"], "out": "gen/t.gen.ts" }\n' });
    expect((await loadConfig(undefined, dir)).config.out).toBe('gen/t.gen.ts');
    expect(await problems({ 'gen-modules.config.json': '\uFEFF{\n  "drivers": ["src/*.ts"],\n  "out": "gen/t.gen.ts",\n  "stats": {}\n}\n' })).toEqual([
      `GM9001 gen-modules.config.json:4:3 unknown option 'stats'; did you mean 'states'?`,
    ]);
  });

  it('rejects two registries writing one file', async () => {
    const config = { drivers: ['a'], out: 'gen/t.gen.ts', registries: { a: { out: 'gen/t.gen.ts' } } };
    expect(await problems({ 'gen-modules.config.json': JSON.stringify(config, null, 2) })).toEqual([
      "GM9001 gen-modules.config.json:8:14 'registries.a.out' is the same file as 'out'; each registry needs its own table",
    ]);
    // Spelled differently, the same file: the second table would overwrite the first.
    const spelled = { drivers: ['a'], out: 'gen/t.gen.ts', registries: { a: { out: './gen/../gen/t.gen.ts' }, b: { out: 'gen//u.gen.ts' }, c: { out: 'gen/./u.gen.ts' } } };
    expect(await problems({ 'gen-modules.config.json': JSON.stringify(spelled, null, 2) })).toEqual([
      "GM9001 gen-modules.config.json:8:14 'registries.a.out' is the same file as 'out'; each registry needs its own table",
      "GM9001 gen-modules.config.json:14:14 'registries.c.out' is the same file as 'registries.b.out'; each registry needs its own table",
    ]);
  });
});

describe('gen-modules.config.ts', () => {
  it('loads without a build step, with the imports it makes', async () => {
    const dir = project({
      'gen-modules.config.ts': [
        `import { DRIVERS } from './config/drivers.js';`,
        `import type { DriverState } from './config/types.js';`,
        `const state: DriverState = 'builtin';`,
        `export default { drivers: DRIVERS, out: 'src/generated/drivers.gen.ts', states: { raw: state } satisfies Record<string, DriverState> };`,
      ].join('\n'),
      'config/drivers.ts': `export const DRIVERS: string[] = ['src/drivers/*.ts'];\n`,
      'config/types.ts': `export type DriverState = 'builtin' | 'module' | 'disabled';\n`,
    });
    const loaded = await loadConfig(undefined, dir);
    expect(loaded.file).toBe(join(dir, 'gen-modules.config.ts'));
    expect(loaded.config).toMatchObject({ drivers: ['src/drivers/*.ts'], states: { raw: 'builtin' } });
    // The temporary bundle is gone.
    expect(readdirSync(dir).filter((f) => f.startsWith('.gen-modules-config-'))).toEqual([]);
  });

  it('uses the real defineConfig from gen-modules', async () => {
    const dir = project({
      'gen-modules.config.ts': `import { defineConfig } from 'gen-modules';\nexport default defineConfig({ drivers: ['src/*.ts'], out: 'gen/t.gen.ts', defaultState: 'builtin' });\n`,
    });
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(repoRoot, join(dir, 'node_modules/gen-modules'), 'dir');
    expect((await loadConfig(undefined, dir)).config.defaultState).toBe('builtin');
  });

  it('reports a syntax error, a throw and a bad value at their place in the config', async () => {
    expect(await problems({ 'gen-modules.config.ts': `export default {\n  drivers: ['a'],\n  out: 'b.ts'\n  states: {},\n};\n` })).toEqual([
      'GM9001 gen-modules.config.ts:4:3 Expected "}" but found "states"',
    ]);
    expect(await problems({ 'gen-modules.config.ts': `const x = 1;\nfunction fail(): never {\n  throw new Error('no drivers configured');\n}\nexport default { drivers: fail(), out: 'b.ts' };\n` })).toEqual([
      'GM9001 gen-modules.config.ts:3:9 the config threw while loading: no drivers configured',
    ]);
    expect(await problems({ 'gen-modules.config.ts': `export default {\n  drivers: ['a'],\n  out: 'b.ts',\n  defaultState: 'on',\n};\n` })).toEqual([
      `GM9001 gen-modules.config.ts:4:3 'defaultState' must be one of "builtin", "module", "disabled", got string "on"`,
    ]);
    expect(await problems({ 'gen-modules.config.ts': `export const config = { drivers: ['a'], out: 'b.ts' };\n` })).toEqual([
      'GM9001 gen-modules.config.ts:1:1 the config must have a default export: export default defineConfig({ ... })',
    ]);
  });

  it('reports an error in a file the config imports at that file', async () => {
    const dir = project({
      'gen-modules.config.ts': `import { D } from './parts.js';\nexport default { drivers: D, out: 'b.ts' };\n`,
      'parts.ts': `export const D = [;\n`,
    });
    await expect(loadConfig(undefined, dir)).rejects.toMatchObject({ diagnostics: [expect.objectContaining({ file: 'parts.ts', line: 1, column: 19 })] });
  });
});
