// Names, paths and option values that try to break out of the generated code: quotes,
// backslashes, `*/`, `${}`, backticks, newlines, U+2028/U+2029, bidi controls. The output must
// re-parse without errors, stay printable ASCII, and give back exactly the original strings.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { generateFromConfig } from '../../src/codegen/generate.js';
import { literal, q } from '../../src/codegen/emit-table.js';
import { loadConfig } from '../../src/config/config.js';
import { createDriverRegistry, type DriverTable } from '../../src/runtime/index.js';
import { ProjectScanner } from '../../src/scanner/scan.js';
import { loadTypeScript } from '../../src/scanner/typescript.js';

type ConstValueLike = Parameters<typeof literal>[0];

const HOSTILE = ['quo"te', 'back\\slash', 'tmpl${process.exit(1)}`', 'end*/comment', 'new\nline', 'cr\rret', 'sep\u2028ls', 'para\u2029ps', "apos'", 'bidi\u202eevil', 'emoji\u{1f600}', '</script>'];
const DESCRIPTION = `${HOSTILE.join(' ')} "); process.exit(1); ("`;
// As folder names: what an import URL cannot carry (a backslash, line breaks) is GM1012 instead.
const HOSTILE_PATHS = HOSTILE.filter((name) => !/[\\\n\r]/.test(name));

function write(root: string, file: string, text: string): void {
  mkdirSync(dirname(join(root, file)), { recursive: true });
  writeFileSync(join(root, file), text);
}

/** Parses TypeScript text; returns its syntax errors and every string literal in it. */
function parse(text: string): { errors: string[]; strings: string[] } {
  const ts = loadTypeScript();
  const source = ts.createSourceFile('table.ts', text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const errors = ((source as unknown as { parseDiagnostics: { messageText: unknown }[] }).parseDiagnostics ?? []).map((d) => String(d.messageText));
  const strings: string[] = [];
  const visit = (node: import('ts-morph').ts.Node): void => {
    if (ts.isStringLiteral(node)) strings.push(node.text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { errors, strings };
}

describe('hostile names', () => {
  it('q() and literal() give JavaScript that reads back as the same value', () => {
    for (const value of [...HOSTILE, DESCRIPTION]) {
      expect(q(value)).toMatch(/^[\x20-\x7e]*$/);
      expect(new Function(`return ${q(value)};`)()).toBe(value);
    }
    // JSON.parse makes '__proto__' an own key, as the constant evaluator does.
    const object = JSON.parse(`{ "__proto__": { "a": 1 }, ${JSON.stringify(HOSTILE[0])}: ${JSON.stringify([HOSTILE[4], null, true, 1.5])} }`) as Record<string, ConstValueLike>;
    const back = new Function(`return ${literal(object)};`)() as Record<string, unknown>;
    expect(Object.keys(back)).toEqual(['__proto__', HOSTILE[0]]);
    expect(back[HOSTILE[0]!]).toEqual([HOSTILE[4], null, true, 1.5]);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
  });

  it('cannot break the generated tables', async () => {
    const root = mkdtempSync(join(tmpdir(), 'gm-hostile-'));
    const files: string[] = [];
    HOSTILE_PATHS.forEach((name, i) => {
      const file = `src/drivers/${name}/d${i}.ts`;
      files.push(file);
      write(
        root,
        file,
        `import { blockDriver } from 'gen-modules/runtime';\n@blockDriver({ format: 'f${i}', probe: { score: 100, match: { at: ${i * 4}, bytes: 'M${i}' }, module: ${q(`./${name}.probe.ts`)} } })\nexport class D${i} {}\n`,
      );
      write(root, `src/drivers/${name}/${name}.probe.ts`, 'export default () => 100;\n');
    });
    write(root, 'src/chardev/decorator.ts', `import { createDriverDecorator } from 'gen-modules/runtime';\nexport const charDriver = createDriverDecorator('charDriver', ['name']);\n`);
    const charFile = `src/drivers/${HOSTILE_PATHS[0]}/chardev.ts`;
    files.push(charFile);
    write(root, charFile, `import { charDriver } from '../../chardev/decorator.js';\n@charDriver({ name: 'pty', description: ${q(DESCRIPTION)}, nested: { ${q(HOSTILE[0]!)}: [${q(HOSTILE[6]!)}] } })\nexport class Pty {}\n`);
    const configName = 'cfg "\n${x}\u2028.json';
    write(root, configName, JSON.stringify({ drivers: ['src/drivers/**/*.ts'], out: 'src/generated/drivers.gen.ts', registries: { charDriver: { out: 'src/generated/chardev.gen.ts' } } }));

    const loaded = await loadConfig(configName, root);
    // Globs do not match names with line breaks: name the files directly.
    const result = await generateFromConfig(loaded, { scanner: new ProjectScanner(loaded, { files }) });
    expect(result.diagnostics).toEqual([]);
    expect(result.outputs.map((o) => o.outcome)).toEqual(['written', 'written']);

    for (const output of result.outputs) {
      const text = readFileSync(output.out, 'utf8');
      const { errors, strings } = parse(text);
      expect(errors).toEqual([]);
      // One statement per line, nothing outside printable ASCII: no string or comment can span lines.
      for (const line of text.split('\n')) expect(line).toMatch(/^[\x20-\x7e]*$/);
      expect(text).toContain(`--config ${q(configName)}`);
      if (output.registry === 'blockDriver') {
        for (const file of files.slice(0, HOSTILE_PATHS.length)) expect(strings).toContain(file);
        for (const name of HOSTILE_PATHS) expect(strings).toContain(`src/drivers/${name}/${name}.probe.ts`);
      } else {
        expect(strings).toContain(DESCRIPTION);
      }
    }

    // Evaluated, the tables hold exactly the original strings.
    const block = (await import(pathToFileURL(result.outputs[0]!.out).href)) as { driverTable: DriverTable };
    expect(block.driverTable.drivers.map((d) => d.source).sort()).toEqual(files.slice(0, HOSTILE_PATHS.length).sort());
    expect(Object.keys(block.driverTable.probeModules).sort()).toEqual(HOSTILE_PATHS.map((n) => `src/drivers/${n}/${n}.probe.ts`).sort());
    // And every import in it reaches its file: each driver loads.
    const registry = createDriverRegistry(block.driverTable);
    for (const [i, name] of HOSTILE_PATHS.entries()) expect((await registry.load<{ name: string }>(`f${i}`)).name, name).toBe(`D${i}`);
    const chardev = (await import(pathToFileURL(result.outputs[1]!.out).href)) as { driverOptions: Record<string, { description: string; nested: Record<string, string[]> }> };
    expect(chardev.driverOptions.pty!.description).toBe(DESCRIPTION);
    expect(chardev.driverOptions.pty!.nested).toEqual({ [HOSTILE[0]!]: [HOSTILE[6]] });

    // A folder name an import cannot carry: GM1012 at the decorator, nothing written.
    for (const name of HOSTILE.filter((n) => !HOSTILE_PATHS.includes(n))) {
      const file = `src/other/${name}/x.ts`;
      write(root, file, `import { blockDriver } from 'gen-modules/runtime';\n@blockDriver({ format: 'x' })\nexport class X {}\n`);
      const refused = await generateFromConfig(loaded, { scanner: new ProjectScanner(loaded, { files: [file] }) });
      expect(refused.diagnostics.map((d) => [d.code, d.file, d.line])).toEqual([['GM1012', file, 2]]);
      expect(refused.outcome).toBe('skipped');
    }
  });
});
