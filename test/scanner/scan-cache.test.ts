// The scan cache (src/scanner/scan-cache.ts): a scan over unchanged inputs reads and parses
// nothing; every kind of change that could change the result makes the next scan a real one:
// an edited driver or constants module, a new file where an import would now resolve, a new
// driver file, a changed config or tsconfig. After an edit (in place or saved by renaming), only
// the files whose inputs changed are scanned again, and the result equals a scan without cache.
// Scans with diagnostics are never kept; inputs and folders changed within the last two seconds
// are kept to be compared again (text hash, answers) rather than trusted by their mtimes. The CLI
// uses it unless --no-cache or GEN_MODULES_CACHE=0.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { deserialize } from 'node:v8';
import { afterAll, describe, expect, it } from 'vitest';
import { generateFromConfig } from '../../src/codegen/generate.js';
import { loadConfig } from '../../src/config/config.js';
import { ProjectScanner, scan } from '../../src/scanner/scan.js';
import { nodeFileSystem } from '../../src/scanner/file-system.js';
import { scanCacheEnabled, scanCacheFile } from '../../src/scanner/scan-cache.js';
import { genModulesBin } from '../support/paths.js';
import { runNode } from '../support/run-node.js';
import { writeFiles } from '../support/files.js';

const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

const head = `import { blockDriver } from 'gen-modules/runtime';\n`;

/** Every file and folder under root (but the cache) dated `secondsAgo` in the past. */
function age(root: string, secondsAgo: number): void {
  const when = new Date(Date.now() - secondsAgo * 1000);
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (path.includes(`${join('node_modules', '.cache')}`)) continue;
      if (entry.isDirectory()) visit(path);
      utimesSync(path, when, when);
    }
  };
  visit(root);
  utimesSync(root, when, when);
}

function project(): string {
  const root = mkdtempSync(join(tmpdir(), 'gm-scan-cache-'));
  roots.push(root);
  writeFiles(root, {
    'gen-modules.config.json': JSON.stringify({ drivers: ['src/drivers/*.ts'], out: 'src/generated/drivers.gen.ts' }),
    'tsconfig.json': JSON.stringify({ compilerOptions: { paths: { '@magic/*': ['./src/magic/*'] } } }),
    'src/drivers/alpha.ts': `${head}import { ALPHA } from '../shared';\n@blockDriver({ format: 'alpha', probe: { score: 100, match: { at: 0, bytes: ALPHA } } }) export class Alpha {}\n`,
    'src/drivers/beta.ts': `${head}import { BETA } from '@magic/beta.js';\n@blockDriver({ format: 'beta', probe: { score: 100, match: { at: 0, bytes: BETA } } }) export class Beta {}\n`,
    'src/shared/index.ts': `export const ALPHA = 'ALPH';\n`,
    'src/magic/beta.ts': `export const BETA = 'BETA';\n`,
  });
  mkdirSync(join(root, 'node_modules'));
  age(root, 60);
  return root;
}

async function scanned(root: string) {
  const result = await scan(await loadConfig(undefined, root), { cache: true });
  return { result, magic: JSON.stringify(result.drivers.map((d) => d.probes)), fresh: result.stats.read > 0 };
}

/**
 * Writes `files` and dates the tree `secondsAgo`: the next scan must read the sources (it is
 * returned) and the one after must come from the cache again.
 */
async function rescanAfter(root: string, files: Record<string, string>, secondsAgo: number) {
  writeFiles(root, files);
  age(root, secondsAgo);
  const fresh = await scanned(root);
  expect(fresh.fresh, `a real scan after changing ${Object.keys(files).join(', ')}`).toBe(true);
  expect((await scanned(root)).fresh, 'then the cache again').toBe(false);
  return fresh;
}

describe('scan cache', () => {
  it('reuses a clean scan while nothing changed, and scans again after each kind of change', async () => {
    const root = project();
    const first = await scanned(root);
    expect(first.result.diagnostics).toEqual([]);
    expect(first.fresh).toBe(true);
    const file = scanCacheFile(await loadConfig(undefined, root))!;
    expect(existsSync(file)).toBe(true);
    const base = file.slice(dirname(file).length + 1);
    expect(readdirSync(dirname(file)).sort()).toEqual([base, base.replace(/\.bin$/, '.files.bin')]);

    const second = await scanned(root);
    expect(second.fresh, 'nothing changed: nothing read').toBe(false);
    expect(second.result.stats).toMatchObject({ read: 0, parsed: 0, candidates: 2 });
    expect(second.result.drivers).toEqual(first.result.drivers);
    expect(second.result.inputs).toEqual(first.result.inputs);

    // Through generate: the rendered tables are kept too, and equal what a full scan renders.
    const loaded = await loadConfig(undefined, root);
    const full = await generateFromConfig(loaded, { check: true });
    const viaCache = await generateFromConfig(loaded, { check: true, cache: true });
    expect(viaCache.stats).toMatchObject({ read: 0 });
    expect(viaCache.content).toBe(full.content);

    // A constants module a driver imports (through tsconfig paths).
    expect((await rescanAfter(root, { 'src/magic/beta.ts': `export const BETA = 'BET2';\n` }, 50)).magic).toContain('BET2');
    // A new file where `../shared` now resolves (src/shared.ts before src/shared/index.ts).
    expect((await rescanAfter(root, { 'src/shared.ts': `export const ALPHA = 'NEWA';\n` }, 40)).magic).toContain('NEWA');
    // A new driver file.
    const added = await rescanAfter(root, { 'src/drivers/gamma.ts': `${head}@blockDriver({ format: 'gamma' }) export class Gamma {}\n` }, 30);
    expect(added.result.drivers.map((d) => d.name)).toEqual(['alpha', 'beta', 'gamma']);
    // The config (states), then tsconfig (paths now point elsewhere).
    const config = { 'gen-modules.config.json': JSON.stringify({ drivers: ['src/drivers/*.ts'], out: 'src/generated/drivers.gen.ts', states: { gamma: 'disabled' } }) };
    expect((await rescanAfter(root, config, 20)).result.drivers.find((d) => d.name === 'gamma')!.state).toBe('disabled');
    const tsconfig = { 'tsconfig.json': JSON.stringify({ compilerOptions: { paths: { '@magic/*': ['./src/other/*'] } } }), 'src/other/beta.ts': `export const BETA = 'OTHR';\n` };
    expect((await rescanAfter(root, tsconfig, 10)).magic).toContain('OTHR');
  });

  it("with cacheWrite 'soon' (the plugins: during the bundler's build), the cache is written once the caller yields", async () => {
    const root = project();
    const loaded = await loadConfig(undefined, root);
    const file = scanCacheFile(loaded)!;
    const first = await generateFromConfig(loaded, { cache: true, cacheWrite: 'soon' });
    expect(first.stats?.read).toBeGreaterThan(0);
    expect(existsSync(file), 'not yet written').toBe(false);
    await new Promise((done) => setImmediate(done));
    expect(existsSync(file)).toBe(true);
    const second = await generateFromConfig(loaded, { cache: true, cacheWrite: 'soon' });
    expect(second.stats).toMatchObject({ read: 0, parsed: 0 });
    expect(second.content).toBe(first.content);
  });

  it('after an edit, scans again only the files whose inputs changed (in place or saved by renaming)', async () => {
    const root = project();
    const driver = (name: string, magic: string) => `${head}@blockDriver({ format: '${name}', probe: { score: 100, match: { at: 0, bytes: '${magic}' } } }) export class D {}\n`;
    writeFiles(root, { 'src/drivers/gamma.ts': driver('gamma', 'GAMA'), 'src/drivers/delta.ts': driver('delta', 'DELT'), 'src/drivers/notes.ts': `export const NOTE = 1;\n` });
    age(root, 60);
    expect((await scanned(root)).fresh).toBe(true);
    expect((await scanned(root)).fresh).toBe(false);
    /** Dates these files and their folders `secondsAgo` in the past (the rest keeps its stamps). */
    const ageOnly = (files: string[], secondsAgo: number) => {
      const when = new Date(Date.now() - secondsAgo * 1000);
      for (const f of files) for (const p of [join(root, f), dirname(join(root, f))]) utimesSync(p, when, when);
    };
    const expectAsWithoutCache = async (result: Awaited<ReturnType<typeof scanned>>['result']) => {
      const plain = await scan(await loadConfig(undefined, root));
      expect(result.drivers).toEqual(plain.drivers);
      expect(result.inputs).toEqual(plain.inputs);
      expect(result.diagnostics).toEqual([]);
    };

    // A driver edited in place: that file alone is read and parsed.
    writeFiles(root, { 'src/drivers/gamma.ts': driver('gamma', 'GAM2') });
    ageOnly(['src/drivers/gamma.ts'], 50);
    const edited = await scanned(root);
    expect(edited.result.stats).toMatchObject({ read: 1, parsed: 1, reused: 3, candidates: 4 });
    expect(edited.magic).toContain('GAM2');
    await expectAsWithoutCache(edited.result);
    expect((await scanned(root)).fresh, 'then the cache again').toBe(false);

    // Saved by renaming a new file over it (new inode, the folder's mtime changes).
    writeFileSync(join(root, 'src/drivers/.delta.ts.tmp'), driver('delta', 'DEL2'));
    renameSync(join(root, 'src/drivers/.delta.ts.tmp'), join(root, 'src/drivers/delta.ts'));
    ageOnly(['src/drivers/delta.ts'], 40);
    const renamed = await scanned(root);
    expect(renamed.result.stats).toMatchObject({ read: 1, parsed: 1, reused: 3 });
    expect(renamed.magic).toContain('DEL2');
    await expectAsWithoutCache(renamed.result);

    // A constants module: only the driver importing it is scanned again (it and the module parsed).
    writeFiles(root, { 'src/shared/index.ts': `export const ALPHA = 'ALP2';\n` });
    ageOnly(['src/shared/index.ts'], 30);
    const constants = await scanned(root);
    expect(constants.result.stats).toMatchObject({ read: 1, parsed: 2, reused: 3 });
    expect(constants.magic).toContain('ALP2');
    await expectAsWithoutCache(constants.result);

    // A file without decorators: read again, nothing parsed.
    writeFiles(root, { 'src/drivers/notes.ts': `export const NOTE = 2;\n` });
    ageOnly(['src/drivers/notes.ts'], 20);
    expect((await scanned(root)).result.stats).toMatchObject({ read: 1, parsed: 0, reused: 4 });

    // An edit that leaves every declaration as it was: the kept tables serve again, unrendered.
    const loaded = await loadConfig(undefined, root);
    writeFiles(root, { 'src/drivers/delta.ts': `${driver('delta', 'DEL2')}// a comment\n` });
    ageOnly(['src/drivers/delta.ts'], 15);
    expect((await generateFromConfig(loaded, { check: true, cache: true })).stats).toMatchObject({ read: 1, parsed: 1 });
    writeFiles(root, { 'src/drivers/delta.ts': `${driver('delta', 'DEL2')}// another comment\n` });
    ageOnly(['src/drivers/delta.ts'], 14);
    const partial = await new ProjectScanner(loaded, { cache: true }).scan();
    expect(partial.stats).toMatchObject({ read: 1, parsed: 1 });
    expect(partial.tables?.map((t) => t.content)).toEqual([(await generateFromConfig(loaded, { check: true })).content]);

    // A new file where an import would now resolve: every file is scanned again.
    writeFiles(root, { 'src/shared.ts': `export const ALPHA = 'NEWA';\n` });
    ageOnly(['src/shared.ts', 'src/drivers/gamma.ts'], 10);
    const shadowed = await scanned(root);
    expect(shadowed.result.stats).toMatchObject({ read: 5, reused: 0 });
    expect(shadowed.magic).toContain('NEWA');
  });

  // The record describes what the scan read: a file's stamp is the one it had when the scan read
  // it, or, for a result taken from the cache, when the scan checked it. A change made after that,
  // dated in the past (as rsync -t or tar leave it), is scanned again by the next run rather than
  // kept under its new stamp with the old result.
  /** Writes `text` to `file`, dated `secondsAgo` in the past; its folder keeps its mtime. */
  const writeDated = (root: string, file: string, text: string, secondsAgo: number) => {
    writeFiles(root, { [file]: text });
    const when = new Date(Date.now() - secondsAgo * 1000);
    utimesSync(join(root, file), when, when);
  };
  /** Changes beta's constant after `scanner` scanned and before it writes the cache. */
  const expectChangeAfterScanSeen = async (root: string, scanner: ProjectScanner) => {
    writeDated(root, 'src/magic/beta.ts', `export const BETA = 'BET2';\n`, 45);
    scanner.keepScan();
    const next = await scanned(root);
    expect(next.fresh).toBe(true);
    expect(next.magic).toContain('BET2');
  };

  it('a file changed after a cold scan read it, dated in the past, is scanned again next time', async () => {
    const root = project();
    const scanner = new ProjectScanner(await loadConfig(undefined, root), { cache: true });
    const cold = await scanner.scan();
    expect(cold.stats.read).toBe(2);
    expect(JSON.stringify(cold.drivers.map((d) => d.probes))).toContain('BETA');
    await expectChangeAfterScanSeen(root, scanner);
  });

  it('an input changed between the check and the write of the cache, dated in the past, is scanned again next time', async () => {
    const root = project();
    expect((await scanned(root)).fresh).toBe(true);
    writeDated(root, 'src/shared/index.ts', `export const ALPHA = 'ALP2';\n`, 50);
    const scanner = new ProjectScanner(await loadConfig(undefined, root), { cache: true });
    const partial = await scanner.scan();
    expect(partial.stats).toMatchObject({ read: 1, reused: 1 });
    expect(JSON.stringify(partial.drivers.map((d) => d.probes))).toContain('BETA');
    await expectChangeAfterScanSeen(root, scanner);
  });

  // A file whose result came from the cache has its drivers but no scan of its own: a live
  // scanner (watch, a bundler's rebuild) must scan it again once its inputs change.
  it('a scanner that took files from the cache scans them again when their inputs change later', async () => {
    const root = project();
    const pair = `${head}@blockDriver({ format: 'eta' }) export class Eta {}\n@blockDriver({ protocol: 'theta', prefixes: ['theta://'] }) export class Theta {}\n`;
    writeFiles(root, { 'src/drivers/pair.ts': pair });
    age(root, 60);
    expect((await scanned(root)).fresh).toBe(true);
    const loaded = await loadConfig(undefined, root);
    const asWithoutCache = async (result: Awaited<ReturnType<ProjectScanner['scan']>>) => {
      expect(result.diagnostics).toEqual([]);
      expect(result.drivers).toEqual((await scan(loaded)).drivers);
    };
    writeDated(root, 'src/magic/beta.ts', `export const BETA = 'BET2';\n`, 50);
    const scanner = new ProjectScanner(loaded, { cache: true });
    const partial = await scanner.scan();
    expect(partial.stats).toMatchObject({ read: 1, parsed: 2, reused: 2 });
    expect(partial.drivers.map((d) => d.name)).toEqual(['alpha', 'beta', 'eta', 'theta']);
    await asWithoutCache(partial);

    // alpha came from the cache: its constant changes, and it is read and scanned again.
    writeDated(root, 'src/shared/index.ts', `export const ALPHA = 'ALP3';\n`, 40);
    scanner.invalidate([join(root, 'src/shared/index.ts')]);
    const constant = await scanner.scan();
    expect(constant.stats).toMatchObject({ parsed: 2, reused: 2 });
    expect(JSON.stringify(constant.drivers.map((d) => d.probes))).toContain('ALP3');
    await asWithoutCache(constant);

    // A new driver file (the listing changes): every file, pair.ts too, is scanned again.
    writeDated(root, 'src/drivers/zeta.ts', `${head}@blockDriver({ format: 'zeta' }) export class Zeta {}\n`, 30);
    scanner.invalidate([join(root, 'src/drivers/zeta.ts')], true);
    const added = await scanner.scan();
    expect(added.stats).toMatchObject({ candidates: 4, reused: 0 });
    expect(added.drivers.map((d) => d.name)).toEqual(['alpha', 'beta', 'eta', 'zeta', 'theta']);
    await asWithoutCache(added);
  });

  // npm reinstalling a package: every file dated 1985, and a freed inode may come back. Here the
  // same inode (written in place), size and mtime, another text: only the ctime tells.
  it('an input rewritten with the same size, inode and mtime is scanned again', async () => {
    const root = project();
    expect((await scanned(root)).magic).toContain('ALPH');
    const shared = join(root, 'src/shared/index.ts');
    const before = statSync(shared);
    writeFileSync(shared, readFileSync(shared, 'utf8').replace("'ALPH'", "'ALPX'"));
    utimesSync(shared, before.atime, before.mtime);
    const after = statSync(shared);
    expect([after.size, after.mtimeMs, after.ino]).toEqual([before.size, before.mtimeMs, before.ino]);
    const again = await scanned(root);
    expect(again.fresh).toBe(true);
    expect(again.magic).toContain('ALPX');
  });

  // git checkout of another branch and back, git stash and pop, touch: a new stamp, the same text.
  it('inputs touched without a change keep the cache (compared by the hash of their text), and the record takes their new stamps', async () => {
    const root = project();
    const loaded = await loadConfig(undefined, root);
    expect((await scanned(root)).fresh).toBe(true);
    const alpha = join(root, 'src/drivers/alpha.ts');
    const text = readFileSync(alpha, 'utf8');
    // A driver, the constants module it imports and the tsconfig, rewritten with the same text.
    for (const file of ['src/drivers/alpha.ts', 'src/shared/index.ts', 'tsconfig.json']) writeDated(root, file, readFileSync(join(root, file), 'utf8'), 40);
    const touched = await scanned(root);
    expect(touched.fresh).toBe(false);
    expect(touched.result.drivers).toEqual((await scan(loaded)).drivers);
    const record = deserialize(readFileSync(scanCacheFile(loaded)!)) as { stamps: [string, number, number, number][] };
    expect(record.stamps.find(([path]) => path === alpha)?.[2]).toBe(statSync(alpha).mtimeMs);
    expect((await scanned(root)).fresh).toBe(false);
    // Another text of the same length: scanned again.
    writeDated(root, 'src/drivers/alpha.ts', text.replace("'alpha'", "'alphb'"), 30);
    const edited = await scanned(root);
    expect(edited.result.stats).toMatchObject({ read: 1, parsed: 2 });
    expect(edited.result.drivers.map((d) => d.name)).toEqual(['alphb', 'beta']);
  });

  it('a scanner whose cached scan parsed nothing still sees a changed tsconfig.json as a change to every resolution', async () => {
    const root = project();
    writeFiles(root, { 'src/drivers/notes.ts': `export const NOTE = 1;\n`, 'src/magic2/beta.ts': `export const BETA = 'BET3';\n` });
    age(root, 60);
    expect((await scanned(root)).fresh).toBe(true);
    writeDated(root, 'src/drivers/notes.ts', `export const NOTE = 2;\n`, 50);
    const loaded = await loadConfig(undefined, root);
    const scanner = new ProjectScanner(loaded, { cache: true });
    expect((await scanner.scan()).stats).toMatchObject({ read: 1, parsed: 0, reused: 2 });
    writeDated(root, 'tsconfig.json', JSON.stringify({ compilerOptions: { paths: { '@magic/*': ['./src/magic2/*'] } } }), 40);
    scanner.invalidate([join(root, 'tsconfig.json')]);
    const after = await scanner.scan();
    expect(JSON.stringify(after.drivers.map((d) => d.probes))).toContain('BET3');
    expect(after.drivers).toEqual((await scan(loaded)).drivers);
  });

  // A driver's probe module is checked for existence only: the scan asked about its path, so its
  // removal (its folder's mtime changes, the answer differs) makes the next run scan again, even
  // when another file was edited too (a kept file's drivers are not checked again otherwise).
  it('a removed probe module is reported by the next run, with an edit elsewhere too', async () => {
    const root = project();
    writeFiles(root, {
      'src/drivers/eta.ts': `${head}@blockDriver({ format: 'eta', probe: { score: 10, match: { at: 0, bytes: 'ETA!' }, module: '../probes/eta.ts' } }) export class Eta {}\n`,
      'src/probes/eta.ts': `export function probe() { return 10; }\n`,
    });
    age(root, 60);
    expect((await scanned(root)).fresh).toBe(true);
    expect((await scanned(root)).fresh).toBe(false);
    rmSync(join(root, 'src/probes/eta.ts'));
    writeDated(root, 'src/magic/beta.ts', `export const BETA = 'BET2';\n`, 50);
    const next = await scanned(root);
    expect(next.fresh).toBe(true);
    expect(next.result.diagnostics.map((d) => [d.code, d.file])).toEqual([['GM3002', 'src/drivers/eta.ts']]);
  });

  it('keeps no scan with diagnostics; one whose inputs changed in the last seconds is kept, and they are then compared by the hash of their text', async () => {
    const root = project();
    writeFiles(root, { 'src/drivers/bad.ts': `${head}@blockDriver({ format: 'Bad Name' }) export class Bad {}\n` });
    age(root, 60);
    const broken = await scanned(root);
    expect(broken.result.diagnostics.map((d) => d.code)).toEqual(['GM1008']);
    const file = scanCacheFile(await loadConfig(undefined, root))!;
    expect(existsSync(file)).toBe(false);
    expect((await scanned(root)).result.diagnostics.map((d) => d.code), 'reported again').toEqual(['GM1008']);

    rmSync(join(root, 'src/drivers/bad.ts'));
    // Just edited (and its folder just changed): its mtime might not change at a second edit in
    // the same tick of a coarse clock, so the record keeps no mtime for it: the next run hashes it.
    const beta = join(root, 'src/magic/beta.ts');
    const now = new Date();
    writeFiles(root, { 'src/magic/beta.ts': `export const BETA = 'NOW!';\n` });
    utimesSync(beta, now, now);
    expect((await scanned(root)).fresh).toBe(true);
    expect(existsSync(file)).toBe(true);
    expect((await scanned(root)).fresh, 'the same text: a hit').toBe(false);
    // Edited again to the same size, with the very stamp it had: seen by its hash.
    writeFiles(root, { 'src/magic/beta.ts': `export const BETA = 'NEW!';\n` });
    utimesSync(beta, now, now);
    const again = await scanned(root);
    expect(again.fresh).toBe(true);
    expect(again.magic).toContain('NEW!');
    age(root, 30);
    expect((await scanned(root)).fresh).toBe(false);

    // A damaged cache file is ignored and replaced.
    writeFileSync(file, 'not a cache');
    const damaged = await scanned(root);
    expect(damaged.fresh).toBe(true);
    expect(damaged.magic).toContain('NEW!');
    expect(statSync(file).size).toBeGreaterThan(100);
  });

  // `rm -rf dist && node build.mjs`: the project folder, where the scan looks for tsconfig.json
  // and package.json, changes just before every run. Its paths are asked again by the next run
  // instead of trusting its mtime, so an edit costs one scan, not one per build.
  it('a folder the scan looked in that changed just before the run (rm -rf dist) does not stop the scan being kept', async () => {
    const root = project();
    expect((await scanned(root)).fresh).toBe(true);
    const cleanBuild = () => {
      rmSync(join(root, 'dist'), { recursive: true, force: true });
      mkdirSync(join(root, 'dist'));
    };
    writeDated(root, 'src/magic/beta.ts', `export const BETA = 'BET2';\n`, 40);
    cleanBuild();
    const edited = await scanned(root);
    expect(edited.result.stats).toMatchObject({ read: 1, reused: 1 });
    expect(edited.magic).toContain('BET2');
    for (let run = 0; run < 2; run++) {
      cleanBuild();
      expect((await scanned(root)).fresh, `run ${run + 2} after the edit`).toBe(false);
    }
    // A file created in that folder where a resolution would now find it is still seen.
    writeFiles(root, { 'src/shared.ts': `export const ALPHA = 'NEWA';\n` });
    const shadowed = await scanned(root);
    expect(shadowed.fresh).toBe(true);
    expect(shadowed.magic).toContain('NEWA');
  });

  it('a path whose answer changes while the scan runs, or in the same tick as its folder\'s last change, is not kept with the old answer', async () => {
    const root = project();
    const base = nodeFileSystem();
    const shadow = join(root, 'src/shared.ts');
    let created = false;
    // The scan asks whether src/shared.ts exists (no: '../shared' is src/shared/index.ts), and the
    // file appears right after, before the scan ends.
    const fs = {
      ...base,
      isFile(path: string) {
        const answer = base.isFile(path);
        if (path === shadow && !created) {
          created = true;
          writeFileSync(shadow, `export const ALPHA = 'NEWA';\n`);
        }
        return answer;
      },
    };
    const racing = await scan(await loadConfig(undefined, root), { cache: true, fs });
    expect(created).toBe(true);
    expect(JSON.stringify(racing.drivers.map((d) => d.probes))).toContain('ALPH');
    const next = await scanned(root);
    expect(next.fresh).toBe(true);
    expect(next.magic).toContain('NEWA');

    // A file created in a folder that had just changed, in the same tick of a coarse clock (the
    // folder's mtime does not move): the record kept no mtime for that folder, so it is seen.
    rmSync(shadow);
    const src = join(root, 'src');
    const now = new Date();
    utimesSync(src, now, now);
    expect((await scanned(root)).magic).toContain('ALPH');
    writeFileSync(shadow, `export const ALPHA = 'SAME';\n`);
    utimesSync(src, now, now);
    const sameTick = await scanned(root);
    expect(sameTick.fresh).toBe(true);
    expect(sameTick.magic).toContain('SAME');
  });

  // An editor's swap or lock file beside a driver (vim's .swp, emacs' .#file) changes only the
  // folder's mtime: every path the scan asked about answers as before, so the run is a cache hit
  // that loads no compiler, and the record takes the folder's new mtime.
  it('a file that only changes a folder\'s mtime (an editor\'s swap file), or an edit that needs no parse, loads no compiler, nor does a touch', async () => {
    const root = project();
    const tools = mkdtempSync(join(tmpdir(), 'gm-scan-cache-hook-'));
    roots.push(tools);
    const flag = join(tools, 'compiler');
    // Notes whether the TypeScript compiler's file was read (loading it is most of a cold run).
    writeFileSync(
      join(tools, 'hook.cjs'),
      [
        `const fs = require('node:fs');`,
        `const read = fs.readFileSync;`,
        `let compiler = false;`,
        `fs.readFileSync = function (file, ...rest) { if (/typescript\\.js$/.test(String(file))) compiler = true; return read.call(this, file, ...rest); };`,
        `require('node:module').syncBuiltinESMExports();`,
        `process.on('exit', () => fs.writeFileSync(${JSON.stringify(flag)}, String(compiler)));`,
      ].join('\n'),
    );
    const check = async () => {
      const run = await runNode(['--require', join(tools, 'hook.cjs'), genModulesBin, '--json', '--check'], { cwd: root });
      expect(run.code, run.stderr).toBe(0);
      return { read: (JSON.parse(run.stdout) as { stats: { read: number } }).stats.read, compiler: readFileSync(flag, 'utf8') === 'true' };
    };
    writeFiles(root, { 'src/drivers/notes.ts': `export const NOTE = 1;\n` });
    expect((await runNode([genModulesBin], { cwd: root })).code).toBe(0);
    age(root, 30);
    rmSync(scanCacheFile(await loadConfig(undefined, root))!);
    expect(await check()).toEqual({ read: 3, compiler: true });
    expect(await check()).toEqual({ read: 0, compiler: false });

    // A module without decorators beside the drivers, edited: read again, nothing to parse, so
    // neither the compiler nor the tsconfig paths are loaded.
    writeDated(root, 'src/drivers/notes.ts', `export const NOTE = 2;\n`, 25);
    expect(await check()).toEqual({ read: 1, compiler: false });
    expect(await check()).toEqual({ read: 0, compiler: false });

    // A driver touched without a change: compared by the hash of its text, a hit.
    writeDated(root, 'src/drivers/alpha.ts', readFileSync(join(root, 'src/drivers/alpha.ts'), 'utf8'), 22);
    expect(await check()).toEqual({ read: 0, compiler: false });

    const drivers = join(root, 'src/drivers');
    writeFileSync(join(drivers, '.alpha.ts.swp'), 'swap');
    const when = new Date(Date.now() - 20_000);
    utimesSync(drivers, when, when);
    expect(await check()).toEqual({ read: 0, compiler: false });
    // The record now has the folder's new mtime: it answers alone, without the per-file details.
    rmSync(scanCacheFile(await loadConfig(undefined, root))!.replace(/\.bin$/, '.files.bin'));
    expect(await check()).toEqual({ read: 0, compiler: false });
  });

  it('a workspace package without node_modules of its own keeps its cache in the nearest node_modules above it', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'gm-scan-cache-ws-'));
    roots.push(workspace);
    const app = join(workspace, 'packages/app');
    mkdirSync(join(workspace, 'node_modules'));
    writeFiles(app, {
      'gen-modules.config.json': JSON.stringify({ drivers: ['src/drivers/*.ts'], out: 'src/generated/drivers.gen.ts' }),
      'tsconfig.json': '{}',
      'src/drivers/alpha.ts': `${head}@blockDriver({ format: 'alpha' }) export class Alpha {}\n`,
    });
    age(workspace, 60);
    const loaded = await loadConfig(undefined, app);
    expect(dirname(dirname(dirname(scanCacheFile(loaded)!)))).toBe(join(workspace, 'node_modules'));
    expect((await scan(loaded, { cache: true })).stats.read).toBe(1);
    expect((await scan(loaded, { cache: true })).stats.read).toBe(0);
    // Another package's config keeps its own file there.
    writeFiles(join(workspace, 'packages/other'), { 'gen-modules.config.json': JSON.stringify({ drivers: ['src/*.ts'], out: 'gen.ts' }) });
    expect(scanCacheFile(await loadConfig(undefined, join(workspace, 'packages/other')))).not.toBe(scanCacheFile(loaded));
  });

  it('what the literal reader read (a bundler checks its syntax) serves only scans that use it: a checking scan parses it', async () => {
    const root = project();
    // Plain literals, and a syntax error in a method body: the literal reader reads the
    // declaration (the bundler reports the error); the parser reports it.
    writeFiles(root, { 'src/drivers/plain.ts': `${head}@blockDriver({ format: 'plain' })\nexport class Plain {\n  size() {\n    return 1 +;\n  }\n}\n` });
    age(root, 60);
    const loaded = await loadConfig(undefined, root);
    const bundler = await scan(loaded, { cache: true, literalReader: true });
    expect(bundler.stats).toMatchObject({ read: 3, literal: 1, parsed: 4 });
    expect(bundler.diagnostics).toEqual([]);
    expect(bundler.drivers.map((d) => d.name)).toEqual(['alpha', 'beta', 'plain']);
    expect((await scan(loaded, { cache: true, literalReader: true })).stats, 'another bundler scan: the whole cache').toMatchObject({ read: 0, literal: 0, parsed: 0 });

    // The CLI checks syntax: alpha and beta come from the cache, plain is parsed again.
    const checking = await scan(loaded, { cache: true });
    expect(checking.stats).toMatchObject({ read: 1, literal: 0, parsed: 1, reused: 2 });
    expect(checking.diagnostics.map((d) => `${d.code} ${d.file}:${d.line}`)).toEqual(['GM1001 src/drivers/plain.ts:5']);

    // Mended, and checked by a checking scan: its result then serves both kinds.
    writeFiles(root, { 'src/drivers/plain.ts': `${head}@blockDriver({ format: 'plain' })\nexport class Plain {}\n` });
    age(root, 30);
    expect((await scan(loaded, { cache: true })).stats).toMatchObject({ read: 1, parsed: 1 });
    expect((await scan(loaded, { cache: true })).stats).toMatchObject({ read: 0, parsed: 0 });
    expect((await scan(loaded, { cache: true, literalReader: true })).stats).toMatchObject({ read: 0, literal: 0, parsed: 0 });
  });

  it('a plugin scanner whose results came from the cache parses a file it never read when a module it imports changes', async () => {
    const root = project();
    const loaded = await loadConfig(undefined, root);
    await scan(loaded, { cache: true, literalReader: true });
    // beta edited: the cache answers for alpha only, whose text the scanner then never reads.
    writeFiles(root, { 'src/drivers/beta.ts': `${head}@blockDriver({ format: 'beta', probe: { score: 100, match: { at: 0, bytes: 'BET2' } } }) export class Beta {}\n` });
    age(root, 60);
    const scanner = new ProjectScanner(loaded, { cache: true, literalReader: true });
    const first = await scanner.scan();
    expect(first.stats).toMatchObject({ read: 1, literal: 1, parsed: 0, reused: 1 });
    // The constant alpha imports changes: alpha is scanned again, by the parser (it names a constant).
    writeFiles(root, { 'src/shared/index.ts': `export const ALPHA = 'ALP3';\n` });
    scanner.invalidate([join(root, 'src/shared/index.ts')]);
    const again = await scanner.scan();
    expect(again.diagnostics).toEqual([]);
    expect(JSON.stringify(again.drivers.find((d) => d.name === 'alpha')!.probes)).toContain('ALP3');
  });

  it('the CLI uses it, --no-cache and GEN_MODULES_CACHE=0 do not', async () => {
    const root = project();
    const stats = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
      const run = await runNode([genModulesBin, '--json', ...args], { cwd: root, env: { ...process.env, ...env } });
      expect(run.code, run.stderr).toBe(0);
      return (JSON.parse(run.stdout) as { stats: { read: number } }).stats;
    };
    expect((await stats([])).read).toBe(2);
    // Writing the table created src/generated, which changed src/ (a folder the scan looked in),
    // and every file now gets a new mtime: the same texts and the same answers keep the cache.
    age(root, 30);
    expect((await stats(['--check'])).read).toBe(0);
    expect((await stats(['--check', '--no-cache'])).read).toBe(2);
    expect((await stats(['--check'], { GEN_MODULES_CACHE: '0' })).read).toBe(2);
    expect(readFileSync(join(root, 'src/generated/drivers.gen.ts'), 'utf8')).toContain('"alpha"');
    expect(scanCacheEnabled({ GEN_MODULES_CACHE: '0' })).toBe(false);
    expect(scanCacheEnabled({})).toBe(true);
  });
});
