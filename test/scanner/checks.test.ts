// Checks on single drivers and on the set: each a diagnostic with a stable code and a precise
// place, every error of a run reported together.
import { describe, expect, it } from 'vitest';
import type { RegistryConfig } from '../../src/config/config.js';
import { scanTree, type Tree } from './memory-project.js';

const head = `import { blockDriver } from 'gen-modules/runtime';\n`;
const codes = (r: { diagnostics: { code: string; file: string; line: number; column: number }[] }) => r.diagnostics.map((d) => `${d.code} ${d.file}:${d.line}:${d.column}`);

describe('checks', () => {
  it('reports duplicate names with both locations, and duplicate prefixes', async () => {
    const tree: Tree = {
      'src/drivers/a.ts': `${head}@blockDriver({ format: 'qcow2' }) export class A {}\n@blockDriver({ protocol: 'nbd', prefixes: ['nbd://'] }) export class N {}\n`,
      'src/drivers/b.ts': `${head}\n@blockDriver({ format: 'qcow2' }) export class B {}\n@blockDriver({ protocol: 'nbd2', prefixes: ['nbd://'] }) export class N2 {}\n`,
    };
    const result = await scanTree(tree);
    expect(result.diagnostics.map((d) => [d.code, d.file, d.line, d.message, d.related])).toEqual([
      ['GM2001', 'src/drivers/b.ts', 3, "duplicate format name 'qcow2'", [{ file: 'src/drivers/a.ts', line: 2, column: 1, message: 'first declared here' }]],
      ['GM2003', 'src/drivers/b.ts', 4, "protocol prefix 'nbd://' is declared twice", [{ file: 'src/drivers/a.ts', line: 3, column: 1, message: "declared by 'nbd' here" }]],
    ]);
  });

  it('reports names outside the safe pattern', async () => {
    const result = await scanTree({ 'src/drivers/a.ts': `${head}@blockDriver({ format: 'Bad Name"' }) export class A {}\n` });
    expect(codes(result)).toEqual(['GM1008 src/drivers/a.ts:2:16']);
    expect(result.diagnostics[0]!.message).toContain('/^[a-z][a-z0-9_-]{0,63}$/');
  });

  it('reports unknown option keys with a suggestion', async () => {
    const result = await scanTree({ 'src/drivers/a.ts': `${head}@blockDriver({ format: 'a', prob: { score: 100 }, descripton: 'x', zzz: 1 }) export class A {}\n` });
    expect(result.diagnostics.map((d) => d.message)).toEqual([
      "unknown option 'prob' in @blockDriver(...); did you mean 'probe'?",
      "unknown option 'descripton' in @blockDriver(...); did you mean 'description'?",
      "unknown option 'zzz' in @blockDriver(...)",
    ]);
  });

  it('points malformed probes at the offending value', async () => {
    const text = `${head}@blockDriver({\n  format: 'a',\n  probe: { score: 100, match: [{ minLength: 8 }, { at: 'x', u32be: 1 }, { at: 0, u16le: 70000 }] },\n}) export class A {}\n`;
    const result = await scanTree({ 'src/drivers/a.ts': text });
    expect(result.diagnostics.map((d) => `${d.code} ${d.line}:${d.column} ${d.message}`)).toEqual([
      'GM3001 4:52 invalid probe: probe.match[1].at must be an integer offset within ±1048576 (negative counts from the end)',
      'GM3001 4:82 invalid probe: probe.match[2].u16le must be an unsigned 16-bit integer (a number, or a "0x..." string above 2^53)',
    ]);
  });

  it('reports two drivers with the same definite signature, in any test order', async () => {
    const probe = (order: string) => `probe: { score: 100, match: ${order} }`;
    const tree: Tree = {
      'src/drivers/a.ts': `${head}@blockDriver({ format: 'a', ${probe(`[{ minLength: 8 }, { at: 0, bytes: 'MAGI' }]`)} }) export class A {}\n`,
      'src/drivers/b.ts': `${head}@blockDriver({ format: 'b', ${probe(`[{ at: 0, bytes: 'MAGI' }, { minLength: 8 }]`)} }) export class B {}\n`,
      'src/drivers/c.ts': `${head}@blockDriver({ format: 'c', probe: { score: 50, match: [{ at: 0, bytes: 'MAGI' }, { minLength: 8 }] } }) export class C {}\n`,
    };
    const result = await scanTree(tree);
    expect(result.diagnostics.map((d) => [d.code, d.file, d.message, d.related[0]?.file])).toEqual([
      ['GM2002', 'src/drivers/b.ts', "driver 'b' declares the same definite probe signature as 'a'", 'src/drivers/a.ts'],
    ]);
  });

  it('reports every error of the run together, sorted by place', async () => {
    const tree: Tree = {
      'src/drivers/a.ts': `${head}@blockDriver({ format: 'a', probe: { score: 0 } }) class A {}\n`,
      'src/drivers/b.ts': `${head}@blockDriver({ format: 'a', extra: 1 }) export class B {}\n`,
      'src/drivers/c.ts': `${head}@blockDriver({ format: notDeclared }) export class C {}\n`,
      'src/drivers/d.ts': `${head}@blockDriver({ format: 'd' ) export class D {}\n`,
      'src/drivers/e.ts': `${head}@blockDriver() export class E {}\n@blockDriver({}) export class F {}\n`,
    };
    const result = await scanTree(tree);
    expect(result.diagnostics.map((d) => d.code)).toEqual(['GM1006', 'GM3001', 'GM3001', 'GM1004', 'GM1002', 'GM1001', 'GM1007', 'GM1005']);
    expect(result.drivers).toEqual([]);
  });

  it('checks options of other registries: key field, safe name, allowed options', async () => {
    const decorator = `import { createDriverDecorator } from 'gen-modules/runtime';\nexport const charDriver = createDriverDecorator('charDriver', ['name']);\n`;
    const registry: RegistryConfig = { out: 'src/generated/chardev.gen.ts', drivers: ['src/drivers/*.ts'], states: { pty: 'disabled' }, defaultState: 'builtin', options: ['name', 'description'] };
    const tree: Tree = {
      'src/chardev.ts': decorator,
      'src/drivers/a.ts': `import { charDriver } from '../chardev.js';\n@charDriver({ name: 'pty', description: 'a pty' }) export class Pty {}\n@charDriver({ name: 'stdio', descriptoin: 'x' }) export class Stdio {}\n@charDriver({ name: 'Bad' }) export class Bad {}\n@charDriver({ description: 'nameless' }) export class Nameless {}\n`,
    };
    const result = await scanTree(tree, { config: { registries: { charDriver: registry } } });
    expect(result.diagnostics.map((d) => `${d.code} ${d.line} ${d.message}`)).toEqual([
      "GM1004 3 unknown option 'descriptoin' in @charDriver(...); did you mean 'description'?",
      "GM1008 4 driver name 'Bad' is not allowed: names must match /^[a-z][a-z0-9_-]{0,63}$/ (lower-case letter, then letters, digits, _ or -)",
      "GM1005 5 @charDriver(...) needs exactly one of 'name'",
    ]);
    expect(result.drivers.map((d) => [d.registry, d.name, d.state, d.options])).toEqual([['charDriver', 'pty', 'disabled', { name: 'pty', description: 'a pty' }]]);
  });

  it('warns about a createDriverDecorator registry the config does not declare', async () => {
    const tree: Tree = {
      'src/drivers/a.ts': `import { createDriverDecorator } from 'gen-modules/runtime';\nconst chardriver = createDriverDecorator('chardriver', ['name']);\n@chardriver({ name: 'pty' }) export class Pty {}\n`,
    };
    const registry: RegistryConfig = { out: 'src/generated/c.gen.ts', drivers: [], states: {}, defaultState: 'module', keys: ['name'] };
    const result = await scanTree(tree, { config: { registries: { charDriver: registry } } });
    expect(result.diagnostics.map((d) => [d.code, d.severity, d.message])).toEqual([
      ['GM1010', 'warning', "@chardriver is a driver decorator (createDriverDecorator('chardriver', ...)) but the config declares no registry 'chardriver', so no table lists it; did you mean 'charDriver'?"],
    ]);
  });

  it('reports registry keys that differ between the config and createDriverDecorator', async () => {
    const tree: Tree = {
      'src/drivers/a.ts': `import { createDriverDecorator } from 'gen-modules/runtime';\nconst device = createDriverDecorator('device', ['id']);\n@device({ id: 'pci', name: 'p' }) export class Pci {}\n`,
    };
    const registry: RegistryConfig = { out: 'src/generated/d.gen.ts', drivers: [], states: {}, defaultState: 'module', keys: ['name'] };
    const result = await scanTree(tree, { config: { registries: { device: registry } } });
    expect(result.diagnostics.map((d) => [d.code, d.message])).toEqual([['GM1011', "registry 'device' names drivers by 'id' here but by 'name' in the config"]]);
  });
});
