// The text pre-filter decides which files are parsed: it may let through a file without a
// decorator of ours (a parse wasted), never the other way round.
import { describe, expect, it } from 'vitest';
import { mayHoldDecorator } from '../../src/scanner/prefilter.js';
import { scanTree } from './memory-project.js';

describe('text pre-filter', () => {
  it.each([
    ['no @ at all', 'export const x = 1;\n'],
    ['JSDoc tags', '/**\n * @param x the value\n * @returns twice x\n */\nexport function f(x: number) { return 2 * x; }\n'],
    ['an e-mail address', "const CONTACT = 'support@example.com';\n"],
    ['a global decorator', '@sealed\nclass A {}\n'],
    ['an @ at the end', 'const at = "@";\n'],
  ])('skips a file with %s', (_name, text) => {
    expect(mayHoldDecorator(text)).toBe(false);
  });

  it.each([
    ['an imported decorator', "import { blockDriver } from 'gen-modules/runtime';\n@blockDriver({ format: 'a' }) export class A {}\n"],
    ['a namespace', "import * as gm from 'gen-modules/runtime';\n@gm.blockDriver({ format: 'a' }) export class A {}\n"],
    ['a renamed import', "import { blockDriver as bd } from 'gen-modules/runtime';\n@bd({ format: 'a' }) export class A {}\n"],
    ['comments between @ and the name', "import { blockDriver } from 'x';\n@/* c */ // d\n  blockDriver({}) class A {}\n"],
    ['a parenthesised decorator', "@(decorators[0]) class A {}\n"],
    ['a unicode escape', "import { blockDriver } from 'gen-modules/runtime';\n@\\u0062lockDriver({}) class A {}\n"],
    ['a non-ASCII name', '@dé({}) class A {}\n'],
    ['a local decorator factory', "const chardev = createDriverDecorator('c', ['name']);\n@chardev({ name: 'x' }) export class A {}\n"],
  ])('keeps a file with %s', (_name, text) => {
    expect(mayHoldDecorator(text)).toBe(true);
  });

  it('never hides a driver: JSDoc before a real decorator', async () => {
    const text = "/** @param x */\nimport { blockDriver } from 'gen-modules/runtime';\n/** The qcow driver. @see qemu */\n@blockDriver({ format: 'qcow' })\nexport class Q {}\n";
    const result = await scanTree({ 'src/drivers/q.ts': text, 'src/drivers/doc.ts': '/** @param a */\nexport function f(a: number) { return a; }\n' });
    expect(result.drivers.map((d) => d.name)).toEqual(['qcow']);
    expect(result.stats).toMatchObject({ files: 2, candidates: 1, parsed: 1 });
  });
});
