// The literal reader (literal-scan.ts) against the parser: for every file it reads, its result
// must be exactly what scanFile (the compiler's parse, the constant evaluator) gives; for anything
// it does not fully understand, it must decline. Its corpus: every source of this repository and
// variations of a driver file written to probe its edges.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanLiterally } from '../../src/scanner/literal-scan.js';
import { scanFile } from '../../src/scanner/scan-file.js';
import { repoRoot } from '../support/paths.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'tmp' || entry.name.startsWith('.') ? [] : sources(path);
    return /\.(?:[cm]?[jt]sx?)$/.test(entry.name) ? [path] : [];
  });
}

/** Reads `text` both ways; the literal reader's result, after checking it equals the parser's. */
function agree(file: string, text: string) {
  const literal = scanLiterally(file, text);
  if (literal) expect(literal, file).toStrictEqual(scanFile(file, text));
  return literal;
}

describe('literal reader', () => {
  it('gives the parser’s result for every source file of the repository that it reads', () => {
    const files = ['src', 'plugin', 'fixtures', 'test', 'bench', 'scripts'].flatMap((folder) => sources(join(repoRoot, folder))).sort();
    let read = 0;
    const drivers: string[] = [];
    for (const path of files) {
      const file = relative(repoRoot, path).split('\\').join('/');
      const literal = agree(file, readFileSync(path, 'utf8'));
      if (literal) read++;
      if (literal && file.startsWith('fixtures/emulator/src/drivers/')) drivers.push(file);
    }
    expect(files.length).toBeGreaterThan(300);
    expect(read).toBeGreaterThan(30);
    // The example emulator's drivers are the usual kind: all but the two whose options name an
    // imported constant (KEY_SECRET_OPTIONS) are read without the parser.
    const all = files.filter((f) => f.includes('/fixtures/emulator/src/drivers/')).map((f) => relative(repoRoot, f).split('\\').join('/'));
    expect(all.length).toBeGreaterThan(15);
    expect(all.filter((f) => !drivers.includes(f))).toEqual(['fixtures/emulator/src/drivers/luks.ts', 'fixtures/emulator/src/drivers/qcow2.ts']);
  });

  const driver = (decorator: string, { before = '', after = '', head = "import { blockDriver } from 'gen-modules/runtime';\n" } = {}) =>
    `${head}${before}${decorator}\nexport class Raw {\n  open(): number {\n    return 1;\n  }\n}\n${after}`;

  /** The plain driver, with text `before` or `after` it or another `head`. */
  const plain = (parts: Parameters<typeof driver>[1]) => driver("@blockDriver({ format: 'raw' })", parts);

  const read: [string, string][] = [
    ['plain', driver("@blockDriver({ format: 'raw' })")],
    ['every literal kind', driver("@blockDriver({ format: \"raw\", n: 0, f: 1.5, e: 2e3, h: 0xFF, neg: -7, z: -0, t: true, no: false, nil: null, tpl: `x y`, list: [1, 'a', [2, [3]], { b: 4 }], nested: { a: { b: { c: [] } } }, empty: {} })")],
    ['string keys and trailing commas', driver("@blockDriver({ 'format': 'raw', \"probe\": { score: 1, match: [{ at: 0, bytes: 'AB', },], }, })")],
    ['keywords as keys', driver("@blockDriver({ format: 'raw', default: 1, in: 2, class: 3, import: 4 })")],
    ['escapes', driver("@blockDriver({ format: 'q\\x41\\u0042\\u{1F600}\\n\\t\\0\\'\\\"\\\\\\a\\\nz', probe: { score: 1, match: { at: 0, bytes: 'QFI\\xfb' } } })")],
    ['text beyond ASCII in strings and comments', driver("// Ünïcode — comment\n@blockDriver({ format: 'raw', description: 'κόσμε \u2028 😀' })")],
    ['comments inside the literal', driver("@blockDriver(/* a */ { /* b */ format: /* c */ 'raw' /* d */, // e\n probe: { score: 1, match: [ /* f */ { at: 0, bytes: 'X' } ] } })")],
    ['spread over lines with CRLF', driver("@blockDriver({\r\n  format: 'raw',\r\n  probe: {\r\n    score: 100,\r\n    match: [{ at: 0, bytes: 'AB' }],\r\n  },\r\n})").replace(/\n/g, '\r\n')],
    ['lone CR line breaks', driver("@blockDriver({\r  format: 'raw',\r  probe: { score: 1, match: { at: 0, bytes: 'A' } } })")],
    ['line separators before the decorator', plain({ before: "const s = 'a\u2028b';\n" })],
    ['renamed import', driver("@bd({ format: 'raw' })", { head: "import { type X, blockDriver as bd, type as typeName } from 'gen-modules/runtime';\n" })],
    ['no semicolons', plain({ head: "import { blockDriver } from 'gen-modules/runtime'\nimport { x } from './x.js'\n" })],
    ['decorator after export', "import { blockDriver } from 'gen-modules/runtime';\nexport @blockDriver({ format: 'raw' }) class Raw {}\n"],
    ['export default class', "import { blockDriver } from 'gen-modules/runtime';\n@blockDriver({ format: 'raw' })\nexport default class Raw {}\n"],
    ['anonymous default class', "import { blockDriver } from 'gen-modules/runtime';\nexport default @blockDriver({ format: 'raw' }) class extends Object {}\n"],
    ['after a function', plain({ before: 'function f(a: number) {\n  if (a) /x{/.test(`${a}`);\n  return a / 2 / 3;\n}\n' })],
    [
      'regular expressions, templates and division around it',
      plain({
        after: "const re = /['\"`@{]/g;\nconst t = `a ${`b ${1 + 2}`} @ ${re.source.split(/[/]/)}`;\nlet x = 4 / 2 / 1;\nx = (x) / 2;\nconst y = [1][0]! / 2;\nexport const z = t.length / x;\nconst w = typeof /a/;\n",
      }),
    ],
    ['class heading', "import { blockDriver } from 'gen-modules/runtime';\n@blockDriver({ format: 'raw' })\nexport class Raw<T> extends Base<T> implements D {}\n"],
    ['JavaScript file', driver("@blockDriver({ format: 'raw' })")],
    ['hashbang', `#!/usr/bin/env node\n${driver("@blockDriver({ format: 'raw' })")}`],
    ['unknown option (the checks come later)', driver("@blockDriver({ format: 'raw', colour: 'blue', probe: { score: 'high' } })")],
  ];
  for (const [name, text] of read) {
    it(`reads ${name} as the parser does`, () => {
      const file = name === 'JavaScript file' ? 'src/drivers/raw.js' : 'src/drivers/raw.ts';
      expect(agree(file, text)).toBeDefined();
    });
  }

  it('agrees with the parser on mutations of the files it reads (where the parser finds no syntax error)', () => {
    // A deterministic generator (xorshift) deletes, inserts or repeats one character: the reader
    // must then decline or give the parser's result exactly. A mutation that is a syntax error is
    // the bundler's to report (see literal-scan.ts) and is skipped.
    let seed = 0x9e3779b9;
    const random = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const bases = [...read.map(([, text]) => text), ...['raw', 'vdi', 'vmdk', 'nbd'].map((name) => readFileSync(join(repoRoot, `fixtures/emulator/src/drivers/${name}.ts`), 'utf8'))];
    const inserts = ['@', '/', '*', '`', "'", '"', '{', '}', '(', ')', '[', ']', ',', ':', '-', '!', '\\', '\n', '$', 'x', '0', ' '];
    let compared = 0;
    for (let round = 0; round < 3000; round++) {
      const base = bases[random(bases.length)]!;
      const at = random(base.length);
      const op = random(3);
      const text = op === 0 ? base.slice(0, at) + base.slice(at + 1) : op === 1 ? base.slice(0, at) + inserts[random(inserts.length)] + base.slice(at) : base.slice(0, at + 1) + base.slice(at);
      const literal = scanLiterally('src/drivers/raw.ts', text);
      if (!literal) continue;
      const parsed = scanFile('src/drivers/raw.ts', text);
      if (parsed.diagnostics.some((d) => d.code === 'GM1001')) continue;
      expect(literal, JSON.stringify(text)).toStrictEqual(parsed);
      compared++;
    }
    expect(compared).toBeGreaterThan(1000);
  });

  const declined: [string, string][] = [
    ['a TSX file', 'tsx'],
    ['a name', driver("@blockDriver({ format: NAME })", { before: "const NAME = 'raw';\n" })],
    ['shorthand', driver('@blockDriver({ format })', { before: "const format = 'raw';\n" })],
    ['a spread', driver("@blockDriver({ ...base, format: 'raw' })")],
    ['a computed key', driver("@blockDriver({ ['format']: 'raw' })")],
    ['a numeric key', driver("@blockDriver({ 1: 'raw' })")],
    ['a repeated key', driver("@blockDriver({ format: 'a', format: 'b' })")],
    ['a __proto__ key', driver("@blockDriver({ format: 'raw', __proto__: { x: 1 } })")],
    ['an expression', driver("@blockDriver({ format: 'r' + 'aw' })")],
    ['a template with a substitution', driver('@blockDriver({ format: `r${1}` })')],
    ['a template with an escape', driver('@blockDriver({ format: `r\\x41` })')],
    ['an array hole', driver("@blockDriver({ format: 'raw', list: [1,,2] })")],
    ['a legacy octal escape', driver("@blockDriver({ format: 'r\\101' })")],
    ['a bad escape', driver("@blockDriver({ format: 'r\\xZ' })")],
    ['a big number', driver("@blockDriver({ format: 'raw', n: 1e400 })")],
    ['a number with separators', driver("@blockDriver({ format: 'raw', n: 1_000 })")],
    ['a bigint', driver("@blockDriver({ format: 'raw', n: 10n })")],
    ['an octal number', driver("@blockDriver({ format: 'raw', n: 0o17 })")],
    ['a signed exponent', driver("@blockDriver({ format: 'raw', n: 1e+3 })")],
    ['as const', driver("@blockDriver({ format: 'raw' } as const)")],
    ['no argument', driver('@blockDriver()')],
    ['two arguments', driver("@blockDriver({ format: 'raw' }, 1)")],
    ['a bare decorator', driver('@blockDriver')],
    ['a namespace import', driver("@gm.blockDriver({ format: 'raw' })", { head: "import * as gm from 'gen-modules/runtime';\n" })],
    ['a type-only import', plain({ head: "import type { blockDriver } from 'gen-modules/runtime';\n" })],
    ['a type-only specifier', plain({ head: "import { type blockDriver } from 'gen-modules/runtime';\n" })],
    ['another module', plain({ head: "import { blockDriver } from './runtime.js';\n" })],
    ['another export of the runtime', driver("@createDriverDecorator({ format: 'raw' })", { head: "import { createDriverDecorator } from 'gen-modules/runtime';\n" })],
    ['a shadowing declaration', plain({ after: 'function g(blockDriver: unknown) { return blockDriver; }\n' })],
    ['a re-export of the name', plain({ after: 'export { blockDriver };\n' })],
    ['a second decorator', plain({ after: "@blockDriver({ format: 'qcow' })\nexport class Q {}\n" })],
    ['a member decorator', plain({ after: 'export class M {\n  @dec x = 1;\n}\n' })],
    ['a class that is not exported', "import { blockDriver } from 'gen-modules/runtime';\n@blockDriver({ format: 'raw' })\nclass Raw {}\nexport { Raw };\n"],
    ['an abstract class', "import { blockDriver } from 'gen-modules/runtime';\n@blockDriver({ format: 'raw' })\nexport abstract class Raw {}\n"],
    ['a class expression', "import { blockDriver } from 'gen-modules/runtime';\nexport const Raw = @blockDriver({ format: 'raw' }) class {};\n"],
    ['a decorator inside a function', "import { blockDriver } from 'gen-modules/runtime';\nexport function f() {\n  @blockDriver({ format: 'raw' })\n  class Raw {}\n  return Raw;\n}\n"],
    ["a '/' after a block", plain({ after: 'if (1) {}\n/x/.test("");\n' })],
    ['a name beyond ASCII', plain({ after: 'const café = 1;\n' })],
    ['an escaped name', plain({ after: 'const \\u0061 = 1;\n' })],
    ['an unterminated string', plain({ after: "const s = 'a\n';\n" })],
    ['an unterminated comment', plain({ after: '/* never closed\n' })],
    ['brackets that do not match', plain({ after: 'const a = [1, 2);\n' })],
    ["a '/' after a postfix '++'", plain({ after: 'let i = 0;\ni++ / 2;\n' })],
    ['a regular expression across lines', plain({ after: 'const r = (/a\n/);\n' })],
  ];
  for (const [name, text] of declined) {
    it(`leaves ${name} to the parser`, () => {
      const file = text === 'tsx' ? 'src/drivers/raw.tsx' : 'src/drivers/raw.ts';
      const source = text === 'tsx' ? plain({ after: "export const v = <div>it's</div>;\n" }) : text;
      expect(scanLiterally(file, source)).toBeUndefined();
    });
  }
});
