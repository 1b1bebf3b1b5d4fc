// Reading and changing a build's output files after the bundler wrote them (or, for esbuild's
// `write: false`, in its `outputFiles`): each chunk is read once, and a chunk that gets the build
// id is patched in place. Used by the esbuild plugin, and by the Vite plugin when the bundle is
// written (see rollup-core.ts).
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readSync, renameSync, rmSync, writeFileSync, writeSync, writevSync } from 'node:fs';
import type { OutputFile } from 'esbuild';
import { applyInsertion, type Insertion } from './shared.js';

/** Reads and changes the build's outputs, on disk or in `outputFiles` (write: false). */
export interface OutputStore {
  /** The output's bytes (read once; later calls return the same bytes). `size`: its expected size. */
  read(path: string, size?: number): Uint8Array | undefined;
  write(path: string, contents: string | Uint8Array): void;
  /** Inserts the bytes `insertionFor` asks for into the output; returns the contents before and the insertion. */
  patch(path: string, insertionFor: (contents: Uint8Array) => Insertion, size?: number): { code: Uint8Array; inserted: Insertion } | undefined;
  rename(from: string, to: string): void;
  remove(path: string): void;
}

/**
 * On disk (esbuild wrote the files, in parallel, faster than this process could: creating a file
 * costs far more here than opening one), every chunk is read back once; a lazy chunk is patched in
 * place through the same open file: only the inserted statement and the few bytes after it (a
 * sourceMappingURL comment) are written, nothing is truncated or rewritten.
 */
export function outputStore(outputFiles: OutputFile[] | undefined): OutputStore {
  if (!outputFiles) {
    const known = new Map<string, Uint8Array>();
    const open = (path: string, flags: string): number | undefined => {
      try {
        return openSync(path, flags);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    };
    // The outputs are read into shared slabs: one allocation per megabyte rather than per file.
    let slab = Buffer.alloc(0);
    const take = (size: number): Buffer => {
      if (size > slab.length) slab = Buffer.allocUnsafe(Math.max(size, 1 << 20));
      const bytes = slab.subarray(0, size);
      slab = slab.subarray(size);
      return bytes;
    };
    /** The whole file; `size` (the metafile's) saves an fstat when it is right. */
    const readOpen = (fd: number, size?: number): Buffer => {
      if (size !== undefined) {
        // One byte more than expected: a short read proves the file ends where the metafile says.
        const bytes = take(size + 1);
        const n = readInto(fd, bytes, 0);
        if (n <= size) return bytes.subarray(0, n);
      }
      const bytes = take(fstatSync(fd).size);
      return bytes.subarray(0, readInto(fd, bytes, 0));
    };
    return {
      read: (path, size) => {
        const cached = known.get(path);
        if (cached) return cached;
        const fd = open(path, 'r');
        if (fd === undefined) return undefined;
        try {
          const bytes = readOpen(fd, size);
          known.set(path, bytes);
          return bytes;
        } finally {
          closeSync(fd);
        }
      },
      write: (path, contents) => {
        writeFileSync(path, contents);
        known.delete(path);
      },
      patch: (path, insertionFor, size) => {
        const fd = open(path, 'r+');
        if (fd === undefined) return undefined;
        try {
          const code = known.get(path) ?? readOpen(fd, size);
          const inserted = insertionFor(code);
          const tail = code.subarray(inserted.at);
          // One write of the statement and what follows it (usually both at once).
          const written = writevSync(fd, [inserted.bytes, tail], inserted.at);
          const total = inserted.bytes.length + tail.length;
          if (written < total) writeAll(fd, Buffer.concat([inserted.bytes, tail]).subarray(written), inserted.at + written);
          known.delete(path);
          return { code, inserted };
        } finally {
          closeSync(fd);
        }
      },
      rename: (from, to) => {
        if (existsSync(from)) renameSync(from, to);
        known.delete(from);
      },
      remove: (path) => {
        rmSync(path, { force: true });
        known.delete(path);
      },
    };
  }
  const index = new Map(outputFiles.map((f, i) => [f.path, i]));
  const put = (path: string, contents: Uint8Array) => {
    const file = outputFile(path, contents);
    const at = index.get(path);
    if (at === undefined) index.set(path, outputFiles.push(file) - 1);
    else outputFiles[at] = file;
  };
  const read = (path: string) => {
    const at = index.get(path);
    return at === undefined ? undefined : outputFiles[at]!.contents;
  };
  return {
    read,
    write: (path, contents) => put(path, typeof contents === 'string' ? Buffer.from(contents) : contents),
    patch: (path, insertionFor) => {
      const code = read(path);
      if (code === undefined) return undefined;
      const inserted = insertionFor(code);
      put(path, applyInsertion(code, inserted));
      return { code, inserted };
    },
    rename: (from, to) => {
      const at = index.get(from);
      if (at === undefined) return;
      outputFiles[at] = outputFile(to, outputFiles[at]!.contents);
      index.delete(from);
      index.set(to, at);
    },
    remove: (path) => {
      const at = index.get(path);
      if (at === undefined) return;
      outputFiles.splice(at, 1);
      index.clear();
      outputFiles.forEach((f, i) => index.set(f.path, i));
    },
  };
}

/** Reads from `position` until `bytes` is full or the file ends; returns the count read. */
function readInto(fd: number, bytes: Uint8Array, position: number): number {
  let done = 0;
  while (done < bytes.length) {
    const n = readSync(fd, bytes, done, bytes.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

function outputFile(path: string, contents: Uint8Array): OutputFile {
  let hash: string | undefined;
  return {
    path,
    contents,
    get hash() {
      return (hash ??= createHash('sha256').update(contents).digest('base64url').slice(0, 16));
    },
    get text() {
      return Buffer.from(contents.buffer, contents.byteOffset, contents.byteLength).toString('utf8');
    },
  };
}
