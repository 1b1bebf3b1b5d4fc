// esbuild fixes a build's entry points at setup, yet a live context must survive a driver that
// goes away (its file deleted, its decorator removed, its state changed). An `onResolve` hook on
// every lazy entry could turn a gone one into an empty module, but costs a round trip to this
// process per entry per build (10-20 ms at 200 drivers). Instead the lazy entries reach esbuild
// through one symlink of ours, `<tmp>/root -> /`: entry `/src/drivers/qcow2.ts` is given as
// `<tmp>/root/src/drivers/qcow2.ts`, which esbuild follows to the real file (one module, shared
// with the table's import()). The first time a driver goes away in a live context, a mirror tree
// is made (a link per entry: the real file, or an empty stub for a gone driver) and `root` is
// re-pointed at it; the plugin deletes the stubs' outputs. Making a link per entry up front would
// cost more than the hook (file creation is slow here: ~0.25 ms each), so only contexts that
// lose a driver pay for it, once. Nothing in the user's tree is touched. Where links cannot be
// made (Windows without the privilege, preserveSymlinks), the plugin falls back to the hook.
// A removed set whose root still points at `/` goes back to a pool for the next build of this
// process (one-off builds each made and deleted a folder: about 1.5 ms per build).
//
// A process's folders go at its exit, but a process ended by a signal (Ctrl-C on a watch script,
// a test runner ending its workers) runs no exit listener, and its folder would stay in the temp
// folder for good: one per killed process (a test run of this repository left one per test file
// that built with esbuild). So a folder's name carries its host (with its pid namespace) and
// process id, and the first folder a process makes starts a sweep, in the background, of the
// folders of this host's processes that are gone.
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readlinkSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { processRunning } from '../src/process-running.js';

export interface EntryLinks {
  /** The path esbuild gets for lazy entry `index`. */
  path(index: number): string;
  /** Points entry `index` at its file (`live`) or at an empty stub; only when that changes. */
  point(index: number, live: boolean): void;
  /** Whether `file` (absolute, as esbuild resolved it) is a stub. */
  isStub(file: string): boolean;
  remove(): void;
}

const PREFIX = 'gen-modules-entries-';
let hostTag: string | undefined;
/**
 * Who can compare process ids, in folder names: processes of one host and, on Linux, of one pid
 * namespace. Another machine or container may share the temp folder (a volume shared by the
 * containers of a pod, each with pids of its own) and its processes are not visible from here, so
 * its folders must never look abandoned.
 */
function host(): string {
  if (hostTag === undefined) {
    let pids = '';
    try {
      pids = readlinkSync('/proc/self/ns/pid');
    } catch {
      // No /proc (macOS, BSD): no pid namespaces either.
    }
    hostTag = createHash('sha256').update(`${hostname()}\0${pids}`).digest('hex').slice(0, 8);
  }
  return hostTag;
}

const folders = new Set<string>();
/** Folders whose `root` points at `/`, free for the next set of links. */
const pool: string[] = [];
let exitHook = false;

/** Replaces (or makes) the symlink at `at`, atomically: esbuild never finds it missing. */
function relink(target: string, at: string): void {
  const next = `${at}.next`;
  rmSync(next, { force: true });
  symlinkSync(target, next);
  renameSync(next, at);
}

/** Links for these absolute files, or undefined when the file system does not allow them. */
export function createEntryLinks(files: readonly string[]): EntryLinks | undefined {
  if (process.platform === 'win32' || files.some((f) => !f.startsWith('/'))) return undefined;
  const dir = pooled() ?? newFolder();
  if (dir === undefined) return undefined;
  const root = join(dir, 'root');
  let mirror: string | undefined;
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    // Untouched (no mirror, hence no stubs): as good as new.
    if (mirror === undefined) {
      pool.push(dir);
      return;
    }
    folders.delete(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  const live = files.map(() => true);
  const stubOf = (file: string) => {
    const stub = join(dir, `stub${extname(file) || '.js'}`);
    writeFileSync(stub, '', { flag: 'a' });
    return stub;
  };
  const targetOf = (i: number) => (live[i] ? files[i]! : stubOf(files[i]!));
  return {
    path: (i) => join(root, files[i]!),
    point(i, isLive) {
      if (live[i] === isLive) return;
      live[i] = isLive;
      if (mirror) {
        relink(targetOf(i), join(mirror, files[i]!));
        return;
      }
      mirror = join(dir, 'mirror');
      files.forEach((file, j) => {
        mkdirSync(dirname(join(mirror!, file)), { recursive: true });
        symlinkSync(targetOf(j), join(mirror!, file));
      });
      relink(mirror, root);
    },
    isStub: (file) => dirname(file) === dir && /^stub\./.test(file.slice(dir.length + 1)),
    remove,
  };
}

/** A pooled folder whose link is still there (a temp cleaner may have removed it meanwhile). */
function pooled(): string | undefined {
  for (let dir = pool.pop(); dir !== undefined; dir = pool.pop()) {
    if (lstatSync(join(dir, 'root'), { throwIfNoEntry: false })?.isSymbolicLink()) return dir;
    folders.delete(dir);
    rmSync(dir, { recursive: true, force: true });
  }
  return undefined;
}

/** A new folder with `root -> /`, removed at exit; undefined when links cannot be made. */
function newFolder(): string | undefined {
  let dir: string;
  try {
    // The real path: esbuild reports the stubs by their real paths (macOS's /var is a link).
    dir = realpathSync.native(mkdtempSync(join(tmpdir(), `${PREFIX}${host()}-${process.pid}-`)));
  } catch {
    return undefined;
  }
  try {
    symlinkSync('/', join(dir, 'root'));
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  folders.add(dir);
  if (!exitHook) {
    exitHook = true;
    // A context never disposed still leaves no folder behind.
    process.once('exit', () => {
      for (const folder of folders) rmSync(folder, { recursive: true, force: true });
    });
    // Not awaited: the build does not wait for the temp folder's listing. A failure (a folder
    // another process is removing at the same time) leaves it to the next process.
    sweepAbandonedFolders().catch(() => undefined);
  }
  return dir;
}

/**
 * Removes the link folders, in `dir` (the temp folder), of this host's processes that no longer
 * run; returns their names. A folder of this process, of a running process or of another host is
 * kept, as is anything not named like ours.
 */
export async function sweepAbandonedFolders(dir = tmpdir()): Promise<string[]> {
  const ours = new RegExp(`^${PREFIX}${host()}-(\\d+)-`);
  const abandoned = (await readdir(dir)).filter((name) => {
    const pid = Number(ours.exec(name)?.[1] ?? Number.NaN);
    return Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && !processRunning(pid);
  });
  await Promise.all(abandoned.map((name) => rm(join(dir, name), { recursive: true, force: true })));
  return abandoned;
}
