// Which decorators are ours: recognised by where they come from, not by their spelling.
import { describe, expect, it } from 'vitest';
import { scanFile } from '../../src/scanner/scan-file.js';
import { scanOne, scanTree, type Tree } from './memory-project.js';

const opts = `({ format: 'x' })`;

/** Registry and export name of each decorator found in the tree's driver file. */
function found(tree: Tree, file = 'src/drivers/d.ts') {
  const result = scanOne(tree, file);
  expect(result.diagnostics).toEqual([]);
  return result.found.map((f) => `${f.decorator}:${f.exportName}${f.exported ? '' : ' (not exported)'}`);
}

describe('where the decorator comes from', () => {
  it.each([
    ['a named import', `import { blockDriver } from 'gen-modules/runtime';\n@blockDriver${opts} export class D {}`],
    ['a renamed import', `import { blockDriver as bd } from 'gen-modules/runtime';\n@bd${opts} export class D {}`],
    ['a namespace', `import * as gm from 'gen-modules/runtime';\n@gm.blockDriver${opts} export class D {}`],
    ['a parenthesised namespace member', `import * as gm from 'gen-modules/runtime';\n@(gm.blockDriver)${opts} export class D {}`],
  ])('%s', (_name, text) => {
    expect(found({ 'src/drivers/d.ts': text })).toEqual(['blockDriver:D']);
  });

  it('a re-export by the application: export { } from, renames, export * chains, namespaces of them', () => {
    const tree: Tree = {
      'src/app/decorators.ts': `export { blockDriver as driver } from 'gen-modules/runtime';\n`,
      'src/app/barrel.ts': `export * from './decorators.js';\nexport * from 'gen-modules/runtime';\n`,
      'src/app/index.ts': `export { driver as appDriver } from './barrel.js';\nexport * as runtime from './barrel.js';\n`,
      'src/drivers/d.ts': [
        `import { appDriver, runtime } from '../app/index.js';`,
        `import { blockDriver as viaStar } from '../app/barrel.js';`,
        `@appDriver({ format: 'a' }) export class A {}`,
        `@runtime.driver({ format: 'b' }) export class B {}`,
        `@viaStar({ format: 'c' }) export class C {}`,
      ].join('\n'),
    };
    expect(found(tree)).toEqual(['blockDriver:A', 'blockDriver:B', 'blockDriver:C']);
  });

  it('a re-export found through tsconfig paths', () => {
    const tree: Tree = {
      'tsconfig.json': `{ "compilerOptions": { "paths": { "@app/*": ["./src/app/*"] } } }`,
      'src/app/registry.ts': `import { blockDriver } from 'gen-modules/runtime';\nexport { blockDriver };\n`,
      'src/drivers/d.ts': `import { blockDriver } from '@app/registry';\n@blockDriver${opts} export class D {}`,
    };
    expect(found(tree)).toEqual(['blockDriver:D']);
  });

  it('a re-export found through tsconfig paths given in JSON with comments and trailing commas, through extends', () => {
    const tree: Tree = {
      'tsconfig.base.json': `{\n  // Where the app's modules are.\n  "compilerOptions": { "paths": { "@app/*": ["./src/app/*",], }, },\n}\n`,
      'tsconfig.json': `/* The project. */ { "extends": "./tsconfig.base.json", "compilerOptions": { "strict": true, }, }`,
      'src/app/registry.ts': `import { blockDriver } from 'gen-modules/runtime';\nexport { blockDriver };\n`,
      'src/drivers/d.ts': `import { blockDriver } from '@app/registry';\n@blockDriver${opts} export class D {}`,
    };
    expect(found(tree)).toEqual(['blockDriver:D']);
  });

  it('ignores a decorator of the same name from elsewhere', () => {
    const tree: Tree = {
      'node_modules/other-lib/package.json': '{ "name": "other-lib", "types": "index.d.ts" }',
      'node_modules/other-lib/index.d.ts': `export { blockDriver } from 'gen-modules/runtime';\n`,
      'src/local.ts': `export function blockDriver(o: object) { return (c: unknown) => c; }\n`,
      'src/drivers/d.ts': [
        `import { blockDriver } from 'other-lib';`,
        `import { blockDriver as local } from '../local.js';`,
        `import type { blockDriver as typeOnly } from 'gen-modules/runtime';`,
        `import { blockDriver as notInstalled } from 'missing-lib';`,
        `@blockDriver({ format: 'a' }) export class A {}`,
        `@local({ format: 'b' }) export class B {}`,
        `@notInstalled({ format: 'c' }) export class C {}`,
        `function f(blockDriver: any) { @blockDriver({ format: 'd' }) class D {} return D; }`,
      ].join('\n'),
    };
    expect(found(tree)).toEqual([]);
  });

  it('finds registries made with createDriverDecorator, in this file or imported', () => {
    const tree: Tree = {
      'src/chardev/decorator.ts': `import { createDriverDecorator } from 'gen-modules/runtime';\nexport const charDriver = createDriverDecorator<{ name: string }>('charDriver', ['name']);\n`,
      'src/drivers/d.ts': [
        `import * as gm from 'gen-modules/runtime';`,
        `import { charDriver } from '../chardev/decorator.js';`,
        `const REGISTRY = 'device';`,
        `const device = gm.createDriverDecorator(REGISTRY, ['id', 'name'] as const);`,
        `@charDriver({ name: 'pty' }) export class Pty {}`,
        `@device({ id: 'pci' }) export class Pci {}`,
      ].join('\n'),
    };
    const result = scanOne(tree, 'src/drivers/d.ts');
    expect(result.diagnostics).toEqual([]);
    expect(result.found.map((f) => [f.decorator, f.exportName, f.declaredKeys])).toEqual([
      ['charDriver', 'Pty', ['name']],
      ['device', 'Pci', ['id', 'name']],
    ]);
  });
});

describe('declaration forms', () => {
  it('reads legacy and standard decorator positions, export default and export lists', () => {
    const text = [
      `import { blockDriver } from 'gen-modules/runtime';`,
      `@blockDriver({ format: 'a' }) export class A {}`,
      `export @blockDriver({ format: 'b' }) class B {}`,
      `@blockDriver({ format: 'c' })`,
      `class C {}`,
      `export { C as Renamed };`,
      `@blockDriver({ format: 'd' }) class D {}`,
      `export default D;`,
      `export const E = @blockDriver({ format: 'e' }) class {};`,
    ].join('\n');
    expect(found({ 'src/drivers/d.ts': text })).toEqual(['blockDriver:A', 'blockDriver:B', 'blockDriver:Renamed', 'blockDriver:default', 'blockDriver:E']);
  });

  it('reads an export default class, named or anonymous', () => {
    expect(found({ 'src/drivers/d.ts': `import { blockDriver } from 'gen-modules/runtime';\n@blockDriver${opts}\nexport default class Qcow {}` })).toEqual(['blockDriver:default']);
    expect(found({ 'src/drivers/d.ts': `import { blockDriver } from 'gen-modules/runtime';\nexport default @blockDriver${opts} class {}` })).toEqual(['blockDriver:default']);
  });

  it('marks classes that are not exported (and nested ones)', () => {
    const text = [
      `import { blockDriver } from 'gen-modules/runtime';`,
      `@blockDriver({ format: 'a' }) class A {}`,
      `export function make() { @blockDriver({ format: 'b' }) class B {} return B; }`,
    ].join('\n');
    expect(found({ 'src/drivers/d.ts': text })).toEqual(['blockDriver:A (not exported)', 'blockDriver:B (not exported)']);
  });

  it("ignores '@' in comments, strings and member decorators", () => {
    const text = `/** @param x the @blockDriver */\nconst s = '@blockDriver';\nfunction log(..._a: unknown[]) {}\nexport class K { @log m() {} }\n`;
    expect(found({ 'src/drivers/d.ts': text })).toEqual([]);
  });

  it('scanFile reads one file on its own and reports syntax errors with their place', () => {
    const ok = scanFile('drivers/q.ts', `import { blockDriver } from 'gen-modules/runtime';\n@blockDriver({ format: 'q' })\nexport class Q {}\n`);
    expect(ok.found.map((f) => [f.decorator, f.exportName, f.location])).toEqual([['blockDriver', 'Q', { file: 'drivers/q.ts', line: 2, column: 1 }]]);
    const broken = scanFile('drivers/q.ts', `import { blockDriver } from 'gen-modules/runtime';\n@blockDriver({ format: 'q' )\nexport class Q {}\n`);
    expect(broken.diagnostics.map((d) => [d.code, d.line, d.column])).toEqual([['GM1001', 2, 28]]);
  });
});

describe('several drivers and files', () => {
  it('reads several drivers in one file and keeps the total order', async () => {
    const text = `import { blockDriver } from 'gen-modules/runtime';\n@blockDriver({ format: 'zz' }) export class Z {}\n@blockDriver({ protocol: 'aa', prefixes: ['aa:'] }) export class A {}\n@blockDriver({ format: 'bb' }) export class B {}\n`;
    const result = await scanTree({ 'src/drivers/many.ts': text });
    expect(result.diagnostics).toEqual([]);
    expect(result.drivers.map((d) => `${d.kind}:${d.name}:${d.exportName}`)).toEqual(['format:bb:B', 'format:zz:Z', 'protocol:aa:A']);
  });

  it('parses only files that contain an @ (and the modules their decorators lead to)', async () => {
    const tree: Tree = {
      'src/drivers/plain.ts': 'export const x = 1;\n',
      'src/drivers/plain2.ts': 'export const y = 2;\n',
      'src/consts.ts': `export const NAME = 'n';\n`,
      'src/drivers/d.ts': `import { blockDriver } from 'gen-modules/runtime';\nimport { NAME } from '../consts.js';\n@blockDriver({ format: NAME }) export class D {}\n`,
    };
    const result = await scanTree(tree);
    expect(result.stats).toMatchObject({ files: 3, candidates: 1, read: 3, parsed: 2 });
    expect(result.inputs).toEqual(['gen-modules.config.json', 'src/consts.ts', 'src/drivers/d.ts', 'src/drivers/plain.ts', 'src/drivers/plain2.ts']);
  });
});
