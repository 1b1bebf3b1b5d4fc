// Watch and dev: drivers added and removed while a build is live. esbuild: ctx.rebuild() of one
// context (a driver added to a live context is lazy and in the manifest, named by chunkNames, with
// a warning: esbuild cannot add entry points after setup). rollup: watch() rebuilds on its own
// when a driver file appears or goes. Vite: the dev server regenerates the table, and the next
// load of the table has the new set, with standard decorators lowered.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BuildManifest } from '../../src/runtime/manifest.js';
import { runNode } from '../support/run-node.js';
import { cleanup, copyApp, esbuildBaseOptions, runtimeEntry } from './support/build-app.js';

const EPSILON = `import { blockDriver } from 'gen-modules/runtime';
import { checksum } from '../shared/codec.js';

@blockDriver({ format: 'epsilon', probe: { score: 100, match: [{ minLength: 8 }, { at: 0, bytes: 'EPSILON1' }] } })
export class EpsilonDriver {
  static readonly marker = 'epsilon-driver-code';
  describe(data: Uint8Array): { format: string; checksum: number } {
    return { format: 'epsilon', checksum: checksum(data) };
  }
}
`;

const drivers = (manifest: BuildManifest) => Object.fromEntries(Object.entries(manifest.drivers).map(([name, d]) => [name, d.chunk ?? d.state]));
const readManifest = (out: string) => JSON.parse(readFileSync(join(out, 'gen-modules-manifest.json'), 'utf8')) as BuildManifest;

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const start = Date.now();
  while (!(await condition())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function read(out: string, app: string, magic: string): Promise<Record<string, unknown>> {
  const image = join(app, `${magic}.img`);
  writeFileSync(image, `${magic}${'.'.repeat(100)}`);
  const result = await runNode([join(out, 'main.mjs'), 'read', image]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe('watch and dev pick up added and removed drivers', () => {
  let app: string | undefined;
  afterEach(() => cleanup(app));

  // Lazy entries reach esbuild through a symlink of the plugin's (entry-links.ts); with
  // preserveSymlinks the plugin uses an onResolve hook instead. Both must survive a removed driver.
  // With a node_modules folder the scan cache tells each rebuild what changed (a fresh scanner
  // reads it); without one the context's scanner scans everything again.
  it.each([
    [false, false],
    [true, false],
    [false, true],
  ])('esbuild (preserveSymlinks: %s, scan cache: %s): ctx.rebuild() after an edit, after adding and after removing a driver', async (preserveSymlinks, scanCache) => {
    const linkFolders = () => readdirSync(tmpdir()).filter((f) => f.startsWith('gen-modules-entries-'));
    // Folders of this context's links that hold a mirror (made when a driver goes away).
    const mirrored = () => linkFolders().filter((f) => existsSync(join(tmpdir(), f, 'mirror')));
    const foldersBefore = mirrored();
    app = copyApp('basic');
    if (scanCache) mkdirSync(join(app, 'node_modules'));
    const out = join(app, 'dist');
    const { context } = await import('esbuild');
    const { default: genModules } = await import('gen-modules/esbuild');
    const ctx = await context({
      ...esbuildBaseOptions(app, out),
      logLevel: 'silent',
      preserveSymlinks,
      plugins: [genModules({ cwd: app })],
    });
    try {
      await ctx.rebuild();
      expect(Object.keys(drivers(readManifest(out))).sort()).toEqual(['alpha', 'beta', 'gamma']);
      expect(existsSync(join(app, 'node_modules/.cache/gen-modules'))).toBe(scanCache);

      // A probe signature edited at once, the file's size unchanged: the next rebuild sees it.
      const alpha = join(app, 'src/drivers/alpha.ts');
      writeFileSync(alpha, readFileSync(alpha, 'utf8').replace("bytes: 'ALPHA001'", "bytes: 'ALPHA002'"));
      expect((await ctx.rebuild()).errors).toEqual([]);
      expect(await read(out, app, 'ALPHA002')).toMatchObject({ format: 'alpha', loaded: ['alpha'] });
      writeFileSync(alpha, readFileSync(alpha, 'utf8').replace("bytes: 'ALPHA002'", "bytes: 'ALPHA001'"));
      await ctx.rebuild();

      writeFileSync(join(app, 'src/drivers/epsilon.ts'), EPSILON);
      const added = await ctx.rebuild();
      const manifest = readManifest(out);
      expect(drivers(manifest).epsilon).toMatch(/^epsilon-[A-Z0-9]{8}\.mjs$/);
      expect(manifest.drivers.epsilon!.imports).toEqual(manifest.drivers.alpha!.imports);
      expect(added.warnings.map((w) => w.text).join('\n')).toContain(`driver 'epsilon' was added while this esbuild context was live`);
      expect(await read(out, app, 'EPSILON1')).toMatchObject({ format: 'epsilon', loaded: ['epsilon'] });

      const betaSource = readFileSync(join(app, 'src/drivers/beta.ts'), 'utf8');
      rmSync(join(app, 'src/drivers/beta.ts'));
      const removed = await ctx.rebuild();
      expect(removed.errors).toEqual([]);
      expect(mirrored().filter((f) => !foldersBefore.includes(f))).toHaveLength(preserveSymlinks ? 0 : 1);
      const after = readManifest(out);
      expect(Object.keys(after.drivers).sort()).toEqual(['alpha', 'epsilon', 'gamma']);
      expect(after.probes).toEqual({});
      expect(readFileSync(join(app, 'src/generated/drivers.gen.ts'), 'utf8')).not.toContain('"beta"');
      expect(await read(out, app, 'ALPHA001')).toMatchObject({ format: 'alpha', loaded: ['alpha'] });

      // Back again: its setup entry points at the file once more.
      writeFileSync(join(app, 'src/drivers/beta.ts'), betaSource);
      const restored = await ctx.rebuild();
      expect(restored.errors).toEqual([]);
      expect(drivers(readManifest(out)).beta).toMatch(/^drivers\/beta-[A-Z0-9]{8}\.mjs$/);
    } finally {
      await ctx.dispose();
    }
    // esbuild runs onDispose callbacks just after dispose() resolves. A links folder without a
    // mirror goes back to the plugin's pool; one with a mirror is deleted.
    await until('the mirrored links folder to go with the context', () => mirrored().every((f) => foldersBefore.includes(f)), 5_000);
  });

  it('rollup: watch() rebuilds when a driver file is added or removed', async () => {
    app = copyApp('basic');
    const out = join(app, 'dist');
    const { watch } = await import('rollup');
    const { default: genModules } = await import('gen-modules/rollup');
    let builds = 0;
    let lastError: string | undefined;
    const watcher = watch({
      input: { main: join(app, 'src/main.ts') },
      external: [/^node:/],
      plugins: [{ name: 'alias', resolveId: (s: string) => (s === 'gen-modules/runtime' ? runtimeEntry : null) }, genModules({ cwd: app, typescript: true })],
      output: { dir: out, format: 'es', entryFileNames: '[name].mjs', chunkFileNames: '[name]-[hash].mjs' },
      onwarn: () => {},
      watch: { buildDelay: 50 },
    });
    watcher.on('event', (event) => {
      if (event.code === 'BUNDLE_END') void event.result.close();
      if (event.code === 'END') builds++;
      if (event.code === 'ERROR') lastError = event.error.message;
    });
    try {
      await until('the first build', () => builds >= 1 || lastError !== undefined);
      expect(lastError).toBeUndefined();
      expect(Object.keys(readManifest(out).drivers).sort()).toEqual(['alpha', 'beta', 'gamma']);

      writeFileSync(join(app, 'src/drivers/epsilon.ts'), EPSILON);
      await until('a rebuild with epsilon', () => 'epsilon' in readManifest(out).drivers);
      expect(drivers(readManifest(out)).epsilon).toMatch(/^drivers\/epsilon-[\w-]{8}\.mjs$/);
      expect(await read(out, app, 'EPSILON1')).toMatchObject({ format: 'epsilon', loaded: ['epsilon'] });

      rmSync(join(app, 'src/drivers/beta.ts'));
      await until('a rebuild without beta', () => !('beta' in readManifest(out).drivers));
      expect(Object.keys(readManifest(out).drivers).sort()).toEqual(['alpha', 'epsilon', 'gamma']);
      expect(lastError).toBeUndefined();
    } finally {
      await watcher.close();
    }
  });

  it('Vite: the dev server regenerates the table and serves the new driver set', async () => {
    app = copyApp('basic');
    const { createServer } = await import('vite');
    const { default: genModules } = await import('gen-modules/vite');
    const server = await createServer({
      configFile: false,
      root: app,
      logLevel: 'silent',
      appType: 'custom',
      plugins: [{ name: 'alias', enforce: 'pre', resolveId: (s: string) => (s === 'gen-modules/runtime' ? runtimeEntry : null) }, genModules({ cwd: app })],
      server: { middlewareMode: true, hmr: false },
      optimizeDeps: { noDiscovery: true, include: [] },
    });
    type Table = { drivers: { name: string; state: string; load?: () => Promise<Record<string, { marker?: string }>> }[] };
    const table = async () => ((await server.ssrLoadModule('/src/generated/drivers.gen.ts')) as { driverTable: Table }).driverTable;
    const names = async () => (await table()).drivers.map((d) => d.name).sort();
    const tableFile = join(app, 'src/generated/drivers.gen.ts');
    try {
      expect(await names()).toEqual(['alpha', 'beta', 'delta', 'gamma']);

      writeFileSync(join(app, 'src/drivers/epsilon.ts'), EPSILON);
      await until('the table to list epsilon', async () => (await names()).includes('epsilon'));
      expect(readFileSync(tableFile, 'utf8')).toContain('"epsilon"');
      // Its module loads in dev, standard decorators lowered by the plugin's pre-transform.
      const epsilon = (await table()).drivers.find((d) => d.name === 'epsilon')!;
      expect((await epsilon.load!()).EpsilonDriver?.marker).toBe('epsilon-driver-code');
      const runtime = (await server.ssrLoadModule(runtimeEntry)) as { registeredClass: (r: string, n: string) => unknown };
      expect(runtime.registeredClass('blockDriver', 'epsilon')).toBeDefined();

      rmSync(join(app, 'src/drivers/beta.ts'));
      await until('the table to drop beta', async () => !(await names()).includes('beta'));
      expect(await names()).toEqual(['alpha', 'delta', 'epsilon', 'gamma']);
    } finally {
      await server.close();
    }
  });
});
