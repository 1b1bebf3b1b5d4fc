// `@blockDriver({ openOptions: [...] })`: the options a driver takes when an image is opened,
// checked by the scanner and carried by the generated table to the runtime's registry, so that an
// application knows them without loading the driver.
import { describe, expect, it } from 'vitest';
import { renderTable } from '../../src/codegen/generate.js';
import { compileProbeIndex } from '../../src/probe/compile.js';
import { createDriverRegistry, defineDriverTable } from '../../src/runtime/index.js';
import { memoryConfig, scanTree, type Tree } from './memory-project.js';

const head = `import { blockDriver } from 'gen-modules/runtime';\n`;

describe('openOptions', () => {
  it('are read as compile-time constants, imported ones too, and are empty when not declared', async () => {
    const tree: Tree = {
      'src/options.ts': `export const KEYS = { luks: 'key-secret' } as const;\n`,
      'src/drivers/luks.ts': `${head}import { KEYS } from '../options.js';\n@blockDriver({ format: 'luks', openOptions: [KEYS.luks] }) export class Luks {}\n`,
      'src/drivers/http.ts': `${head}@blockDriver({ protocol: 'http', prefixes: ['http://'], openOptions: ['timeout', 'readahead'] }) export class Http {}\n`,
      'src/drivers/raw.ts': `${head}@blockDriver({ format: 'raw' }) export class Raw {}\n`,
    };
    const result = await scanTree(tree);
    expect(result.diagnostics).toEqual([]);
    expect(result.drivers.map((d) => [d.name, d.openOptions])).toEqual([
      ['luks', ['key-secret']],
      ['raw', []],
      ['http', ['timeout', 'readahead']],
    ]);
  });

  // The culprit: where the diagnostic points (the option when the value is not a list, else the
  // element; the second of a name given twice).
  it.each([
    ['not a list', `'key-secret'`, 'openOptions:', `got string "key-secret"`],
    ['an element not a string', `['timeout', 5]`, '5', 'got number 5'],
    ['a name outside the pattern', `['timeout', 'Key Secret']`, `'Key Secret'`, 'got string "Key Secret"'],
    ['a name given twice', `['timeout', 'readahead', 'timeout']`, `'timeout']`, 'got "timeout" twice'],
  ])('%s is an error at the culprit', async (_case, value, culprit, got) => {
    const line = `@blockDriver({ protocol: 'x', prefixes: ['x:'], openOptions: ${value} }) export class X {}`;
    const result = await scanTree({ 'src/drivers/x.ts': `${head}${line}\n` });
    expect(result.drivers).toEqual([]);
    expect(result.diagnostics.map((d) => ({ code: d.code, line: d.line, column: d.column, message: d.message }))).toEqual([
      { code: 'GM1003', line: 2, column: line.lastIndexOf(culprit) + 1, message: `option 'openOptions' must be a list of distinct option names matching /^[a-z][a-z0-9_.-]{0,63}$/, ${got}` },
    ]);
  });

  it('reach the generated table (only where declared) and the registry', async () => {
    const tree: Tree = {
      'src/drivers/vpc.ts': `${head}@blockDriver({ format: 'vpc', openOptions: ['force_size_calc'] }) export class Vpc {}\n`,
      'src/drivers/raw.ts': `${head}@blockDriver({ format: 'raw' }) export class Raw {}\n`,
    };
    const result = await scanTree(tree);
    const table = renderTable(memoryConfig(), result.drivers);
    expect(table).toContain(`exportName: "Vpc", prefixes: [], openOptions: ["force_size_calc"], load: () => import(`);
    expect(table).toMatch(/exportName: "Raw", prefixes: \[\], load: /);

    const registry = createDriverRegistry(
      defineDriverTable({
        registry: 'blockDriver',
        drivers: [
          { name: 'raw', kind: 'format', state: 'module', source: 'src/drivers/raw.ts', exportName: 'Raw', prefixes: [], load: () => Promise.resolve({}) },
          { name: 'vpc', kind: 'format', state: 'module', source: 'src/drivers/vpc.ts', exportName: 'Vpc', prefixes: [], openOptions: ['force_size_calc'], load: () => Promise.resolve({}) },
        ],
        probeModules: {},
        probeIndex: compileProbeIndex([], () => '').index,
      }),
    );
    expect(registry.list().map((d) => [d.name, d.openOptions])).toEqual([
      ['raw', []],
      ['vpc', ['force_size_calc']],
    ]);
  });
});
