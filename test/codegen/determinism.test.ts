// Build caches (Nx, Turborepo, Bazel) share outputs between checkouts and machines: the tables
// must be the same bytes wherever the project is, whatever order files are found in.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateFromConfig } from '../../src/codegen/generate.js';
import { loadConfig } from '../../src/config/config.js';
import { ProjectScanner } from '../../src/scanner/scan.js';
import { repoRoot } from '../support/paths.js';

/** The example emulator's sources and the repository config, at a new path (and a deeper one). */
function checkout(depth: number): string {
  let root = mkdtempSync(join(tmpdir(), 'gm-checkout-'));
  for (let i = 0; i < depth; i++) root = join(root, `level ${i}`);
  mkdirSync(root, { recursive: true });
  cpSync(join(repoRoot, 'fixtures/emulator/src'), join(root, 'fixtures/emulator/src'), { recursive: true });
  cpSync(join(repoRoot, 'gen-modules.config.json'), join(root, 'gen-modules.config.json'));
  // A registry table too, with options (and tsconfig paths to reach its decorator).
  writeFileSync(join(root, 'tsconfig.json'), JSON.stringify({ compilerOptions: { paths: { '@chardev/*': ['./chardev/*'] } } }));
  mkdirSync(join(root, 'chardev'));
  writeFileSync(join(root, 'chardev/decorator.ts'), `import { createDriverDecorator } from 'gen-modules/runtime';\nexport const charDriver = createDriverDecorator('charDriver', ['name']);\n`);
  writeFileSync(join(root, 'chardev/pty.ts'), `import { charDriver } from '@chardev/decorator';\n@charDriver({ name: 'pty', description: 'a pty' })\nexport class Pty {}\n`);
  const config = JSON.parse(readFileSync(join(root, 'gen-modules.config.json'), 'utf8')) as Record<string, unknown>;
  config.registries = { charDriver: { out: 'chardev/chardev.gen.ts', drivers: ['chardev/*.ts'] } };
  writeFileSync(join(root, 'gen-modules.config.json'), JSON.stringify(config));
  return root;
}

describe('byte-identical output', () => {
  it('is the same at two checkout paths, and the block table is the repository one', async () => {
    const a = checkout(0);
    const b = checkout(3);
    const ra = await generateFromConfig(await loadConfig(undefined, a));
    const rb = await generateFromConfig(await loadConfig(undefined, b));
    expect(ra.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(ra.outputs.map((o) => o.registry)).toEqual(['blockDriver', 'charDriver']);
    for (let i = 0; i < ra.outputs.length; i++) {
      const textA = readFileSync(ra.outputs[i]!.out, 'utf8');
      const textB = readFileSync(rb.outputs[i]!.out, 'utf8');
      expect(textA).toBe(textB);
      expect(textA).not.toContain(a);
      expect(textA).not.toContain(tmpdir());
    }
    expect(ra.inputs).toEqual(rb.inputs);
    // The copied sources give the table the repository's own config gives.
    const here = await generateFromConfig(await loadConfig(undefined, repoRoot), { check: true });
    expect(ra.content).toBe(here.content);
  });

  it('does not depend on the order files are listed in', async () => {
    const root = checkout(0);
    const loaded = await loadConfig(undefined, root);
    const files = (await new ProjectScanner(loaded).scan()).files;
    const reference = await generateFromConfig(loaded, { check: true, scanner: new ProjectScanner(loaded, { files }) });
    const reversed = await generateFromConfig(loaded, { check: true, scanner: new ProjectScanner(loaded, { files: [...files].reverse() }) });
    expect(reversed.outputs.map((o) => o.content)).toEqual(reference.outputs.map((o) => o.content));
    expect(reversed.diagnostics).toEqual(reference.diagnostics);
  });
});
