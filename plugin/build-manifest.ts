// The build manifest and the build id, from a finished build's chunks, for every bundler adapter:
// each chunk's final size and SRI value, the build id statement each lazy chunk gets, and per
// driver and probe module its chunk and the shared chunks it needs (deterministic JSON).
import { createHash, type Hash } from 'node:crypto';
import type { DriverInfo } from '../src/model.js';
import { BUILD_ID_EXPORT, MANIFEST_VERSION, type BuildManifest, type ManifestChunk, type ManifestDriver, type ManifestProbe } from '../src/runtime/manifest.js';
import { memoryFiles, type ChunkFiles } from './output-store.js';
import { manifestKey, type BundlerName, type LazyEntry } from './shared.js';
import { byCodeUnit } from '../src/by-code-unit.js';

/** A JavaScript chunk of a finished build. */
export interface BuiltChunk {
  /** Path relative to the output folder, forward slashes. */
  file: string;
  /** Chunks this one imports statically (paths relative to the output folder). */
  imports: readonly string[];
  /** Its contents before the build id was added (a bundle in memory)... */
  code?: string | Uint8Array;
  /** ...or its final size and SRI value, when the plugin finished it on disk (`finishChunks`; the build id is then given). */
  final?: FinishedChunk;
  /** Its name carries the bundler's hash of its contents (see ChunkToFinish). */
  hashedName?: boolean;
  /** Stylesheets this chunk imports (Vite's CSS code splitting); each is also one of the chunks. */
  css?: readonly string[];
}

/** Size and SRI value of a chunk's final bytes. */
export interface FinishedChunk {
  bytes: number;
  integrity: string;
}

export interface FinalizeInput {
  bundler: BundlerName;
  chunks: readonly BuiltChunk[];
  /** The application's entry chunks. */
  entries: readonly string[];
  /** Each lazy entry and the chunk it became. */
  lazy: readonly { entry: LazyEntry; chunk: string }[];
  /** Every driver of the build (for builtins and kinds). */
  drivers: readonly DriverInfo[];
  /**
   * The build id, when the plugin finished the chunks itself (every chunk has `final`); else it is
   * computed here from the chunks' `code`.
   */
  buildId?: string;
}

export interface FinalizedBuild {
  manifest: BuildManifest;
  /** The manifest file's text (deterministic). */
  text: string;
  /** New contents of the lazy chunks given as strings (they now export the build id); empty when `buildId` was given. */
  patched: Map<string, string>;
}

/** One output chunk's share of the build id: its name, and its length and SHA-384 unless the name carries the bundler's hash of the contents. */
interface BuildIdPart {
  /** Path relative to the output folder, forward slashes. */
  file: string;
  contents?: { bytes: number; digest: Uint8Array };
}

/**
 * Build id: a hash over the sorted chunk names and their contents (length and SHA-384) as the
 * bundler wrote them, or, for a chunk whose name carries the bundler's own hash of its contents
 * (which also covers the chunks it imports), the name alone. The lazy chunks then get
 * `export const __genModulesBuildId = "<id>"` added, so the id is a function of the build's own
 * output, changes when any chunk changes, and two identical builds have equal ids.
 */
function buildIdOfParts(parts: readonly BuildIdPart[]): string {
  const hash = createHash('sha256');
  for (const part of [...parts].sort((a, b) => byCodeUnit(a.file, b.file))) {
    if (part.contents) hash.update(`${part.file}\0${part.contents.bytes}\0`).update(part.contents.digest);
    else hash.update(`${part.file}\0name\0`);
  }
  return hash.digest('hex').slice(0, 16);
}

const bytesOf = (code: string | Uint8Array): Buffer =>
  typeof code === 'string' ? Buffer.from(code) : Buffer.from(code.buffer, code.byteOffset, code.byteLength);

const buildIdStatement = (buildId: string) => `export const ${BUILD_ID_EXPORT} = ${JSON.stringify(buildId)};\n`;

/** The statement a lazy chunk gets; placed before a trailing sourceMappingURL comment, so maps stay valid. */
export function withBuildId(code: string, buildId: string): string {
  const statement = buildIdStatement(buildId);
  const map = /\n\/\/# sourceMappingURL=[^\n]*\n?$/.exec(code);
  if (map) return `${code.slice(0, map.index)}\n${statement}${code.slice(map.index + 1)}`;
  return `${code}${code.endsWith('\n') || code === '' ? '' : '\n'}${statement}`;
}

/** The statement's bytes, after a newline when `insertionPoint` asks for one. */
export function buildIdBytes(buildId: string, newline: boolean): Buffer {
  const statement = buildIdStatement(buildId);
  return Buffer.from(newline ? `\n${statement}` : statement);
}

const MAP_COMMENT = Buffer.from('\n//# sourceMappingURL=');

/**
 * Where `withBuildId` inserts into these bytes, and whether a newline goes first: after the
 * newline that starts a trailing sourceMappingURL comment (the last line, a final newline
 * aside), else at the end.
 */
export function insertionPoint(contents: Uint8Array): { at: number; newline: boolean } {
  const bytes = bytesOf(contents);
  const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0a ? bytes.length - 1 : bytes.length;
  const lineStart = end > 0 ? bytes.lastIndexOf(0x0a, end - 1) : -1;
  if (lineStart !== -1 && lineStart + MAP_COMMENT.length <= end && bytes.subarray(lineStart, lineStart + MAP_COMMENT.length).equals(MAP_COMMENT)) {
    return { at: lineStart + 1, newline: false };
  }
  return { at: bytes.length, newline: bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a };
}

/** A chunk to finish: where it is, its size if known, whether it is lazy (gets the build id statement). */
export interface ChunkToFinish {
  /** Path relative to the output folder, forward slashes (the manifest's name for it). */
  file: string;
  path: string;
  /** Its size as the bundler wrote it, when the bundler says (esbuild's metafile). */
  size?: number;
  lazy: boolean;
  /**
   * Its name carries the bundler's hash of its contents (the plugins' own pattern for lazy chunks
   * always has [hash]; esbuild's, rollup's and rolldown's hash also covers the chunks it imports),
   * so the name stands for the contents in the build id.
   */
  hashedName?: boolean;
}

/** A lazy chunk whose name carries the bundler's hash of its contents: the name stands for it in the build id. */
const idByName = (chunk: ChunkToFinish): boolean => chunk.lazy && chunk.hashedName === true;

/** The last build into the same output folder, as the finish cache (finish-cache.ts) kept it. */
export interface PreviousBuild {
  buildId: string;
  /** Final size and SRI value of its lazy chunks with hashed names. */
  chunks: ReadonlyMap<string, FinishedChunk>;
}

/**
 * A lazy chunk with a hashed name as the bundler wrote it, kept in memory after it was finished:
 * enough to finish the same chunk again, under any build id, without reading or hashing it.
 */
export interface ChunkState {
  /** Its size as the bundler wrote it. */
  bytes: number;
  /** Where the build id statement goes (insertionPoint), and whether a newline goes first. */
  at: number;
  newline: boolean;
  /** Its bytes after that point (a sourceMappingURL comment, or none). */
  tail: Buffer;
  /** SHA-384 of its bytes before that point, not yet digested (copied for each use). */
  prefix: Hash;
}

/**
 * Gives the lazy chunks their build id statement and measures every chunk's final bytes (size and
 * SRI value), reading each chunk once and keeping none (on disk: see output-store.ts). The build
 * id (buildIdOfParts) comes from the chunks whose names do not carry a content hash, read and
 * hashed first, and the names of the others. A lazy chunk with a hashed name (all of them, unless
 * esbuild named one by a chunkNames without [hash]) is then patched as it is read, through one
 * open file. Any other lazy chunk is read before the id is known: its SHA-384 state before the
 * insertion point and the few bytes after it are kept, and the statement is written afterwards,
 * so every byte is still hashed once. Outputs that do not exist are left out.
 *
 * `previous`: the last build into the same folder. When it has the same build id, a lazy chunk
 * with a hashed name that it lists has the same final bytes, by what the build id stands for (the
 * same names, whose hashes stand for the same contents, and the same other chunks), so its size
 * and SRI value are taken from there instead of hashing it again (most of the bytes of a build
 * whose sources did not change: 200 driver chunks, 2.4 MB, about 4 ms of SHA-384). Its size is
 * still checked against the bytes it has now.
 *
 * `states`: what this process kept of the lazy chunks with hashed names it last finished into this
 * folder, by path (a watch, a dev server, an esbuild context, a script that builds more than once).
 * A lazy chunk at the same path (whose name carries the bundler's hash of its contents) with the
 * size the bundler reports for it now (or, when it reports none, with that size on disk) holds the
 * same bytes, so it is neither read nor hashed again, whatever the build id: the statement is
 * written at its place (over whatever follows it, so a file the bundler did not rewrite still ends
 * up right, given the bundler's size) and the SRI value comes from the kept SHA-384 state. One
 * edited driver then costs the 199 others a write each instead of reading and hashing 2.4 MB. A
 * chunk whose values came from `previous` was not hashed and leaves no state.
 */
export function finishChunks(
  store: ChunkFiles,
  chunks: readonly ChunkToFinish[],
  previous?: PreviousBuild,
  states?: ReadonlyMap<string, ChunkState>,
): { buildId: string; finished: Map<string, FinishedChunk>; states: Map<string, ChunkState> } {
  const finished = new Map<string, FinishedChunk>();
  const integrity = (hash: Hash) => `sha384-${hash.digest('base64')}`;
  const parts: BuildIdPart[] = [];
  const byName: ChunkToFinish[] = [];
  const pending: { chunk: ChunkToFinish; bytes: number; hash: Hash; at: number; newline: boolean; tail: Buffer }[] = [];
  for (const chunk of chunks) {
    if (idByName(chunk)) {
      parts.push({ file: chunk.file });
      byName.push(chunk);
      continue;
    }
    const code = store.read(chunk.path, chunk.size);
    if (!code) continue;
    if (chunk.lazy) {
      const { at, newline } = insertionPoint(code);
      const hash = createHash('sha384').update(code.subarray(0, at));
      const tail = Buffer.from(code.subarray(at));
      parts.push({ file: chunk.file, contents: { bytes: code.length, digest: hash.copy().update(tail).digest() } });
      pending.push({ chunk, bytes: code.length, hash, at, newline, tail });
    } else {
      const digest = createHash('sha384').update(code).digest();
      parts.push({ file: chunk.file, contents: { bytes: code.length, digest } });
      finished.set(chunk.file, { bytes: code.length, integrity: `sha384-${digest.toString('base64')}` });
    }
  }
  const buildId = buildIdOfParts(parts);
  const known = previous?.buildId === buildId ? previous.chunks : undefined;
  const withNewline = buildIdBytes(buildId, true);
  const withoutNewline = buildIdBytes(buildId, false);
  const statement = (newline: boolean) => (newline ? withNewline : withoutNewline);
  const nextStates = new Map<string, ChunkState>();
  /** Takes the last build's size and SRI value when it had this id and the chunk this size. */
  const fromRecord = (chunk: ChunkToFinish, bytes: number): boolean => {
    const same = known?.get(chunk.file);
    if (same?.bytes !== bytes) return false;
    finished.set(chunk.file, same);
    return true;
  };
  for (const chunk of byName) {
    const kept = states?.get(chunk.path);
    if (kept !== undefined && (chunk.size === undefined || kept.bytes === chunk.size)) {
      const added = statement(kept.newline);
      // Without the bundler's size, the file's own tells (checked as it is written).
      const outcome = store.writeFrom(chunk.path, kept.at, [added, kept.tail], chunk.size === undefined ? kept.bytes : undefined);
      if (outcome === 'missing') continue;
      if (outcome === 'written') {
        const bytes = kept.bytes + added.length;
        if (!fromRecord(chunk, bytes)) finished.set(chunk.file, { bytes, integrity: integrity(kept.prefix.copy().update(added).update(kept.tail)) });
        nextStates.set(chunk.path, kept);
        continue;
      }
    }
    const done = store.patch(
      chunk.path,
      (code) => {
        const { at, newline } = insertionPoint(code);
        return { at, bytes: statement(newline) };
      },
      chunk.size,
    );
    if (!done) continue;
    const { code, inserted } = done;
    const bytes = code.length + inserted.bytes.length;
    if (fromRecord(chunk, bytes)) continue;
    const prefix = createHash('sha384').update(code.subarray(0, inserted.at));
    const tail = Buffer.from(code.subarray(inserted.at));
    finished.set(chunk.file, { bytes, integrity: integrity(prefix.copy().update(inserted.bytes).update(tail)) });
    nextStates.set(chunk.path, { bytes: code.length, at: inserted.at, newline: inserted.bytes === withNewline, tail, prefix });
  }
  for (const { chunk, bytes, hash, at, newline, tail } of pending) {
    const added = statement(newline);
    if (store.writeFrom(chunk.path, at, [added, tail]) === 'missing') continue;
    finished.set(chunk.file, { bytes: bytes + added.length, integrity: integrity(hash.update(added).update(tail)) });
  }
  return { buildId, finished, states: nextStates };
}

/** The finished chunks a later build with the same id may take over (finishChunks' `previous`): lazy ones with hashed names. */
export function rememberable(chunks: readonly ChunkToFinish[], finished: ReadonlyMap<string, FinishedChunk>): [string, FinishedChunk][] {
  const kept: [string, FinishedChunk][] = [];
  for (const chunk of chunks) {
    const final = idByName(chunk) ? finished.get(chunk.file) : undefined;
    if (final) kept.push([chunk.file, final]);
  }
  return kept;
}

type ChunkEntry = { -readonly [K in keyof ManifestChunk]: ManifestChunk[K] };

/**
 * The manifest's chunk entries (size and SRI value of each chunk's final bytes) and the build id:
 * from the chunks the plugin finished on disk (`final`, with the id given), or from the chunks'
 * code, which gets the build id here (`patched`: the new code of lazy chunks given as strings).
 */
function chunkEntries(input: FinalizeInput): { buildId: string; chunks: Record<string, ChunkEntry>; patched: Map<string, string> } {
  const chunks: Record<string, ChunkEntry> = {};
  const patched = new Map<string, string>();
  const missing = (chunk: BuiltChunk, what: string): never => {
    throw new Error(`gen-modules: chunk ${chunk.file} has no ${what}`);
  };
  if (input.buildId !== undefined) {
    for (const chunk of input.chunks) chunks[chunk.file] = { file: chunk.file, ...(chunk.final ?? missing(chunk, 'size and integrity, though the build id was given')) };
    return { buildId: input.buildId, chunks, patched };
  }
  const lazyFiles = new Set(input.lazy.map((l) => l.chunk));
  const contents = new Map(input.chunks.map((chunk) => [chunk.file, bytesOf(chunk.code ?? missing(chunk, 'code'))]));
  const { buildId, finished } = finishChunks(
    memoryFiles(contents),
    input.chunks.map((chunk) => ({ file: chunk.file, path: chunk.file, lazy: lazyFiles.has(chunk.file), hashedName: chunk.hashedName })),
  );
  for (const [file, final] of finished) chunks[file] = { file, ...final };
  for (const chunk of input.chunks) if (lazyFiles.has(chunk.file) && typeof chunk.code === 'string') patched.set(chunk.file, withBuildId(chunk.code, buildId));
  return { buildId, chunks, patched };
}

/** Computes the build id (unless given), adds it to the lazy chunks and makes the manifest from the final bytes. */
export function finalizeBuild(input: FinalizeInput): FinalizedBuild {
  const byFile = new Map(input.chunks.map((c) => [c.file, c]));
  const { buildId, chunks, patched } = chunkEntries(input);
  const edges = (file: string) => (byFile.get(file)?.imports ?? []).filter((f) => byFile.has(f));
  const entryImports = new Set(input.entries.flatMap((e) => staticClosure(e, edges)));
  const sharedOf = (chunk: string) => staticClosure(chunk, edges).filter((f) => !entryImports.has(f) && !input.entries.includes(f));
  const size = (files: readonly string[]) => files.reduce((sum, f) => sum + (chunks[f]?.bytes ?? 0), 0);
  // Stylesheets a lazy chunk needs that the entries have not loaded already.
  const cssOf = (files: readonly string[]) => new Set(files.flatMap((f) => byFile.get(f)?.css ?? []));
  const entryCss = cssOf([...input.entries, ...entryImports]);
  const lazyCss = (files: readonly string[]) => [...cssOf(files)].filter((f) => !entryCss.has(f) && chunks[f] !== undefined).sort(byCodeUnit);

  const drivers: Record<string, ManifestDriver> = {};
  const probes: Record<string, ManifestProbe> = {};
  for (const driver of input.drivers) {
    if (driver.state === 'builtin') drivers[manifestKey(driver.registry, driver.name)] = { kind: driver.kind, state: 'builtin', imports: [], bytes: 0 };
  }
  for (const { entry, chunk } of input.lazy) {
    if (!chunks[chunk]) continue;
    const imports = sharedOf(chunk);
    const css = lazyCss([chunk, ...imports]);
    const common = { chunk, imports, bytes: size([chunk, ...imports]), integrity: chunks[chunk].integrity, ...(css.length > 0 ? { css } : {}) };
    if (entry.kind === 'driver') for (const member of entry.drivers ?? []) drivers[member.key] = { kind: member.kind, state: 'module', ...common };
    else probes[entry.name] = common;
  }
  // The order a loader without preloading must follow among a driver's shared chunks.
  for (const file of new Set([...Object.values(drivers), ...Object.values(probes)].flatMap((d) => d.imports))) {
    const direct = edges(file).filter((f) => chunks[f] !== undefined);
    if (direct.length > 0 && chunks[file]) chunks[file].imports = [...new Set(direct)].sort(byCodeUnit);
  }
  const manifest: BuildManifest = {
    version: MANIFEST_VERSION,
    buildId,
    bundler: input.bundler,
    entries: [...input.entries].sort(byCodeUnit),
    entryImports: [...entryImports].sort(byCodeUnit),
    drivers,
    probes,
    chunks,
  };
  return { manifest, text: stringifyManifest(manifest), patched };
}

/** Serialise with sorted keys, so equal manifests are equal bytes. */
export function stringifyManifest(manifest: BuildManifest): string {
  return `${JSON.stringify(sortKeys(manifest), null, 2)}\n`;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    // Filled in place rather than through Object.fromEntries: the manifest of 200 drivers has
    // about 1,500 objects and arrays, and the entry pairs were most of the cost (1-2 ms a build).
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort(byCodeUnit)) sorted[key] = sortKeys((value as Record<string, unknown>)[key]);
    return sorted;
  }
  return value;
}

/** Transitive static imports of `start` in an import graph, excluding `start` itself, sorted. */
export function staticClosure(start: string, edges: (file: string) => readonly string[]): string[] {
  const seen = new Set<string>();
  const stack = [...edges(start)];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next) || next === start) continue;
    seen.add(next);
    stack.push(...edges(next));
  }
  return [...seen].sort(byCodeUnit);
}

