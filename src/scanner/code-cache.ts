// Loads a large CommonJS file (the TypeScript compiler, 9 MB) with a V8 code cache, so that a
// run compiles it from bytecode instead of from source: about 0.2 s of every cold `gen-modules`
// run on this project's machine. Node 22 has module.enableCompileCache() (what tsc 5.7+ uses);
// Node 20, which we support, does not, so this does the same for the one file that matters.
//
// The cache lives in the user's cache folder (never a shared temporary folder, where another user
// could plant bytecode): $GEN_MODULES_CODE_CACHE, else $XDG_CACHE_HOME/gen-modules, else
// ~/.cache/gen-modules. GEN_MODULES_CODE_CACHE=0 turns it off. A cache file's name holds the
// source's path, size, mtime, ctime and inode and Node's version, since V8 itself checks only the
// source's length (and its own version and flags: a rejected cache is rebuilt). Written once, after
// the first use (so that it holds the functions that use compiled, not just the top level),
// atomically (write-file.ts): concurrent runs never read a torn cache. Every failure falls back to
// a plain require: the cache can make a run faster, never make it fail. Every install of the
// compiler (each `npm ci`, each project) has its own key, so a write also removes all but the
// newest few caches of that file: about 2.6 MB each, they would otherwise pile up.
import { isAscii } from 'node:buffer';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { writeAtomic } from '../codegen/write-file.js';

interface PendingCache {
  script: Script;
  cacheFile: string;
}

const pending: PendingCache[] = [];

/** The cache folder, or undefined when turned off. */
export function codeCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const setting = env.GEN_MODULES_CODE_CACHE;
  if (setting === '0' || setting === 'false') return undefined;
  if (setting) return setting;
  const base = env.XDG_CACHE_HOME || (env.LOCALAPPDATA && process.platform === 'win32' ? env.LOCALAPPDATA : join(homedir(), '.cache'));
  return join(base, 'gen-modules');
}

/** `require(file)` through the code cache (without one when it is turned off). */
export function requireWithCodeCache(file: string): unknown {
  const dir = codeCacheDir();
  const require = createRequire(file);
  let source: string;
  let cacheFile: string | undefined;
  try {
    source = readSource(file);
    if (dir) {
      const stat = statSync(file);
      // V8 accepts cached bytecode for any source of the same length, so the key must change with
      // the text. Size and mtime do not suffice: npm dates every installed file 1985, so a
      // reinstall of another version at the same path keeps them when the length matches. The
      // ctime (set by the system on every write, and by every install) and the inode do.
      const stamp = [file, stat.size, stat.mtimeMs, stat.ctimeMs, stat.ino, process.version, process.arch].join('\0');
      const key = createHash('sha256').update(stamp).digest('hex').slice(0, 24);
      cacheFile = join(dir, `${basename(file).replace(/\W/g, '_')}-${key}.v8`);
    }
  } catch {
    return require(file);
  }
  let cachedData: Buffer | undefined;
  try {
    if (cacheFile) cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  // Node's own CommonJS wrapper, so the file sees the usual module scope.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n});`, { filename: file, cachedData });
  const module = { exports: {} as unknown, filename: file, id: file, loaded: false };
  (script.runInThisContext() as (...args: unknown[]) => void).call(module.exports, module.exports, require, module, file, dirname(file));
  module.loaded = true;
  if (cacheFile && (cachedData === undefined || script.cachedDataRejected)) pending.push({ script, cacheFile });
  return module.exports;
}

/**
 * The file's text. Node 20's readFileSync(file, 'utf8') takes about 0.1 s for the compiler's 9 MB;
 * the same bytes read as a buffer and, being ASCII (as the compiler is), decoded as Latin-1 take
 * a tenth of that.
 */
function readSource(file: string): string {
  const bytes = readFileSync(file);
  return isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
}

/** Writes the caches that were missing or rejected; call once the loaded code has done its work. */
export function saveCodeCaches(): void {
  for (const { script, cacheFile } of pending.splice(0)) {
    try {
      // Bytecode this process will run: a folder and a file only its user can write.
      mkdirSync(dirname(cacheFile), { recursive: true, mode: 0o700 });
      writeAtomic(cacheFile, script.createCachedData(), { durable: false, mode: 0o600 });
      pruneCaches(cacheFile);
    } catch {
      // Not writable: the next run tries again.
    }
  }
}

/** How many caches of one file (different installs of it) are kept. */
export const KEPT_CACHES = 4;

/** Removes all but the KEPT_CACHES most recently written caches of the same file as `kept`. */
function pruneCaches(kept: string): void {
  const dir = dirname(kept);
  const prefix = basename(kept).replace(/-[0-9a-f]+\.v8$/, '-');
  const others = readdirSync(dir)
    .filter((name) => name.startsWith(prefix) && /^[0-9a-f]+\.v8$/.test(name.slice(prefix.length)) && join(dir, name) !== kept)
    .map((name) => {
      const path = join(dir, name);
      return { path, mtime: statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? 0 };
    })
    .sort((a, b) => b.mtime - a.mtime || (a.path < b.path ? -1 : 1));
  for (const { path } of others.slice(KEPT_CACHES - 1)) rmSync(path, { force: true });
}
