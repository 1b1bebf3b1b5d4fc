// Sources at the edges of what the scanner and the table emitter meet: a driver named like an
// Object.prototype member, folders whose names start with a dot, .cts drivers, absolute probe
// module paths, non-finite literals, an own '__proto__' key in a spread, and nesting deeper than
// TypeScript's parser can recurse. Each table is imported and its drivers loaded, not only parsed.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { generateFromConfig } from '../../src/codegen/generate.js';
import { loadConfig } from '../../src/config/config.js';
import { createDriverRegistry, type DriverTable } from '../../src/runtime/index.js';
import { writeFiles } from '../support/files.js';

const head = `import { blockDriver, createDriverDecorator } from 'gen-modules/runtime';\n`;

async function generate(files: Record<string, string>, config: Record<string, unknown> = {}) {
  const root = mkdtempSync(join(tmpdir(), 'gm-unusual-'));
  writeFiles(root, { 'gen-modules.config.json': JSON.stringify({ drivers: ['src/drivers/**/*.ts'], out: 'src/generated/drivers.gen.ts', ...config }), ...files });
  const result = await generateFromConfig(await loadConfig(undefined, root));
  return { root, result, table: async () => ((await import(pathToFileURL(result.out).href)) as { driverTable: DriverTable }).driverTable };
}

describe('unusual sources', () => {
  it("a driver named 'constructor' takes its state from the config's own keys only, and loads; a registry named 'toString' is not the config's", async () => {
    const driver = `${head}@blockDriver({ format: 'constructor' })\nexport class Ctor {}\n`;
    const plain = await generate({ 'src/drivers/ctor.ts': driver });
    expect(plain.result.diagnostics).toEqual([]);
    const table = await plain.table();
    expect(table.drivers.map((d) => [d.name, d.state])).toEqual([['constructor', 'module']]);
    expect((await createDriverRegistry(table).load<{ name: string }>('constructor')).name).toBe('Ctor');
    const builtin = await generate({ 'src/drivers/ctor.ts': driver }, { states: { constructor: 'builtin' } });
    expect(builtin.result.drivers.map((d) => d.state)).toEqual(['builtin']);
    // A decorator registry named like an Object.prototype member is not a registry of the config.
    const named = await generate({ 'src/drivers/a.ts': `${head}const d = createDriverDecorator<{ name: string }>('toString', ['name']);\n@d({ name: 'a' })\nexport class A {}\n` });
    expect(named.result.diagnostics.map((d) => d.code)).toEqual(['GM1010']);
  });

  it("drivers in folders named '.extra' and '..more' beside the table are imported as ./.extra/..., and load", async () => {
    const { result, table } = await generate(
      {
        'src/generated/.extra/d.ts': `${head}@blockDriver({ format: 'dotted' })\nexport class Dotted {}\n`,
        'src/generated/..more/e.ts': `${head}@blockDriver({ format: 'dotdot' })\nexport class DotDot {}\n`,
      },
      { drivers: ['src/generated/.extra/*.ts', 'src/generated/..more/*.ts'] },
    );
    expect(result.diagnostics).toEqual([]);
    expect(result.content).toContain('import("./.extra/d.js")');
    expect(result.content).toContain('import("./..more/e.js")');
    const registry = createDriverRegistry(await table());
    expect((await registry.load<{ name: string }>('dotted')).name).toBe('Dotted');
    expect((await registry.load<{ name: string }>('dotdot')).name).toBe('DotDot');
  });

  it('a .cts driver is imported as .cjs (or .cts with importExtension .ts), as .mts is as .mjs', async () => {
    const files = { 'src/drivers/a.cts': `${head}@blockDriver({ format: 'a' })\nexport class A {}\n`, 'src/drivers/b.mts': `${head}@blockDriver({ format: 'b' })\nexport class B {}\n` };
    const js = await generate(files, { drivers: ['src/drivers/*.{cts,mts}'] });
    expect(js.result.content).toContain('import("../drivers/a.cjs")');
    expect(js.result.content).toContain('import("../drivers/b.mjs")');
    const ts = await generate(files, { drivers: ['src/drivers/*.{cts,mts}'], importExtension: '.ts' });
    expect(ts.result.content).toContain('import("../drivers/a.cts")');
  });

  it('an absolute probe module path is refused (the table would name a path of this machine)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'gm-unusual-abs-'));
    writeFiles(root, { 'p.ts': 'export default () => 100;\n' });
    const { result } = await generate({
      'src/drivers/a.ts': `${head}@blockDriver({ format: 'a', probe: { score: 100, match: { at: 0, bytes: 'AA' }, module: ${JSON.stringify(join(root, 'p.ts'))} } })\nexport class A {}\n`,
    });
    expect(result.diagnostics.map((d) => [d.code, d.message])).toEqual([['GM3001', 'invalid probe: probe.module must be a relative path to a probe module']]);
    expect(result.outcome).toBe('skipped');
  });

  it('a literal that is not a finite number is refused; an own __proto__ key of a spread stays a key', async () => {
    const inf = await generate({ 'src/drivers/a.ts': `${head}export const LIMIT = 1e400;\nconst dev = createDriverDecorator<{ name: string; limit: number }>('dev', ['name']);\n@dev({ name: 'a', limit: LIMIT })\nexport class A {}\n` }, { registries: { dev: { out: 'src/generated/dev.gen.ts' } } });
    expect(inf.result.diagnostics.map((d) => [d.code, d.message])).toEqual([['GM1002', expect.stringContaining('the number 1e400 is Infinity, not a finite number')]]);
    const spread = await generate(
      { 'src/drivers/a.ts': `${head}const dev = createDriverDecorator<{ name: string }>('dev', ['name']);\n@dev({ name: 'a', copy: { ...{ ['__proto__']: { format: 'x' }, size: 1 } } })\nexport class A {}\n` },
      { registries: { dev: { out: 'src/generated/dev.gen.ts' } } },
    );
    expect(spread.result.diagnostics).toEqual([]);
    const copy = spread.result.drivers[0]!.options.copy as Record<string, unknown>;
    expect(Object.keys(copy)).toEqual(['__proto__', 'size']);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
  });

  it('nesting deeper than the parser can recurse is a syntax error of the file, not a crash', async () => {
    const deep = `${'['.repeat(20_000)}1${']'.repeat(20_000)}`;
    const { result } = await generate({ 'src/drivers/a.ts': `${head}export const DEEP = ${deep};\n@blockDriver({ format: 'a' })\nexport class A {}\n` });
    expect(result.diagnostics.map((d) => [d.code, d.file, d.line, d.message])).toEqual([['GM1001', 'src/drivers/a.ts', 1, 'syntax error: the file nests too deeply to parse (the parser ran out of stack)']]);
  });
});
