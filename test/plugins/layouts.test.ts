// Source layouts beyond one driver per file, in all three bundlers: two drivers in one file (one
// chunk, both in the manifest), a second registry whose driver has the same name as a block driver
// (two chunks, two manifest keys), and the properties of the output every consumer relies on: the
// manifest's sizes and integrity values describe the bytes on disk, the build id statement sits
// before a chunk's sourceMappingURL comment, and esbuild's `write: false` yields the same files.
// Vite finishes a written bundle on disk (rollup-core.ts): the files other plugins see in their
// writeBundle are final, and `write: false` (finished in memory) gives the same chunks.
import { createHash } from 'node:crypto';
import type { OutputFile } from 'esbuild';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/runtime/manifest.js';
import { runNode } from '../support/run-node.js';
import { BUNDLERS, buildApp, cleanup } from './support/build-app.js';
import { writeFiles } from '../support/files.js';
import { expectManifestMatchesDisk } from './support/manifest-on-disk.js';

const files: Record<string, string> = {
  'gen-modules.config.json': JSON.stringify({
    drivers: ['src/drivers/*.ts'],
    out: 'src/generated/drivers.gen.ts',
    registries: { charDriver: { out: 'src/generated/chardev.gen.ts', drivers: ['src/chardev/*.ts'] } },
    packages: ['@acme/extra-drivers'],
  }),
  // An installed driver package: TypeScript sources (scanned) and tsc's output (imported, bundled).
  'node_modules/@acme/extra-drivers/package.json': JSON.stringify({
    name: '@acme/extra-drivers',
    type: 'module',
    'gen-modules': { drivers: ['src/*.ts'], rootDir: 'src', outDir: 'dist' },
  }),
  'node_modules/@acme/extra-drivers/src/pkgfmt.ts': `import { blockDriver } from 'gen-modules/runtime';\n@blockDriver({ format: 'pkgfmt', probe: { score: 100, match: { at: 0, bytes: 'PKGF' }, module: './probes/pkgfmt.ts' } })\nexport class PkgFmt { readonly who = 'package'; }\n`,
  'node_modules/@acme/extra-drivers/src/probes/pkgfmt.ts': `export default function probe(data: { head: Uint8Array }): number { return data.head[4] === 0x21 ? 100 : 0; }\n`,
  'node_modules/@acme/extra-drivers/dist/pkgfmt.js': `import { blockDriver } from 'gen-modules/runtime';\nexport class PkgFmt { who = 'package (compiled)'; }\nblockDriver({ format: 'pkgfmt' })(PkgFmt);\n`,
  'node_modules/@acme/extra-drivers/dist/probes/pkgfmt.js': `export default function probe(data) { return data.head[4] === 0x21 ? 100 : 0; }\n`,
  'src/drivers/twins.ts': [
    `import { blockDriver } from 'gen-modules/runtime';`,
    `import { tag } from '../shared/tag.js';`,
    `@blockDriver({ format: 'twin-a' })`,
    `export class TwinA { readonly who = tag('twin-a'); }`,
    `@blockDriver({ format: 'twin-b' })`,
    `export class TwinB { readonly who = tag('twin-b'); }`,
    ``,
  ].join('\n'),
  'src/drivers/solo.ts': `import { blockDriver } from 'gen-modules/runtime';\nimport { tag } from '../shared/tag.js';\n@blockDriver({ format: 'solo' })\nexport class SoloBlock { readonly who = tag('block solo'); }\n`,
  'src/shared/tag.ts': `export function tag(name: string): string {\n  return \`<\${name}>\`;\n}\n`,
  'src/chardev/decorator.ts': `import { createDriverDecorator } from 'gen-modules/runtime';\nexport const charDriver = createDriverDecorator<{ name: string }>('charDriver', ['name']);\n`,
  'src/chardev/solo.ts': `import { charDriver } from './decorator.js';\n@charDriver({ name: 'solo' })\nexport class SoloChar { readonly who = 'char solo'; }\n`,
  'src/main.ts': [
    `import { readFileSync } from 'node:fs';`,
    `import { createDriverRegistry, parseManifest } from 'gen-modules/runtime';`,
    `import { driverTable } from './generated/drivers.gen.js';`,
    `import { driverTable as charDriverTable } from './generated/chardev.gen.js';`,
    `const manifest = parseManifest(readFileSync(new URL('./gen-modules-manifest.json', import.meta.url), 'utf8'));`,
    `const options = { manifest, baseUrl: new URL('./', import.meta.url).href };`,
    `const blocks = createDriverRegistry(driverTable, options);`,
    `const chars = createDriverRegistry(charDriverTable, options);`,
    `const who = async (registry: any, name: string) => new (await registry.load(name))().who;`,
    `const probed = await blocks.probe({ head: new TextEncoder().encode('PKGF!'), tail: new Uint8Array(0), size: 5, filename: 'x' });`,
    `const out = { twinA: await who(blocks, 'twin-a'), twinB: await who(blocks, 'twin-b'), solo: await who(blocks, 'solo'), char: await who(chars, 'solo'), probed: probed.format, pkg: await who(blocks, 'pkgfmt') };`,
    `process.stdout.write(JSON.stringify({ ...out, loaded: [...blocks.loadedDrivers(), ...chars.loadedDrivers()].sort() }) + '\\n');`,
    ``,
  ].join('\n'),
};

function writeApp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gen-modules-layouts-'));
  writeFiles(dir, files);
  return dir;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split('\\').join('/'))
    .sort();
}

describe('plugin source layouts', () => {
  let app: string | undefined;
  beforeAll(() => {
    app = writeApp();
  });
  afterAll(() => cleanup(app));

  it.each(BUNDLERS)('%s: two drivers in one file share one chunk; a same-named driver of another registry has its own', async (bundler) => {
    await expectLayoutBuilt(bundler, app!, join(app!, `dist-${bundler}`));
  });

  // Bundlers that follow symlinks (Vite) name modules by their real paths: the project reached
  // through a link, and its driver package linked into node_modules (as pnpm installs packages).
  it.each(BUNDLERS)('%s: the same through a symlinked project folder and a symlinked driver package', async (bundler) => {
    const dir = writeApp();
    const links = mkdtempSync(join(tmpdir(), 'gen-modules-links-'));
    try {
      const pkg = join(dir, 'node_modules/@acme/extra-drivers');
      renameSync(pkg, join(links, 'extra-drivers'));
      symlinkSync(join(links, 'extra-drivers'), pkg, 'dir');
      symlinkSync(dir, join(links, 'app'), 'dir');
      await expectLayoutBuilt(bundler, join(links, 'app'), join(links, 'app', 'dist'));
    } finally {
      cleanup(dir);
      cleanup(links);
    }
  });

  async function expectLayoutBuilt(bundler: (typeof BUNDLERS)[number], app: string, out: string): Promise<void> {
    await buildApp(bundler, app, out);
    const manifest = parseManifest(readFileSync(join(out, 'gen-modules-manifest.json'), 'utf8'));
    expect(Object.keys(manifest.drivers).sort()).toEqual(['charDriver:solo', 'pkgfmt', 'solo', 'twin-a', 'twin-b']);
    // The package's driver and probe module: one chunk each, made from the compiled files the
    // table imports (not a second copy from the sources).
    expect(manifest.drivers['pkgfmt']!.chunk).toMatch(/^drivers\/pkgfmt-[\w-]+\.mjs$/);
    expect(Object.values(manifest.probes).map((p) => p.chunk)).toEqual([expect.stringMatching(/^probes\/pkgfmt-[\w-]+\.mjs$/)]);
    const lazyChunks = new Set([...Object.values(manifest.drivers).flatMap((d) => (d.chunk ? [d.chunk, ...d.imports] : [])), ...Object.values(manifest.probes).flatMap((p) => [p.chunk, ...p.imports])]);
    const eager = new Set([...manifest.entries, ...manifest.entryImports]);
    expect(Object.keys(manifest.chunks).filter((f) => !lazyChunks.has(f) && !eager.has(f)), 'chunks nobody loads').toEqual([]);
    const chunkOf = (key: string) => manifest.drivers[key]!.chunk!;
    expect(chunkOf('twin-a')).toBe(chunkOf('twin-b'));
    expect(new Set([chunkOf('twin-a'), chunkOf('solo'), chunkOf('charDriver:solo')]).size).toBe(3);
    expect(chunkOf('solo')).toMatch(/^drivers\/solo-[\w-]+\.mjs$/);
    expect(chunkOf('charDriver:solo')).toMatch(/^charDriver\/solo-[\w-]+\.mjs$/);
    // The shared helper is one chunk that both block chunks import, not copied into each.
    expect(manifest.drivers['solo']!.imports).toEqual(manifest.drivers['twin-a']!.imports);
    const withTag = Object.keys(manifest.chunks).filter((f) => /function tag\b/.test(readFileSync(join(out, f), 'utf8')));
    expect(withTag).toHaveLength(1);
    expect(manifest.drivers['solo']!.imports).toContain(withTag[0]);

    const run = await runNode([join(out, 'main.mjs')]);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({
      twinA: '<twin-a>',
      twinB: '<twin-b>',
      solo: '<block solo>',
      char: 'char solo',
      probed: 'pkgfmt',
      pkg: 'package (compiled)',
      loaded: ['pkgfmt', 'solo', 'solo', 'twin-a', 'twin-b'],
    });
    expectManifestMatchesDisk(manifest, out);
  }

  // The id comes from the contents of the entry and shared chunks and from the lazy chunks' names,
  // which carry the bundler's content hash (build-manifest.ts: finishChunks). It must follow the output.
  it.each(BUNDLERS)('%s: same sources give the same build id; one character of a shared chunk or of a lazy chunk changes it', async (bundler) => {
    const dir = writeApp();
    try {
      const build = async (name: string) => {
        const out = join(dir, name);
        await buildApp(bundler, dir, out);
        const manifest = parseManifest(readFileSync(join(out, 'gen-modules-manifest.json'), 'utf8'));
        expectManifestMatchesDisk(manifest, out);
        for (const chunk of new Set(Object.values(manifest.drivers).flatMap((d) => (d.chunk ? [d.chunk] : [])))) {
          expect(readFileSync(join(out, chunk), 'utf8'), chunk).toContain(`export const __genModulesBuildId = ${JSON.stringify(manifest.buildId)};`);
        }
        return manifest;
      };
      const first = await build('dist-1');
      expect((await build('dist-2')).buildId).toBe(first.buildId);
      // Same length, so only the contents (or a content hash) can tell the builds apart.
      writeFileSync(join(dir, 'src/shared/tag.ts'), files['src/shared/tag.ts']!.replace('`<${name}>`', '`(${name})`'));
      const edited = await build('dist-3');
      expect(edited.buildId).not.toBe(first.buildId);
      writeFileSync(join(dir, 'src/drivers/solo.ts'), files['src/drivers/solo.ts']!.replace("'block solo'", "'block SOLO'"));
      const lazyEdited = await build('dist-4');
      expect(lazyEdited.chunks[lazyEdited.drivers.solo!.chunk!]).toBeDefined();
      expect(lazyEdited.drivers.solo!.chunk).not.toBe(edited.drivers.solo!.chunk);
      expect(lazyEdited.drivers['twin-a']!.chunk).toBe(edited.drivers['twin-a']!.chunk);
      expect(lazyEdited.buildId).not.toBe(edited.buildId);
    } finally {
      cleanup(dir);
    }
  });

  // Vite's client builds name entries and chunks with one hashed pattern: the plugin then leaves
  // the patterns as they are (no naming callback), and the lazy chunks still get drivers/ names.
  it('vite: entries and chunks under one hashed pattern keep the lazy chunks in drivers/', async () => {
    const out = join(app!, 'dist-vite-hashed');
    const output = { entryFileNames: '[name]-[hash].mjs', chunkFileNames: '[name]-[hash].mjs' };
    await buildApp('vite', app!, out, { vite: { build: { rollupOptions: { input: { main: join(app!, 'src/main.ts') }, output } } } });
    const manifest = parseManifest(readFileSync(join(out, 'gen-modules-manifest.json'), 'utf8'));
    expect(manifest.entries).toEqual([expect.stringMatching(/^main-[\w-]+\.mjs$/)]);
    expect(manifest.drivers['solo']!.chunk).toMatch(/^drivers\/solo-[\w-]+\.mjs$/);
    expect(manifest.drivers['charDriver:solo']!.chunk).toMatch(/^charDriver\/solo-[\w-]+\.mjs$/);
    expectManifestMatchesDisk(manifest, out);
    const run = await runNode([join(out, manifest.entries[0]!)]);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toMatchObject({ solo: '<block solo>', char: 'char solo', pkg: 'package (compiled)' });
  });

  it('vite: a chunk missing when the plugin finishes the written bundle (another plugin removed it) fails the build, naming it', async () => {
    const out = join(app!, 'dist-vite-missing');
    const remover = {
      name: 'remove-a-chunk',
      enforce: 'pre' as const,
      writeBundle: {
        order: 'pre' as const,
        handler() {
          const solo = readdirSync(join(out, 'drivers')).find((f) => f.startsWith('solo-'))!;
          rmSync(join(out, 'drivers', solo));
        },
      },
    };
    const failure = await buildApp('vite', app!, out, { vite: { pluginsBefore: [remover] } }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(failure?.message).toMatch(/chunks of the bundle are not on disk in dist-vite-missing: drivers\/solo-[\w-]+\.mjs; no manifest was written/);
    expect(existsSync(join(out, 'gen-modules-manifest.json'))).toBe(false);
  });

  // A rebuild into the same folder (watch mode, a dev server reading it) replaces the manifest
  // through a rename: whoever opened the old one reads it whole, never a mix of the two.
  it.each(['esbuild', 'vite'] as const)('%s: a rebuild replaces the manifest atomically', async (bundler) => {
    const dir = writeApp();
    try {
      const out = join(dir, 'dist');
      await buildApp(bundler, dir, out);
      const path = join(out, 'gen-modules-manifest.json');
      const before = readFileSync(path, 'utf8');
      const fd = openSync(path, 'r');
      try {
        writeFileSync(join(dir, 'src/shared/tag.ts'), files['src/shared/tag.ts']!.replace('`<${name}>`', '`[${name}]`'));
        await buildApp(bundler, dir, out, { keepOutdir: true });
        const after = readFileSync(path, 'utf8');
        expect(parseManifest(after).buildId).not.toBe(parseManifest(before).buildId);
        expect(readFileSync(fd, 'utf8'), 'the file opened before the rebuild').toBe(before);
      } finally {
        closeSync(fd);
      }
      expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    } finally {
      cleanup(dir);
    }
  });

  it('esbuild: an output missing when the plugin finishes the build (another plugin removed it) fails the build, naming it', async () => {
    const out = join(app!, 'dist-missing');
    const remover = {
      name: 'remove-a-chunk',
      setup(b: import('esbuild').PluginBuild) {
        b.onEnd(() => {
          const solo = readdirSync(join(out, 'drivers')).find((f) => f.startsWith('solo-'))!;
          rmSync(join(out, 'drivers', solo));
        });
      },
    };
    const failure = await buildApp('esbuild', app!, out, { esbuild: { pluginsBefore: [remover] } }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(failure?.message).toMatch(/outputs that esbuild's metafile lists are not on disk: dist-missing\/drivers\/solo-\w+\.mjs; no manifest was written/);
    expect(existsSync(join(out, 'gen-modules-manifest.json'))).toBe(false);
  });

  // A production build minifies: the build id statement, the manifest's sizes and integrity values
  // and the loading of each driver must hold for minified chunks, with a banner and a footer
  // comment around the code (esbuild's banner/footer; rolldown's postBanner/postFooter, added after
  // its minifier, which drops comments).
  it.each(['esbuild', 'vite'] as const)('%s: a minified build with a banner and a footer runs, its lazy chunks carry the build id, and the manifest matches the bytes', async (bundler) => {
    const out = join(app!, `dist-min-${bundler}`);
    const banner = '/*! (c) banner */';
    const footer = '//! footer without a final newline';
    await buildApp(bundler, app!, out, bundler === 'esbuild' ? { esbuild: { minify: true, banner: { js: banner }, footer: { js: footer } } } : { vite: { build: { minify: true, rollupOptions: { input: { main: join(app!, 'src/main.ts') }, output: { format: 'es', entryFileNames: '[name].mjs', chunkFileNames: '[name]-[hash].mjs', postBanner: banner, postFooter: footer } } } } });
    const manifest = parseManifest(readFileSync(join(out, 'gen-modules-manifest.json'), 'utf8'));
    for (const key of Object.keys(manifest.drivers)) {
      const code = readFileSync(join(out, manifest.drivers[key]!.chunk!), 'utf8');
      expect(code.startsWith(banner), key).toBe(true);
      expect(code, key).toContain(footer);
      expect(code, key).toContain(manifest.buildId);
      // Minified: no indented lines.
      expect(code, key).not.toMatch(/\n {2}\S/);
    }
    expectManifestMatchesDisk(manifest, out);
    const run = await runNode([join(out, 'main.mjs')]);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toMatchObject({ twinA: '<twin-a>', solo: '<block solo>', char: 'char solo', probed: 'pkgfmt', pkg: 'package (compiled)' });
  });

  it('esbuild: the build id goes before the sourceMappingURL comment, and write: false gives the same files', async () => {
    const onDisk = join(app!, 'dist-maps');
    await buildApp('esbuild', app!, onDisk, { esbuild: { sourcemap: true } });
    const manifest = parseManifest(readFileSync(join(onDisk, 'gen-modules-manifest.json'), 'utf8'));
    for (const key of Object.keys(manifest.drivers)) {
      const code = readFileSync(join(onDisk, manifest.drivers[key]!.chunk!), 'utf8');
      const id = code.indexOf(manifest.buildId);
      const map = code.indexOf('//# sourceMappingURL=');
      expect(id, key).toBeGreaterThan(0);
      expect(map, key).toBeGreaterThan(id);
      expect(code.slice(map)).toMatch(/^\/\/# sourceMappingURL=[\w.-]+\.mjs\.map\n?$/);
    }
    expectManifestMatchesDisk(manifest, onDisk);

    const inMemory = join(app!, 'dist-memory');
    let memoryFiles: OutputFile[] = [];
    const warnings = await buildApp('esbuild', app!, inMemory, { esbuild: { sourcemap: true, write: false }, onEsbuildResult: (r) => (memoryFiles = r.outputFiles ?? []) });
    expect(warnings).toEqual([]);
    expect(existsSync(inMemory), 'write: false writes nothing').toBe(false);
    const disk = listFiles(onDisk);
    expect(memoryFiles.map((f) => relative(inMemory, f.path).split('\\').join('/')).sort()).toEqual(disk);
    for (const file of memoryFiles) {
      const name = relative(inMemory, file.path);
      expect(Buffer.from(file.contents).equals(readFileSync(join(onDisk, name))), name).toBe(true);
    }
  });

  // Vite finishes a written bundle from the files (rollup-core.ts, chunksOnDisk).
  it('vite: the build id goes before the sourceMappingURL comment, a later writeBundle sees the final bytes, and write: false gives the same chunks and manifest', async () => {
    const onDisk = join(app!, 'dist-vite-maps');
    // What another plugin's writeBundle (a compressor, say) finds on disk, even one that comes first (enforce: 'pre', listed before).
    const seen = new Map<string, string>();
    const observer = {
      name: 'observer',
      enforce: 'pre' as const,
      writeBundle(output: { dir?: string }, bundle: Record<string, { type: string }>) {
        for (const [file, item] of Object.entries(bundle)) {
          if (item.type === 'chunk') seen.set(file, `sha384-${createHash('sha384').update(readFileSync(join(output.dir!, file))).digest('base64')}`);
        }
      },
    };
    await buildApp('vite', app!, onDisk, { vite: { build: { sourcemap: true }, pluginsBefore: [observer] } });
    const manifest = parseManifest(readFileSync(join(onDisk, 'gen-modules-manifest.json'), 'utf8'));
    expectManifestMatchesDisk(manifest, onDisk);
    expect(Object.fromEntries(seen)).toEqual(Object.fromEntries(Object.entries(manifest.chunks).map(([file, chunk]) => [file, chunk.integrity])));
    for (const key of Object.keys(manifest.drivers)) {
      const code = readFileSync(join(onDisk, manifest.drivers[key]!.chunk!), 'utf8');
      const id = code.indexOf(`export const __genModulesBuildId = ${JSON.stringify(manifest.buildId)};`);
      const map = code.indexOf('//# sourceMappingURL=');
      expect(id, key).toBeGreaterThan(0);
      expect(map, key).toBeGreaterThan(id);
      expect(code.slice(map)).toMatch(/^\/\/# sourceMappingURL=[\w.-]+\.mjs\.map\n?$/);
    }

    const inMemory = join(app!, 'dist-vite-memory');
    let chunks: { fileName: string; code: string }[] = [];
    let manifestText: unknown;
    await buildApp('vite', app!, inMemory, {
      vite: { build: { sourcemap: true, write: false } },
      onViteResult: (result) => {
        const outputs = (Array.isArray(result) ? result : [result]) as { output: { type: string; fileName: string; code?: string; source?: unknown }[] }[];
        chunks = outputs.flatMap((o) => o.output.filter((item) => item.type === 'chunk') as { fileName: string; code: string }[]);
        manifestText = outputs.flatMap((o) => o.output).find((item) => item.fileName === 'gen-modules-manifest.json' && item.type === 'asset')?.source;
      },
    });
    expect(existsSync(inMemory), 'write: false writes nothing').toBe(false);
    expect(chunks.map((c) => c.fileName).sort()).toEqual(Object.keys(manifest.chunks).sort());
    for (const chunk of chunks) expect(chunk.code, chunk.fileName).toBe(readFileSync(join(onDisk, chunk.fileName), 'utf8'));
    // The manifest comes along as an asset (there is no folder to write it to).
    expect(manifestText).toBe(readFileSync(join(onDisk, 'gen-modules-manifest.json'), 'utf8'));
  });
});
