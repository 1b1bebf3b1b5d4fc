// The scanner's only view of the disk: read a file, ask whether a path is a file, follow
// symlinks. Answers are cached for one scan (a watcher forgets the paths that changed); tests
// pass an in-memory map instead.
import { readFileSync, realpathSync, statSync } from 'node:fs';

export interface ScanFileSystem {
  /** The file's text; throws when it cannot be read. */
  readText(absolute: string): string;
  isFile(absolute: string): boolean;
  realpath(absolute: string): string;
  /** Forget what is known about these paths (or everything). */
  forget?(paths?: Iterable<string>): void;
}

export function nodeFileSystem(): ScanFileSystem {
  const files = new Map<string, boolean>();
  const real = new Map<string, string>();
  return {
    readText: (path) => readFileSync(path, 'utf8'),
    isFile(path) {
      let known = files.get(path);
      if (known === undefined) {
        known = statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
        files.set(path, known);
      }
      return known;
    },
    realpath(path) {
      let known = real.get(path);
      if (known === undefined) {
        try {
          // The native call: one system call, where the JavaScript one lstat()s every component.
          known = realpathSync.native(path);
        } catch {
          known = path;
        }
        real.set(path, known);
      }
      return known;
    },
    forget(paths) {
      if (!paths) {
        files.clear();
        real.clear();
        return;
      }
      for (const path of paths) files.delete(path);
      // A new or removed file can change what any symlink points at: cheap to recompute.
      real.clear();
    },
  };
}

/** A file system made from a `readText` function (a path is a file when it can be read). */
export function readTextFileSystem(readText: (absolute: string) => string, base: ScanFileSystem = nodeFileSystem()): ScanFileSystem {
  const texts = new Map<string, string | undefined>();
  const read = (path: string) => {
    if (!texts.has(path)) {
      try {
        texts.set(path, readText(path));
      } catch {
        texts.set(path, undefined);
      }
    }
    return texts.get(path);
  };
  return {
    readText(path) {
      const text = read(path);
      if (text === undefined) return readText(path);
      return text;
    },
    isFile: (path) => read(path) !== undefined,
    realpath: (path) => base.realpath(path),
    forget(paths) {
      if (!paths) texts.clear();
      else for (const path of paths) texts.delete(path);
      base.forget?.(paths);
    },
  };
}

/** An in-memory tree for tests: absolute path -> text. */
export function memoryFileSystem(files: Readonly<Record<string, string>>): ScanFileSystem {
  return {
    readText(path) {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' });
      return text;
    },
    isFile: (path) => Object.prototype.hasOwnProperty.call(files, path),
    realpath: (path) => path,
  };
}
