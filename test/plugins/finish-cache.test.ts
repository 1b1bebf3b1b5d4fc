// The finish cache (plugin/finish-cache.ts): a build whose id is the one the last build into the
// same folder recorded takes the lazy chunks' sizes and SRI values from the record instead of
// hashing them again; a record of other code, a size that does not match, a broken record or
// GEN_MODULES_CACHE=0 leave the chunks hashed. esbuild and Vite finish written chunks on disk
// (rollup finishes its bundle in memory, without the cache).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseManifest, type BuildManifest } from '../../src/runtime/manifest.js';
import { buildApp, cleanup, copyApp } from './support/build-app.js';
import { expectManifestMatchesDisk } from './support/manifest-on-disk.js';

type Bundler = 'esbuild' | 'vite';
const ON_DISK: readonly Bundler[] = ['esbuild', 'vite'];
const FORGED = `sha384-${'A'.repeat(64)}`;

interface FinishRecord {
  key: string;
  buildId: string;
  chunks: { [file: string]: [number, string] };
}

describe('finish cache', () => {
  let app: string | undefined;
  afterEach(() => {
    cleanup(app);
    app = undefined;
    delete process.env.GEN_MODULES_CACHE;
  });

  /** The basic app with a node_modules folder, where gen-modules keeps its caches. */
  function appWithCacheFolder(): string {
    app = copyApp('basic');
    mkdirSync(join(app, 'node_modules'));
    return app;
  }
  const out = () => join(app!, 'dist');
  const recordFile = () => {
    const folder = join(app!, 'node_modules/.cache/gen-modules');
    const files = readdirSync(folder).filter((f) => f.startsWith('finish-'));
    expect(files).toHaveLength(1);
    return join(folder, files[0]!);
  };
  const readRecord = (): FinishRecord => JSON.parse(readFileSync(recordFile(), 'utf8'));
  const writeRecord = (change: (record: FinishRecord) => void) => {
    const record = readRecord();
    change(record);
    writeFileSync(recordFile(), JSON.stringify(record));
  };
  const build = async (bundler: Bundler, keep = true): Promise<BuildManifest> => {
    await buildApp(bundler, app!, out(), { keepOutdir: keep });
    return parseManifest(readFileSync(join(out(), 'gen-modules-manifest.json'), 'utf8'));
  };
  const alphaChunk = (manifest: BuildManifest) => manifest.drivers.alpha!.chunk!;

  it.each(ON_DISK)('%s: the lazy chunks are recorded; a rebuild with the same id takes their values from the record', async (bundler) => {
    appWithCacheFolder();
    const first = await build(bundler, false);
    expectManifestMatchesDisk(first, out());
    const record = readRecord();
    expect(record.buildId).toBe(first.buildId);
    // The lazy chunks (driver and probe modules), each with its final size and SRI value.
    const lazy = [...Object.values(first.drivers), ...Object.values(first.probes)].flatMap((d) => (d.chunk ? [d.chunk] : []));
    expect(Object.keys(record.chunks).sort()).toEqual([...new Set(lazy)].sort());
    for (const [file, [bytes, integrity]] of Object.entries(record.chunks)) expect({ bytes, integrity }).toEqual({ bytes: first.chunks[file]!.bytes, integrity: first.chunks[file]!.integrity });

    const again = await build(bundler);
    expect(again).toEqual(first);
    expectManifestMatchesDisk(again, out());

    // What the record says is what the manifest gets: the chunk was not hashed again.
    writeRecord((r) => (r.chunks[alphaChunk(first)]![1] = FORGED));
    expect((await build(bundler)).chunks[alphaChunk(first)]!.integrity).toBe(FORGED);

    // An edit that changes the output changes the id: every chunk is hashed, and the record follows.
    const alpha = join(app!, 'src/drivers/alpha.ts');
    writeFileSync(alpha, readFileSync(alpha, 'utf8').replace("'alpha-driver-code'", "'alpha-driver-CODE'"));
    const edited = await build(bundler);
    expect(edited.buildId).not.toBe(first.buildId);
    expectManifestMatchesDisk(edited, out());
    expect(readRecord().buildId).toBe(edited.buildId);
  });

  // The chunk states this process keeps (finishChunks' `states`): after an edit, the chunks whose
  // name and size did not change are finished from them, their build id statement written before
  // a trailing sourceMappingURL comment, as when they are read.
  it('esbuild with linked source maps: a rebuild after an edit finishes every chunk right, the statement before the map comment', async () => {
    appWithCacheFolder();
    const build = async () => {
      await buildApp('esbuild', app!, out(), { keepOutdir: true, esbuild: { sourcemap: 'linked' } });
      return parseManifest(readFileSync(join(out(), 'gen-modules-manifest.json'), 'utf8'));
    };
    const first = await build();
    const alpha = join(app!, 'src/drivers/alpha.ts');
    writeFileSync(alpha, readFileSync(alpha, 'utf8').replace("'alpha-driver-code'", "'alpha-driver-CODE'"));
    const edited = await build();
    expect(edited.buildId).not.toBe(first.buildId);
    expectManifestMatchesDisk(edited, out());
    // beta's chunk kept its name: finished from its state under the new id.
    expect(edited.drivers.beta!.chunk).toBe(first.drivers.beta!.chunk);
    for (const chunk of new Set(Object.values(edited.drivers).flatMap((d) => (d.chunk ? [d.chunk] : [])))) {
      const lines = readFileSync(join(out(), chunk), 'utf8').trimEnd().split('\n');
      expect(lines.at(-2), chunk).toBe(`export const __genModulesBuildId = ${JSON.stringify(edited.buildId)};`);
      expect(lines.at(-1), chunk).toMatch(/^\/\/# sourceMappingURL=[\w.-]+\.map$/);
    }
  });

  it.each(ON_DISK)('%s: a record of other code, a size that does not match, a broken record or GEN_MODULES_CACHE=0: the chunks are hashed', async (bundler) => {
    appWithCacheFolder();
    const first = await build(bundler, false);
    const chunk = alphaChunk(first);

    writeRecord((r) => {
      r.key = r.key.replace(/^./, (c) => (c === '0' ? '1' : '0'));
      r.chunks[chunk]![1] = FORGED;
    });
    expectManifestMatchesDisk(await build(bundler), out());
    // The build rewrote the record under its own key.
    expect(readRecord().chunks[chunk]![1]).toBe(first.chunks[chunk]!.integrity);

    writeRecord((r) => (r.chunks[chunk] = [r.chunks[chunk]![0] + 1, FORGED]));
    expectManifestMatchesDisk(await build(bundler), out());

    writeFileSync(recordFile(), '{"key": ');
    expect(await build(bundler)).toEqual(first);
    expect(readRecord().buildId).toBe(first.buildId);

    writeRecord((r) => (r.chunks[chunk]![1] = FORGED));
    process.env.GEN_MODULES_CACHE = '0';
    expectManifestMatchesDisk(await build(bundler), out());
  });
});
