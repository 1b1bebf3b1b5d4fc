// The one place that writes generated files: only when the content changed, and through a
// temporary file in the same folder (same file system, so the rename is atomic), flushed to disk
// before the rename. Readers see the old file or the new one, never a torn one, whether runs are
// concurrent or killed half-way; temporary files left by killed runs are removed by later runs.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

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
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  removeAbandonedTemps(dir, basename(path));
  const temp = join(dir, `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  try {
    const fd = openSync(temp, 'w');
    try {
      const bytes = Buffer.from(content, 'utf8');
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  return 'written';
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
    if (!Number.isInteger(pid) || pid === process.pid || isAlive(pid)) continue;
    // Another machine sharing the folder could own a pid we do not see: only remove old files.
    const age = Date.now() - (statSync(join(dir, name), { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (age > 10_000) rmSync(join(dir, name), { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
