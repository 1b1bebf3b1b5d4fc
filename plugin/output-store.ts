// Reading and changing a build's output files after the bundler wrote them (or, for esbuild's
// `write: false`, in its `outputFiles`): each chunk is read once, and a chunk that gets the build
// id is patched in place. Used by the esbuild plugin, and by the Vite plugin when the bundle is
// written (see rollup-core.ts); `memoryFiles` does the same for a bundle's chunks in memory
// (rollup, Vite's `write: false`).
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, readSync, renameSync, rmSync, writeSync, writevSync } from 'node:fs';
import type { OutputFile } from 'esbuild';
import { writeAtomic } from '../src/codegen/write-file.js';

/** Bytes to insert at a byte offset of a chunk's UTF-8 contents. */
export interface Insertion {
  at: number;
  bytes: Uint8Array;
}

export function applyInsertion(contents: Uint8Array, { at, bytes }: Insertion): Buffer {
  return Buffer.concat([contents.subarray(0, at), bytes, contents.subarray(at)]);
}

export type WriteFromOutcome = 'written' | 'missing' | 'other-size';

/** Reads and changes the build's outputs, on disk or in `outputFiles` (write: false). */
export interface OutputStore {
  /**
   * The output's bytes; `size`: its expected size. On disk they live in one buffer the store
   * reuses: valid until its next read or patch (use them, do not keep them).
   */
  read(path: string, size?: number): Uint8Array | undefined;
  write(path: string, contents: string | Uint8Array): void;
  /** Inserts the bytes `insertionFor` asks for into the output; returns its contents before (valid as `read`'s) and the insertion. */
  patch(path: string, insertionFor: (contents: Uint8Array) => Insertion, size?: number): { code: Uint8Array; inserted: Insertion } | undefined;
  /**
   * Replaces the output's bytes from offset `at` on with `parts`: 'missing' when there is no such
   * output; with `size`, only when the output has that many bytes ('other-size' otherwise).
   */
  writeFrom(path: string, at: number, parts: readonly Uint8Array[], size?: number): WriteFromOutcome;
  rename(from: string, to: string): void;
  remove(path: string): void;
}

/**
 * On disk (esbuild wrote the files, in parallel, faster than this process could: creating a file
 * costs far more here than opening one), every chunk is read into one reused buffer rather than
 * fresh memory, whose page faults were most of the reading on this project's machine (the 200
 * driver chunks of the bench read alone: 12-15 ms into fresh memory, 2.6-5 ms into one buffer;
 * esbuild's end of the build in a fresh process went from 61 to 47 ms). A lazy chunk is patched
 * in place through the same open file: only the inserted statement and the few bytes after it (a
 * sourceMappingURL comment) are written, nothing is truncated or rewritten.
 */
export function outputStore(outputFiles: OutputFile[] | undefined): OutputStore {
  if (!outputFiles) {
    const open = (path: string, flags: string): number | undefined => {
      try {
        return openSync(path, flags);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    };
    let buffer = Buffer.allocUnsafe(1 << 16);
    const room = (size: number): Buffer => {
      if (size > buffer.length) buffer = Buffer.allocUnsafe(Math.max(size, buffer.length * 2));
      return buffer;
    };
    /** The whole file; `size` (the metafile's) saves an fstat when it is right. */
    const readOpen = (fd: number, size?: number): Buffer => {
      if (size !== undefined) {
        // One byte more than expected: a short read proves the file ends where the metafile says.
        const into = room(size + 1);
        const n = readInto(fd, into.subarray(0, size + 1), 0);
        if (n <= size) return into.subarray(0, n);
      }
      const total = fstatSync(fd).size;
      const into = room(total);
      return into.subarray(0, readInto(fd, into.subarray(0, total), 0));
    };
    const withFile = <T>(path: string, flags: string, use: (fd: number) => T): T | undefined => {
      const fd = open(path, flags);
      if (fd === undefined) return undefined;
      try {
        return use(fd);
      } finally {
        closeSync(fd);
      }
    };
    return {
      read: (path, size) => withFile(path, 'r', (fd) => readOpen(fd, size)),
      // Through a temporary file and a rename: a reader (a dev server, a deploy script) sees the
      // old manifest or the new one, never a torn one.
      write: (path, contents) => writeAtomic(path, contents, { durable: false }),
      patch: (path, insertionFor, size) =>
        withFile(path, 'r+', (fd) => {
          const code = readOpen(fd, size);
          const inserted = insertionFor(code);
          writeParts(fd, inserted.at, [inserted.bytes, code.subarray(inserted.at)]);
          return { code, inserted };
        }),
      writeFrom: (path, at, parts, size) =>
        withFile(path, 'r+', (fd): WriteFromOutcome => {
          if (size !== undefined && fstatSync(fd).size !== size) return 'other-size';
          // The file is never shorter than the end written; longer only if the new bytes are fewer
          // than the old (never, when its size was checked: the parts replace its end and add to it).
          const end = writeParts(fd, at, parts);
          if (size === undefined || end < size) ftruncateSync(fd, end);
          return 'written';
        }) ?? 'missing',
      rename: (from, to) => {
        if (existsSync(from)) renameSync(from, to);
      },
      remove: (path) => rmSync(path, { force: true }),
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
    ...inMemory(read, put),
    write: (path, contents) => put(path, typeof contents === 'string' ? Buffer.from(contents) : contents),
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

/** What `finishChunks` (build-manifest.ts) needs of the outputs: the store (disk or `outputFiles`), or chunks in memory. */
export type ChunkFiles = Pick<OutputStore, 'read' | 'patch' | 'writeFrom'>;

/** Chunks held in memory, by path (a bundle's chunks before they are written). */
export function memoryFiles(contents: Map<string, Uint8Array>): ChunkFiles {
  return inMemory(
    (path) => contents.get(path),
    (path, bytes) => contents.set(path, bytes),
  );
}

/** read, patch and writeFrom over bytes in memory, through `get` and `put`. */
function inMemory(get: (path: string) => Uint8Array | undefined, put: (path: string, bytes: Uint8Array) => void): ChunkFiles {
  return {
    read: get,
    patch: (path, insertionFor) => {
      const code = get(path);
      if (code === undefined) return undefined;
      const inserted = insertionFor(code);
      put(path, applyInsertion(code, inserted));
      return { code, inserted };
    },
    writeFrom: (path, at, parts, size) => {
      const code = get(path);
      if (code === undefined) return 'missing';
      if (size !== undefined && code.length !== size) return 'other-size';
      put(path, Buffer.concat([code.subarray(0, at), ...parts]));
      return 'written';
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

/** Writes `parts` one after the other from `position` (one system call when it takes them all); returns the end offset. */
function writeParts(fd: number, position: number, parts: readonly Uint8Array[]): number {
  const total = parts.reduce((sum, p) => sum + p.length, 0);
  const written = writevSync(fd, parts as Uint8Array[], position);
  if (written < total) {
    const rest = Buffer.concat(parts as Uint8Array[]).subarray(written);
    for (let done = 0; done < rest.length; ) done += writeSync(fd, rest, done, rest.length - done, position + written + done);
  }
  return position + total;
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
