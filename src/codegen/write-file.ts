// The one place that writes generated files (and gen-modules' caches): only when the content
// changed, and through a temporary file in the same folder (same file system, so the rename is
// atomic), flushed to disk before the rename (caches skip the flush). Readers see the old file or
// the new one, never a torn one, whether runs are concurrent or killed half-way; temporary files
// left by killed runs are removed by later runs.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileErrorReason } from '../file-error.js';
import { ProjectError } from '../project-error.js';
import { processRunning } from '../process-running.js';

export type WriteOutcome = 'written' | 'unchanged';

export function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function writeIfChanged(path: string, content: string): WriteOutcome {
  if (readIfExists(path) === content) return 'unchanged';
  writeAtomic(path, content);
  return 'written';
}

export interface AtomicWriteOptions {
  /** Flush to disk before the rename (generated files); a cache can do without. Default true. */
  durable?: boolean;
  /** File mode of a new file (the umask applies). */
  mode?: number;
}

/**
 * A file gen-modules was to write could not be written (its path is a directory, a part of its
 * path is a file, no permission, a full disk): the user's to fix, so the CLI and the plugins say
 * it in one line naming the file instead of a stack trace.
 */
export class WriteError extends ProjectError {
  override readonly name = 'WriteError';
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`cannot write ${file}: ${reason}`);
  }
}

/** A file-system error in the words a user needs. */
function writeReason(error: NodeJS.ErrnoException): string {
  // mkdir -p found a file where a directory of the path should be.
  return error.code === 'EEXIST' ? 'a part of its path is a file, not a directory' : fileErrorReason(error);
}

/**
 * mkdir -p. Node 20's recursive mkdir reports some failures as ENOENT (a read-only file system:
 * "no such file" for a folder it could not make); made one level at a time, the real error shows.
 */
function makeFolder(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const missing: string[] = [];
    for (let at = dir; !existsSync(at) && dirname(at) !== at; at = dirname(at)) missing.unshift(at);
    for (const folder of missing) mkdirSync(folder);
    if (!existsSync(dir)) throw error;
  }
}

/** Writes `content` to `path` through a temporary file renamed into place; throws a WriteError on failure. */
export function writeAtomic(path: string, content: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  try {
    writeThroughTemp(path, content, options);
  } catch (error) {
    if (typeof (error as NodeJS.ErrnoException).code === 'string') throw new WriteError(path, writeReason(error as NodeJS.ErrnoException));
    throw error;
  }
}

function writeThroughTemp(path: string, content: string | Uint8Array, options: AtomicWriteOptions): void {
  const dir = dirname(path);
  makeFolder(dir);
  removeAbandonedTemps(dir, basename(path));
  const temp = join(dir, `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  try {
    const fd = openSync(temp, 'w', options.mode);
    try {
      const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      if (options.durable ?? true) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/** Temporary files of this output whose process is gone (killed mid-write). */
function removeAbandonedTemps(dir: string, base: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const prefix = `.${base}.`;
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    if (!Number.isInteger(pid) || pid === process.pid || processRunning(pid)) continue;
    // Another machine sharing the folder could own a pid we do not see: only remove old files.
    const age = Date.now() - (statSync(join(dir, name), { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (age > 10_000) rmSync(join(dir, name), { force: true });
  }
}
