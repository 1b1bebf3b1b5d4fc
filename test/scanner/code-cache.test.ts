// The V8 code cache of the TypeScript compiler (src/scanner/code-cache.ts): written by the first
// run, used by the next, rebuilt when it is damaged, never written when turned off, and never a
// reason for a run to fail or to produce different output.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { codeCacheDir, KEPT_CACHES } from '../../src/scanner/code-cache.js';
import { genModulesBin, repoRoot, tsxLoader } from '../support/paths.js';
import { runNode } from '../support/run-node.js';

const temporary: string[] = [];
const tempDir = (name: string) => {
  const dir = mkdtempSync(join(tmpdir(), `gm-code-cache-${name}-`));
  temporary.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the plugin test app: four drivers, one probe module. */
function project(): string {
  const dir = tempDir('app');
  cpSync(join(repoRoot, 'fixtures/plugin-apps/basic'), dir, { recursive: true, filter: (src) => !/\/(dist[^/]*|generated)$/.test(src) });
  return dir;
}

async function generate(cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  rmSync(join(cwd, 'src/generated'), { recursive: true, force: true });
  const run = await runNode([genModulesBin], { cwd, env: { ...process.env, ...env } });
  expect(run.code, run.stderr).toBe(0);
  return readFileSync(join(cwd, 'src/generated/drivers.gen.ts'), 'utf8');
}

const cacheFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.v8'));

describe('code cache of the TypeScript compiler', () => {
  it('keeps only the newest few caches of the compiler (each install has its own) and leaves other files alone', async () => {
    const cwd = project();
    const cache = tempDir('prune');
    // Caches of other installs, oldest first, and files that are not ours to remove.
    const old = Array.from({ length: KEPT_CACHES + 2 }, (_, i) => `typescript_js-${String(i).repeat(24).slice(0, 24)}.v8`);
    old.forEach((name, i) => {
      writeFileSync(join(cache, name), 'old');
      const when = new Date(Date.now() - (100 - i) * 60_000);
      utimesSync(join(cache, name), when, when);
    });
    writeFileSync(join(cache, 'other_js-000000000000000000000000.v8'), 'not ours');
    writeFileSync(join(cache, 'notes.txt'), 'not ours');
    await generate(cwd, { GEN_MODULES_CODE_CACHE: cache });
    const left = readdirSync(cache).sort();
    const mine = left.filter((f) => f.startsWith('typescript_js-'));
    expect(mine).toHaveLength(KEPT_CACHES);
    // The new one and the most recent of the others.
    expect(mine).toEqual(expect.arrayContaining(old.slice(-(KEPT_CACHES - 1))));
    expect(left).toEqual(expect.arrayContaining(['notes.txt', 'other_js-000000000000000000000000.v8']));
  });

  it('is written by the first run, reused by the next, and rebuilt when damaged', async () => {
    const cwd = project();
    const cache = tempDir('cache');
    const first = await generate(cwd, { GEN_MODULES_CODE_CACHE: cache });
    const [file] = cacheFiles(cache);
    expect(file, 'the first run writes the cache').toMatch(/^typescript_js-[0-9a-f]{24}\.v8$/);
    const written = statSync(join(cache, file!));
    expect(written.size).toBeGreaterThan(100_000);
    // No temporary file is left beside it.
    expect(readdirSync(cache)).toEqual([file]);

    expect(await generate(cwd, { GEN_MODULES_CODE_CACHE: cache })).toBe(first);
    expect(statSync(join(cache, file!)).mtimeMs, 'an accepted cache is not rewritten').toBe(written.mtimeMs);

    // Damaged: V8 rejects it; the run is not affected and writes a good cache again.
    writeFileSync(join(cache, file!), Buffer.alloc(4096, 0x5a));
    expect(await generate(cwd, { GEN_MODULES_CODE_CACHE: cache })).toBe(first);
    const rebuilt = readFileSync(join(cache, file!));
    expect(rebuilt.length).toBeGreaterThan(100_000);
    expect(rebuilt.subarray(0, 4096).equals(Buffer.alloc(4096, 0x5a))).toBe(false);
  });

  it('GEN_MODULES_CODE_CACHE=0 turns it off; an unwritable folder is no error', async () => {
    const cwd = project();
    const xdg = tempDir('xdg');
    const expected = await generate(cwd, { GEN_MODULES_CODE_CACHE: '0', XDG_CACHE_HOME: xdg });
    expect(readdirSync(xdg), 'nothing written under the cache home').toEqual([]);
    // A file where the folder should be: the cache cannot be made, the run goes on.
    const blocker = join(tempDir('blocked'), 'not-a-folder');
    writeFileSync(blocker, '');
    expect(await generate(cwd, { GEN_MODULES_CODE_CACHE: blocker })).toBe(expected);
  });

  it('never runs the bytecode of other text at the same path, with the same size and npm\'s mtime', async () => {
    // V8 accepts cached bytecode for any source of the same length: a reinstall of another version
    // (npm dates every file 1985) must not be answered by the old version's cache.
    const dir = tempDir('same-size');
    const cache = join(dir, 'cache');
    const file = join(dir, 'compiler.cjs');
    const npmDate = new Date('1985-10-26T08:15:00Z');
    // One process per load, as runs are: the source module through tsx's loader.
    const runner = join(dir, 'load.mts');
    const module = pathToFileURL(join(repoRoot, 'src/scanner/code-cache.ts')).href;
    writeFileSync(
      runner,
      `import { requireWithCodeCache, saveCodeCaches } from ${JSON.stringify(module)};\n` +
        `const value = (requireWithCodeCache(process.argv[2]) as { value(): string }).value();\nsaveCodeCaches();\nconsole.log(value);\n`,
    );
    const run = async () => {
      const result = await runNode(['--import', tsxLoader, runner, file], { env: { ...process.env, GEN_MODULES_CODE_CACHE: cache } });
      expect(result.code, result.stderr).toBe(0);
      return result.stdout.trim();
    };
    writeFileSync(file, 'exports.value = function () { return "aaaa"; };\n');
    utimesSync(file, npmDate, npmDate);
    expect(await run()).toBe('aaaa');
    expect(await run(), 'from the cache').toBe('aaaa');
    expect(cacheFiles(cache)).toHaveLength(1);
    writeFileSync(file, 'exports.value = function () { return "bbbb"; };\n');
    utimesSync(file, npmDate, npmDate);
    expect(await run()).toBe('bbbb');
  });

  it('lives in the user cache folder by default', () => {
    expect(codeCacheDir({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/gen-modules');
    expect(codeCacheDir({ GEN_MODULES_CODE_CACHE: '/y' })).toBe('/y');
    expect(codeCacheDir({ GEN_MODULES_CODE_CACHE: '0', XDG_CACHE_HOME: '/x' })).toBeUndefined();
    expect(codeCacheDir({})).toMatch(/[/\\]\.cache[/\\]gen-modules$/);
  });
});
