// Constant evaluation of decorator options, on in-memory trees: what the compiler could fold is
// accepted, across files too; anything else is GM1002 at the expression, saying why.
import { describe, expect, it } from 'vitest';
import { driver, optionsOf, scanOne, type Tree } from './memory-project.js';

const one = (options: string, header = '', extra: Tree = {}) => optionsOf({ 'src/drivers/d.ts': driver(options, header), ...extra });

/** The single GM1002 of a tree's driver file. */
function failure(tree: Tree, file = 'src/drivers/d.ts') {
  const result = scanOne(tree, file);
  expect(result.diagnostics.map((d) => d.code)).toEqual(['GM1002']);
  return result.diagnostics[0]!;
}

describe('literal constants', () => {
  it('folds literals, parentheses, as const, satisfies and templates without substitutions', () => {
    expect(
      one(`{ format: 'x', a: 1, b: -2, c: 0x200, d: true, e: null, f: \`tmpl\`, g: ('p'), h: [1, 2] as const, i: { k: 'v' } satisfies object, j: 12n, k: 1e3 }`),
    ).toEqual({ format: 'x', a: 1, b: -2, c: 512, d: true, e: null, f: 'tmpl', g: 'p', h: [1, 2], i: { k: 'v' }, j: '12', k: 1000 });
  });

  it('folds arithmetic and bit operations', () => {
    expect(one(`{ a: 1 << 9, b: 0x200 * 2, c: ~0 >>> 0, d: (7 & 3) | 8, e: 2 ** 10 - 1, f: -(4 % 3), g: 0x514649fb ^ 0, h: 'a' + 'b' + 1 }`)).toEqual({
      a: 512,
      b: 1024,
      c: 4294967295,
      d: 11,
      e: 1023,
      f: -1,
      g: 0x514649fb,
      h: 'ab1',
    });
  });

  it('folds arrays and objects with spreads, shorthand and computed keys', () => {
    const header = `const BASE = { score: 100 } as const;\nconst TESTS = [{ minLength: 8 }];\nconst KEY = 'k';\nconst score = 2;`;
    expect(one(`{ p: { ...BASE, match: [...TESTS, { at: 0 }] }, [KEY]: 1, score }`, header)).toEqual({ p: { score: 100, match: [{ minLength: 8 }, { at: 0 }] }, k: 1, score: 2 });
  });

  it('keeps a "__proto__" key as data', () => {
    const value = one(`{ o: { '__proto__': 'x' } }`) as { o: Record<string, unknown> };
    expect(Object.keys(value.o)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(value.o)).toBe(Object.prototype);
  });
});

describe('constants of the same file', () => {
  it('follows consts, chains of consts, members and elements', () => {
    const header = `const MAGIC = 0x514649fb;\nconst M2 = MAGIC;\nconst SIZES = { qcow2: 104 } as const;\nconst LIST = ['a', 'b'] as const;\nconst { x: [, second] } = { x: [1, 2] } as const;`;
    expect(one(`{ m: M2, s: SIZES.qcow2, e: LIST[1], n: LIST.length, d: second }`, header)).toEqual({ m: 0x514649fb, s: 104, e: 'b', n: 2, d: 2 });
  });

  it('evaluates enums: auto-increment, strings, references to earlier members, const enums', () => {
    const header = [
      'enum Kind { A, B, C = 10, D }',
      "enum Str { Q = 'QFI', R = `raw` }",
      'const enum Bits { X = 1 << 3, Y = X | 1, Z = Bits.Y << 1 }',
    ].join('\n');
    expect(one(`{ b: Kind.B, d: Kind.D, q: Str.Q, r: Str.R, y: Bits.Y, z: Bits.Z }`, header)).toEqual({ b: 1, d: 11, q: 'QFI', r: 'raw', y: 9, z: 18 });
  });

  it('reads constants gen-modules/runtime exports', () => {
    const text = `import { blockDriver, DEFINITE_SCORE, PROBE_BUFFER_SIZE } from 'gen-modules/runtime';\n@blockDriver({ s: DEFINITE_SCORE, n: PROBE_BUFFER_SIZE })\nexport class D {}\n`;
    expect(optionsOf({ 'src/drivers/d.ts': text })).toEqual({ s: 100, n: 512 });
  });
});

describe('constants from other files', () => {
  const magic = { 'src/formats/magic.ts': `export const MAGIC = 0x514649fb;\nexport const NAME = 'qcow2';\nexport enum Version { V2 = 2, V3 }\nexport default 104;\n` };

  it('follows named, renamed, default and namespace imports', () => {
    const header = `import SIZE, { MAGIC, NAME as FORMAT, Version } from '../formats/magic.js';\nimport * as m from '../formats/magic.js';`;
    expect(one(`{ format: FORMAT, magic: MAGIC, size: SIZE, v: Version.V3, ns: m.MAGIC, nsEnum: m.Version.V2 }`, header, magic)).toEqual({
      format: 'qcow2',
      magic: 0x514649fb,
      size: 104,
      v: 3,
      ns: 0x514649fb,
      nsEnum: 2,
    });
  });

  it('follows re-exports, renamed re-exports, barrels and export * as', () => {
    const tree: Tree = {
      ...magic,
      'src/formats/index.ts': `export * from './magic.js';\nexport { MAGIC as QCOW_MAGIC } from './magic.js';\nexport * as magic from './magic.js';\n`,
      'src/constants.ts': `export * from './formats/index.js';\nexport { NAME as default } from './formats/magic.js';\n`,
      'src/drivers/d.ts': driver(
        `{ a: MAGIC, b: QCOW_MAGIC, c: magic.NAME, d: Version.V2, e: NAME_DEFAULT }`,
        `import { MAGIC, QCOW_MAGIC, magic, Version } from '../constants.js';\nimport NAME_DEFAULT from '../constants.js';`,
      ),
    };
    expect(optionsOf(tree)).toEqual({ a: 0x514649fb, b: 0x514649fb, c: 'qcow2', d: 2, e: 'qcow2' });
  });

  it('follows an import of a local import (export { X } of an imported X) and index files', () => {
    const tree: Tree = {
      ...magic,
      'src/formats/reexport.ts': `import { MAGIC } from './magic.js';\nconst LOCAL = MAGIC + 1;\nexport { MAGIC, LOCAL };\n`,
      'src/lib/index.ts': `export { LOCAL as L2 } from '../formats/reexport.js';\n`,
      'src/drivers/d.ts': driver(`{ a: MAGIC, b: L2 }`, `import { MAGIC } from '../formats/reexport.js';\nimport { L2 } from '../lib';`),
    };
    expect(optionsOf(tree)).toEqual({ a: 0x514649fb, b: 0x514649fc });
  });

  it('follows tsconfig paths, with extends and without baseUrl', () => {
    const tree: Tree = {
      ...magic,
      'tsconfig.base.json': `{ // comments and trailing commas are fine\n "compilerOptions": { "paths": { "@fmt/*": ["./src/formats/*"], "@exact": ["./src/formats/magic.ts"], } } }`,
      'tsconfig.json': `{ "extends": "./tsconfig.base.json", "compilerOptions": { "strict": true } }`,
      'src/drivers/d.ts': driver(`{ a: MAGIC, b: NAME }`, `import { MAGIC } from '@fmt/magic.js';\nimport { NAME } from '@exact';`),
    };
    expect(optionsOf(tree)).toEqual({ a: 0x514649fb, b: 'qcow2' });
  });

  it('follows tsconfig baseUrl', () => {
    const tree: Tree = {
      ...magic,
      'tsconfig.json': `{ "compilerOptions": { "baseUrl": "./src" } }`,
      'src/drivers/d.ts': driver(`{ a: MAGIC }`, `import { MAGIC } from 'formats/magic';`),
    };
    expect(optionsOf(tree)).toEqual({ a: 0x514649fb });
  });

  it('reads constants of installed packages, including literal types of declaration files', () => {
    const tree: Tree = {
      'node_modules/@acme/magic/package.json': JSON.stringify({ name: '@acme/magic', exports: { '.': { types: './dist/index.d.ts', import: './dist/index.js' }, './raw': './dist/raw.js' } }),
      'node_modules/@acme/magic/dist/index.d.ts': `export declare const A = 512;\nexport declare const B: 'bee';\nexport declare const C: readonly [1, { readonly k: -2 }];\nexport declare enum E { X = 4, Y = 5 }\n`,
      'node_modules/@acme/magic/dist/raw.js': `export const RAW = 'raw';\n`,
      'src/drivers/d.ts': driver(`{ a: A, b: B, c: C, e: E.Y, r: RAW }`, `import { A, B, C, E } from '@acme/magic';\nimport { RAW } from '@acme/magic/raw';`),
    };
    expect(optionsOf(tree)).toEqual({ a: 512, b: 'bee', c: [1, { k: -2 }], e: 5, r: 'raw' });
  });
});

describe('what is not a constant', () => {
  it('a call: at the call, saying it runs at run time', () => {
    const d = failure({ 'src/drivers/d.ts': driver(`{\n  format: 'x',\n  probe: compute(),\n}`, 'declare function compute(): number;') });
    expect(d.message).toBe("option 'probe' must be a compile-time constant: a function call is evaluated at run time");
    expect([d.line, d.column]).toEqual([5, 10]);
  });

  it("a 'let': at the identifier, with the declaration as related location", () => {
    const d = failure({ 'src/drivers/d.ts': driver(`{ format: NAME }`, `let NAME = 'x';`) });
    expect(d.message).toBe("option 'format' must be a compile-time constant: 'NAME' is declared with 'let' and may change");
    expect([d.line, d.column]).toEqual([3, 24]);
    expect(d.related).toEqual([{ file: 'src/drivers/d.ts', line: 2, column: 5, message: "'NAME' is declared with 'let' and may change" }]);
  });

  it('a parameter of the function the class is declared in', () => {
    const text = `import { blockDriver } from 'gen-modules/runtime';\nexport function make(name: string) {\n  @blockDriver({ format: name })\n  class D {}\n  return D;\n}\n`;
    const result = scanOne({ 'src/drivers/d.ts': text }, 'src/drivers/d.ts');
    const d = result.diagnostics.find((x) => x.code === 'GM1002')!;
    expect(d.message).toContain("'name' is a parameter");
    expect([d.line, d.column]).toEqual([3, 26]);
  });

  it('a const in another file that is not constant: at the import, with the culprit as related location', () => {
    const tree: Tree = {
      'src/consts.ts': `export const A = 1;\nexport const MAGIC = Number('0x514649fb');\n`,
      'src/drivers/d.ts': driver(`{ format: 'x', magic: MAGIC }`, `import { MAGIC } from '../consts.js';`),
    };
    const d = failure(tree);
    expect(d.message).toBe("option 'magic' must be a compile-time constant: 'MAGIC' (imported from '../consts.js') -> a function call is evaluated at run time");
    expect([d.line, d.column]).toEqual([3, 36]);
    expect(d.related).toEqual([{ file: 'src/consts.ts', line: 2, column: 22, message: 'a function call is evaluated at run time' }]);
  });

  it('an import from a package that cannot be resolved', () => {
    const d = failure({ 'src/drivers/d.ts': driver(`{ format: NAME }`, `import { NAME } from 'not-installed';`) });
    expect(d.message).toContain("'not-installed' is not a relative path, matches no tsconfig paths and is not installed in node_modules");
  });

  it('a missing file and a missing export', () => {
    expect(failure({ 'src/drivers/d.ts': driver(`{ format: NAME }`, `import { NAME } from './nowhere.js';`) }).message).toContain("cannot find './nowhere.js'");
    const d = failure({ 'src/c.ts': 'export const OTHER = 1;\n', 'src/drivers/d.ts': driver(`{ format: NAME }`, `import { NAME } from '../c.js';`) });
    expect(d.message).toContain("src/c.ts has no export 'NAME'");
  });

  it('a cycle between files', () => {
    const tree: Tree = {
      'src/a.ts': `import { B } from './b.js';\nexport const A = B + 1;\n`,
      'src/b.ts': `import { A } from './a.js';\nexport const B = A + 1;\n`,
      'src/drivers/d.ts': driver(`{ n: A }`, `import { A } from '../a.js';`),
    };
    const d = failure(tree);
    expect(d.message).toContain("'A' (imported from '../a.js') -> a cycle: 'A' (src/a.ts) -> 'B' (src/b.ts) -> 'A' (src/a.ts)");
    expect([d.line, d.column]).toEqual([3, 19]);
  });

  it('a re-export cycle', () => {
    const tree: Tree = {
      'src/a.ts': `export { X } from './b.js';\n`,
      'src/b.ts': `export { X } from './a.js';\n`,
      'src/drivers/d.ts': driver(`{ n: X }`, `import { X } from '../a.js';`),
    };
    expect(failure(tree).message).toContain('re-exports itself in a cycle');
  });

  it('an imported file with syntax errors', () => {
    const tree: Tree = { 'src/c.ts': 'export const A = (1;\n', 'src/drivers/d.ts': driver(`{ n: A }`, `import { A } from '../c.js';`) };
    expect(failure(tree).message).toContain('src/c.ts has syntax errors');
  });

  it.each([
    ['a global', `{ n: window }`, '', "'window' is not declared in this file or imported"],
    ['undefined', `{ n: undefined }`, '', "'undefined' (leave the option out instead)"],
    ['a function', `{ n: f }`, 'function f() {}', "'f' is a function, not a constant"],
    ['an enum itself', `{ n: E }`, 'enum E { A }', "'E' is an enum; use one of its members, such as E.A"],
    ['a missing enum member', `{ n: E.B }`, 'enum E { A }', "enum 'E' has no member 'B'"],
    ['a division by zero', `{ n: 1 / 0 }`, '', 'the result is Infinity, not a finite number'],
    ['a conditional', `{ n: true ? 1 : 2 }`, '', 'a conditional expression'],
    ['a new expression', `{ n: new Date() }`, '', "a 'new' expression is evaluated at run time"],
    ['an arrow function', `{ n: () => 1 }`, '', 'a function is not a constant'],
    ['a namespace import', `{ n: ns }`, `import * as ns from '../c.js';`, 'a module namespace is not a constant'],
    ['a missing property', `{ n: O.b }`, 'const O = { a: 1 };', 'the constant has no property "b"'],
    ['a var', `{ n: V }`, 'var V = 1;', "'V' is declared with 'var' and may change"],
  ])('%s', (_name, options, header, why) => {
    const d = failure({ 'src/c.ts': 'export const C = 1;\n', 'src/drivers/d.ts': driver(options, header) });
    expect(d.message).toContain(why);
    expect(d.line).toBe(3);
  });
});
