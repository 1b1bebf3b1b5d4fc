// Incremental regeneration: generate, then watch the driver files, the modules their declarations
// import, the tsconfig and the config, and regenerate on every change. The scanner keeps its
// parses and per-file results, so a change re-reads only the changed files and re-evaluates the
// files that depended on them. While the sources have errors (say a syntax error mid-edit) nothing
// is written and the last good output stays.
import { existsSync, readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { loadConfig, watchTargets, type LoadedConfig } from '../config/config.js';
import { ProjectScanner } from '../scanner/scan.js';
import { generateFromConfig, type GenerateResult } from './generate.js';
import { WriteError } from './write-file.js';

export interface WatchRun {
  result: GenerateResult;
  /** Absolute paths that triggered this run (empty for the first). */
  changed: string[];
  /** Wall time of the run in milliseconds (scan + write). */
  ms: number;
}

export interface WatchOptions {
  onRun: (run: WatchRun) => void;
  /** A config that no longer loads: the watcher keeps the last good config and waits. */
  onConfigError?: (error: Error) => void;
  /** A generated file could not be written; without it, the run's promise rejects. */
  onWriteError?: (error: WriteError) => void;
  onProgress?: (done: number, total: number) => void;
  /** Quiet time after the last event before regenerating (default 10 ms). */
  debounceMs?: number;
}

export interface GenWatcher {
  /** Resolves after the first run. */
  ready: Promise<void>;
  /** Resolves when no run is pending or in progress. */
  idle(): Promise<void>;
  close(): void;
}

const SOURCE = /\.(?:[cm]?[jt]sx?|json)$/;

export function watchGenerate(initial: LoadedConfig, options: WatchOptions): GenWatcher {
  let loaded = initial;
  let scanner = new ProjectScanner(loaded, options.onProgress ? { onProgress: options.onProgress } : {});
  const dirs = new DirectoryWatcher((path, event) => onEvent(path, event));
  const pending = new Map<string, 'change' | 'rename'>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let closed = false;
  let outs = new Set<string>();

  const run = async (changed: string[]) => {
    const started = performance.now();
    let result: GenerateResult;
    try {
      result = await generateFromConfig(loaded, { scanner });
    } catch (error) {
      // An output that cannot be written (its path became a directory, the disk is full) is
      // reported and the watch goes on: the next change tries again.
      if (!(error instanceof WriteError) || !options.onWriteError) throw error;
      options.onWriteError(error);
      watchInputs(undefined);
      return;
    }
    outs = new Set(result.outputs.map((o) => o.out));
    watchInputs(result);
    options.onRun({ result, changed, ms: performance.now() - started });
  };

  /**
   * The folders of the config and the files it imports, the drivers' base folders, and the folders
   * of a run's inputs (none when its result was lost).
   */
  const watchInputs = (result: GenerateResult | undefined) => {
    if (closed) return;
    const targets = watchTargets(loaded);
    for (const file of targets.configFiles) dirs.add(dirname(file), false);
    for (const base of targets.dirs) dirs.add(base, true);
    for (const input of result?.inputs ?? []) dirs.add(dirname(resolve(loaded.root, input)), false);
  };

  const flush = () => {
    timer = undefined;
    if (running || closed) return;
    const batch = [...pending];
    pending.clear();
    if (batch.length === 0) return;
    running = (async () => {
      const paths = batch.map(([p]) => p);
      const configFiles = watchTargets(loaded).configFiles;
      if (paths.some((path) => configFiles.includes(path))) {
        try {
          loaded = await loadConfig(loaded.file, loaded.root);
        } catch (error) {
          options.onConfigError?.(error as Error);
          return;
        }
        scanner = new ProjectScanner(loaded, options.onProgress ? { onProgress: options.onProgress } : {});
      } else {
        // A rename is a content change when a known file is still there (editors save that way);
        // a new or vanished file changes the listing and the resolution of imports, and so does a
        // change to a file under a driver folder that the scanner does not know (its creation
        // went unseen: made before its folder was watched).
        const structural = batch.some(([path, event]) => (event === 'rename' ? !(existsSync(path) && scanner.knows(path)) : !scanner.knows(path) && dirs.underRecursive(path)));
        scanner.invalidate(paths, structural);
      }
      await run(paths);
    })().finally(() => {
      running = undefined;
      if (pending.size > 0) flush();
    });
  };

  function onEvent(path: string, event: 'change' | 'rename' | 'folder'): void {
    if (closed || outs.has(path) || /(^|[\\/])\.[^\\/]*\.tmp$/.test(path)) return;
    // A new folder under a glob's base may already hold files created before it was watched.
    if (event === 'folder') event = 'rename';
    else if (!SOURCE.test(path) && !watchTargets(loaded).configFiles.includes(path)) return;
    pending.set(path, pending.get(path) === 'rename' ? 'rename' : event);
    clearTimeout(timer);
    timer = setTimeout(flush, options.debounceMs ?? 10);
  }

  running = run([]).finally(() => {
    running = undefined;
    if (pending.size > 0) flush();
  });
  const ready = running;
  return {
    ready,
    async idle() {
      for (;;) {
        if (running) await running;
        else if (timer || pending.size > 0) await new Promise((r) => setTimeout(r, 5));
        else return;
      }
    },
    close() {
      closed = true;
      clearTimeout(timer);
      dirs.close();
    },
  };
}

/**
 * Non-recursive fs.watch per folder (Node 20's recursive watch on Linux sets up a watcher per file,
 * seconds for 10,000 files). Folders created later under a recursive base are added on sight.
 */
class DirectoryWatcher {
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly recursive = new Set<string>();
  /** Folders to watch that do not exist yet (a driver glob's base before its first driver), and whether recursively. */
  private readonly missing = new Map<string, boolean>();

  constructor(private readonly onEvent: (path: string, event: 'change' | 'rename' | 'folder') => void) {}

  add(dir: string, recursive: boolean): void {
    if (!isDirectory(dir)) {
      // Watched from its nearest existing ancestor, which reports the next folder towards it.
      this.missing.set(dir, recursive || (this.missing.get(dir) ?? false));
      this.watchOne(existingAncestor(dir));
      return;
    }
    if (recursive && !this.recursive.has(dir)) {
      this.recursive.add(dir);
      for (const sub of subdirectories(dir)) this.watchOne(sub);
    }
    this.watchOne(dir);
  }

  /**
   * A folder appeared on the way to folders not there yet (`mkdir -p lib/x/drivers` makes them
   * all at once): watch what exists now, closer to them or the folders themselves. Whether one of
   * them now exists (its files, made before it was watched, are then found by a rescan).
   */
  private towardsMissing(path: string): boolean {
    if (![...this.missing.keys()].some((dir) => dir === path || dir.startsWith(`${path}${sep}`))) return false;
    let found = false;
    for (const [dir, recursive] of [...this.missing]) {
      if (!isDirectory(dir)) {
        this.watchOne(existingAncestor(dir));
        continue;
      }
      this.missing.delete(dir);
      this.add(dir, recursive);
      found = true;
    }
    return found;
  }

  private watchOne(dir: string): void {
    if (this.watchers.has(dir)) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, (event, name) => {
        if (!name) return;
        const path = join(dir, name.toString());
        if (event === 'rename' && this.missing.size > 0 && isDirectory(path) && this.towardsMissing(path)) {
          this.onEvent(path, 'folder');
          return;
        }
        if (event === 'rename' && this.underRecursive(path) && isDirectory(path)) {
          for (const sub of [path, ...subdirectories(path)]) this.watchOne(sub);
          this.onEvent(path, 'folder');
          return;
        }
        this.onEvent(path, event as 'change' | 'rename');
      });
    } catch {
      return; // the folder does not exist (yet): its parent's watcher reports it when it appears
    }
    watcher.on('error', () => {
      watcher.close();
      this.watchers.delete(dir);
    });
    this.watchers.set(dir, watcher);
  }

  /** Whether `path` is in (or is) a folder watched recursively. */
  underRecursive(path: string): boolean {
    for (const base of this.recursive) {
      const rel = relative(base, path);
      if (!rel.startsWith('..') && !rel.startsWith('/')) return true;
    }
    return false;
  }

  close(): void {
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }
}

/** The folder itself when it exists, else its nearest ancestor that does. */
function existingAncestor(dir: string): string {
  let at = dir;
  while (!isDirectory(at) && dirname(at) !== at) at = dirname(at);
  return at;
}

function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

function subdirectories(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (!entry.isDirectory() || entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
      const sub = join(d, entry.name);
      out.push(sub);
      walk(sub);
    }
  };
  walk(dir);
  return out;
}
