// The generated table is deterministic and written only when it changed; --check catches a
// stale table. Real files in a temp project, the real CLI from dist/.
import { mkdtempSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { generateFromConfig, renderTable } from '../../src/codegen/generate.js';
import { genModulesBin } from '../support/paths.js';
import { runNode } from '../support/run-node.js';

function driverSource(name: string, magic: string): string {
  return [
    `import { blockDriver } from 'gen-modules/runtime';`,
    `@blockDriver({ format: '${name}', probe: { score: 100, match: { at: 0, bytes: '${magic}' } } })`,
    `export class ${name.toUpperCase()}Driver {}`,
    '',
  ].join('\n');
}

function makeProject(names: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'gm-codegen-'));
  mkdirSync(join(dir, 'src/drivers'), { recursive: true });
  writeFileSync(join(dir, 'gen-modules.config.json'), JSON.stringify({ drivers: ['src/drivers/*.ts'], out: 'src/generated/drivers.gen.ts' }));
  for (const name of names) writeFileSync(join(dir, `src/drivers/${name}.ts`), driverSource(name, name.slice(0, 4).toUpperCase()));
  return dir;
}

const NAMES = ['qcow2', 'vmdk', 'vdi', 'vhdx', 'qed', 'parallels', 'bochs', 'cloop'];

describe('generated table', () => {
  it('is the same bytes whatever order the drivers come in', async () => {
    const dir = makeProject(NAMES);
    const loaded = await loadConfig(undefined, dir);
    const { drivers } = await generateFromConfig(loaded, { check: true });
    expect(drivers.map((d) => d.name).sort()).toEqual([...NAMES].sort());
    const reference = renderTable(loaded, drivers);
    let seed = 7;
    for (let round = 0; round < 20; round++) {
      const shuffled = [...drivers].sort(() => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % 3) - 1);
      expect(renderTable(loaded, shuffled)).toBe(reference);
    }
  });

  it('is byte-identical for the same sources at another path', async () => {
    const a = makeProject(NAMES);
    const b = makeProject([...NAMES].reverse());
    await generateFromConfig(await loadConfig(undefined, a));
    await generateFromConfig(await loadConfig(undefined, b));
    const out = 'src/generated/drivers.gen.ts';
    expect(readFileSync(join(a, out), 'utf8')).toBe(readFileSync(join(b, out), 'utf8'));
    expect(readFileSync(join(a, out), 'utf8')).not.toContain(a);
  });

  it('writes nothing on a second run', async () => {
    const dir = makeProject(NAMES);
    const loaded = await loadConfig(undefined, dir);
    expect((await generateFromConfig(loaded)).outcome).toBe('written');
    const out = join(dir, 'src/generated/drivers.gen.ts');
    const before = statSync(out).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    expect((await generateFromConfig(loaded)).outcome).toBe('unchanged');
    expect(statSync(out).mtimeMs).toBe(before);
  });

  it('--check exits 1 on a stale table and 0 once regenerated', async () => {
    const dir = makeProject(NAMES.slice(0, 3));
    expect((await runNode([genModulesBin], { cwd: dir })).code).toBe(0);
    expect((await runNode([genModulesBin, '--check'], { cwd: dir })).code).toBe(0);
    writeFileSync(join(dir, 'src/drivers/qed.ts'), driverSource('qed', 'QED\\0'));
    const stale = await runNode([genModulesBin, '--check'], { cwd: dir });
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('stale');
    expect(readFileSync(join(dir, 'src/generated/drivers.gen.ts'), 'utf8')).not.toContain('"qed"');
    expect((await runNode([genModulesBin], { cwd: dir })).code).toBe(0);
    expect((await runNode([genModulesBin, '--check'], { cwd: dir })).code).toBe(0);
  });

  it('reports usage and config errors with exit 2', async () => {
    const dir = makeProject(['qcow2']);
    const usage = await runNode([genModulesBin, '--chek'], { cwd: dir });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("did you mean '--check'");
    writeFileSync(join(dir, 'gen-modules.config.json'), '{ "drivers": ["src/drivers/*.ts"], "outt": "x.ts" }');
    const config = await runNode([genModulesBin], { cwd: dir });
    expect(config.code).toBe(2);
    expect(config.stderr).toContain("unknown option 'outt'");
  });

  it('passes --check at the repository root', async () => {
    const result = await runNode([genModulesBin, '--check']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });
});
