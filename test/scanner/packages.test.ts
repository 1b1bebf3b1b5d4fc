// Drivers outside the application's own folder: installed driver packages named by the config,
// workspace packages (linked into node_modules, or named by a relative glob).
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateFromConfig } from '../../src/codegen/generate.js';
import { loadConfig } from '../../src/config/config.js';
import { scan } from '../../src/scanner/scan.js';
import { writeFiles } from '../support/files.js';

const head = `import { blockDriver } from 'gen-modules/runtime';\n`;

/** A monorepo: apps/emu (the config), an installed package and a linked workspace package. */
function monorepo(): string {
  const root = mkdtempSync(join(tmpdir(), 'gm-packages-'));
  writeFiles(root, {
    'apps/emu/gen-modules.config.json': JSON.stringify({
      drivers: ['src/drivers/*.ts', '../../packages/net/src/drivers/*.ts'],
      out: 'src/generated/drivers.gen.ts',
      packages: ['@acme/qemu-drivers', { name: '@acme/chardev', drivers: ['lib/*.ts'] }],
    }),
    'apps/emu/src/drivers/raw.ts': `${head}@blockDriver({ format: 'raw' }) export class Raw {}\n`,
    // Installed: sources under src/, compiled under dist/ (what the generated code imports).
    'apps/emu/node_modules/@acme/qemu-drivers/package.json': JSON.stringify({
      name: '@acme/qemu-drivers',
      'gen-modules': { drivers: ['src/drivers/*.ts'], rootDir: 'src', outDir: 'dist' },
    }),
    'apps/emu/node_modules/@acme/qemu-drivers/src/drivers/vhd.ts': `${head}import { CONECTIX } from '../magic.js';\n@blockDriver({ format: 'vpc', probe: { score: 100, match: { at: 0, bytes: CONECTIX }, module: '../probes/vpc.ts' } }) export class VhdDriver {}\n`,
    'apps/emu/node_modules/@acme/qemu-drivers/src/magic.ts': `export const CONECTIX = 'conectix';\n`,
    'apps/emu/node_modules/@acme/qemu-drivers/src/probes/vpc.ts': `export default () => 100;\n`,
    'apps/emu/node_modules/@acme/qemu-drivers/dist/drivers/vhd.js': `export class VhdDriver {}\n`,
    // A workspace package, linked into node_modules by the package manager.
    'packages/chardev/package.json': JSON.stringify({ name: '@acme/chardev' }),
    'packages/chardev/lib/nbd.ts': `${head}@blockDriver({ protocol: 'nbd', prefixes: ['nbd://'] }) export class Nbd {}\n`,
    // A workspace package named by a relative glob.
    'packages/net/src/drivers/http.ts': `${head}@blockDriver({ protocol: 'http', prefixes: ['http://'] }) export class Http {}\n`,
  });
  mkdirSync(join(root, 'apps/emu/node_modules/@acme'), { recursive: true });
  symlinkSync(join(root, 'packages/chardev'), join(root, 'apps/emu/node_modules/@acme/chardev'), 'dir');
  return root;
}

describe('driver packages', () => {
  it('finds drivers of installed and workspace packages and imports them by package specifier', async () => {
    const root = monorepo();
    const loaded = await loadConfig(undefined, join(root, 'apps/emu'));
    const result = await generateFromConfig(loaded);
    expect(result.diagnostics).toEqual([]);
    expect(result.drivers.map((d) => [d.name, d.file, d.package?.name])).toEqual([
      ['raw', 'src/drivers/raw.ts', undefined],
      ['vpc', 'node_modules/@acme/qemu-drivers/src/drivers/vhd.ts', '@acme/qemu-drivers'],
      ['http', '../../packages/net/src/drivers/http.ts', undefined],
      // The link is followed to the real folder: the file a bundler sees.
      ['nbd', '../../packages/chardev/lib/nbd.ts', '@acme/chardev'],
    ]);
    const table = readFileSync(join(root, 'apps/emu/src/generated/drivers.gen.ts'), 'utf8');
    expect(table).toContain('load: () => import("@acme/qemu-drivers/dist/drivers/vhd.js")');
    expect(table).toContain('"node_modules/@acme/qemu-drivers/src/probes/vpc.ts": () => import("@acme/qemu-drivers/dist/probes/vpc.js")');
    expect(table).toContain('load: () => import("@acme/chardev/lib/nbd.js")');
    expect(table).toContain('load: () => import("../../../../packages/net/src/drivers/http.js")');
    expect(table).not.toContain(root);
    expect(result.inputs).toContain('node_modules/@acme/qemu-drivers/package.json');
    expect(result.inputs).toContain('node_modules/@acme/qemu-drivers/src/magic.ts');
  });

  // After an edit, the scan cache gives the other files their drivers from the kept scan: those of
  // packages keep their package and their real-path file.
  it('with the scan cache, an edit elsewhere keeps the packages\' drivers as a full scan makes them', async () => {
    const root = monorepo();
    const app = join(root, 'apps/emu');
    // The look-up of tsconfig.json stops here, not in the busy temporary folder (whose mtime would
    // keep the scan from being cached).
    writeFiles(root, { 'tsconfig.json': '{}' });
    const dated = (secondsAgo: number, files: string[]) => {
      const when = new Date(Date.now() - secondsAgo * 1000);
      for (const file of files) utimesSync(file, when, when);
    };
    const everything = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [...everything(join(dir, e.name)), join(dir, e.name)] : [join(dir, e.name)]));
    dated(60, [...everything(root), root]);
    const loaded = await loadConfig(undefined, app);
    const full = await scan(loaded, { cache: true });
    expect(full.stats.read).toBeGreaterThan(0);
    expect((await scan(loaded, { cache: true })).stats.read).toBe(0);
    writeFiles(app, { 'src/drivers/raw.ts': `${head}@blockDriver({ format: 'raw', probe: { score: 1, match: { at: 0, bytes: 'RAW!' } } }) export class Raw {}\n` });
    dated(50, [join(app, 'src/drivers/raw.ts')]);
    const partial = await scan(loaded, { cache: true });
    expect(partial.stats).toMatchObject({ read: 1, parsed: 1, reused: 3 });
    expect(partial.drivers).toEqual((await scan(loaded)).drivers);
    expect(partial.drivers.map((d) => [d.name, d.file, d.package?.name])).toEqual(full.drivers.map((d) => [d.name, d.file, d.package?.name]));
  });

  it('reports a package that is not installed or names no drivers, at its place in the config', async () => {
    const root = mkdtempSync(join(tmpdir(), 'gm-packages-'));
    writeFiles(root, {
      'gen-modules.config.json': `{\n  "drivers": ["src/*.ts"],\n  "out": "gen/t.gen.ts",\n  "packages": ["@acme/missing", "plain"]\n}\n`,
      'node_modules/plain/package.json': '{ "name": "plain" }',
      'src/a.ts': `${head}@blockDriver({ format: 'a' }) export class A {}\n`,
    });
    const result = await scan(await loadConfig(undefined, root));
    expect(result.diagnostics.map((d) => `${d.code} ${d.file}:${d.line}:${d.column} ${d.message}`)).toEqual([
      "GM9004 gen-modules.config.json:4:16 driver package '@acme/missing': not installed: no node_modules/@acme/missing/package.json in the config's folder or any folder above it (run npm install?)",
      `GM9004 gen-modules.config.json:4:33 driver package 'plain': its package.json has no "gen-modules" field; name its driver files in the config: { "name": "plain", "drivers": ["src/drivers/*.ts"] }`,
    ]);
  });

  it('reports a file it cannot read (GM1009) and goes on with the others', async () => {
    const root = mkdtempSync(join(tmpdir(), 'gm-unreadable-'));
    writeFiles(root, {
      'gen-modules.config.json': JSON.stringify({ drivers: ['src/*.ts'], out: 'gen/t.gen.ts' }),
      'src/a.ts': `${head}@blockDriver({ format: 'a' }) export class A {}\n`,
      'src/b.ts': `${head}@blockDriver({ format: 'b' }) export class B {}\n`,
    });
    const result = await scan(await loadConfig(undefined, root), (path) => {
      if (path.endsWith('b.ts')) throw Object.assign(new Error('permission denied'), { code: 'EACCES' });
      return readFileSync(path, 'utf8');
    });
    expect(result.diagnostics.map((d) => [d.code, d.file, d.message])).toEqual([['GM1009', 'src/b.ts', 'cannot read file: EACCES']]);
    expect(result.drivers.map((d) => d.name)).toEqual(['a']);
  });
});
