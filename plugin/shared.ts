// What every bundler adapter needs, knowing nothing of any bundler: options validation, config
// loading, regeneration at build start, driver/probe entry lists, the build manifest and the
// build id every lazy chunk carries.
import { createHash, type Hash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { basename, dirname, join, posix, relative, resolve } from 'node:path';
import { closest } from '../src/config/closest.js';
import { ConfigError, loadConfig, type LoadedConfig } from '../src/config/config.js';
import { generateFromConfig, type GenerateResult } from '../src/codegen/generate.js';
import { scanCacheEnabled } from '../src/scanner/scan-cache.js';
import type { Diagnostic } from '../src/diagnostics/diagnostic.js';
import type { DriverInfo } from '../src/model.js';
import { BUILD_ID_EXPORT, MANIFEST_VERSION, type BuildManifest, type ManifestChunk, type ManifestDriver, type ManifestProbe } from '../src/runtime/manifest.js';
import { packageSpecifier } from '../src/scanner/driver-packages.js';
import { nodeFileSystem } from '../src/scanner/file-system.js';
import { probeModulePath, ProjectScanner } from '../src/scanner/scan.js';
import { memoryFiles, type ChunkFiles, type Insertion } from './output-store.js';

export type { BuildManifest, ManifestChunk, ManifestDriver, ManifestProbe } from '../src/runtime/manifest.js';
export { BUILD_ID_EXPORT } from '../src/runtime/manifest.js';

export type BundlerName = 'esbuild' | 'rollup' | 'vite';

/** Compiling TypeScript (and lowering decorators) through esbuild's transform, for rollup and Vite. */
export interface TypeScriptOption {
  /**
   * Decorator mode: `true` for TypeScript's `experimentalDecorators`, `false` for standard
   * decorators. Default: what the tsconfig.json nearest each module says, or for a solution config
   * (project references) the referenced config that holds the module (Vite then lowers legacy
   * decorators itself; the plugin compiles the standard ones).
   */
  experimentalDecorators?: boolean;
  /** esbuild target of the transform (default 'es2022'). Decorators are always lowered. */
  target?: string;
}

export interface GenModulesPluginOptions {
  /** Config file (default: gen-modules.config.{ts,mts,json} in the bundler's working directory). */
  config?: string;
  /** Folder to look for the config in (default: the bundler's working directory). */
  cwd?: string;
  /** File name of the build manifest inside the output folder (default 'gen-modules-manifest.json'). */
  manifest?: string;
  /**
   * What to do when a `module` driver is reachable from an entry through static imports (it would
   * be bundled eagerly): 'error' (default) fails the build, 'warn' reports it, 'off' skips the check.
   */
  guard?: 'error' | 'warn' | 'off';
  /**
   * rollup and Vite only. Compile `.ts`/`.mts`/`.tsx` modules with esbuild's transform:
   * - rollup (default false): every TypeScript module, for projects without a TypeScript plugin;
   *   relative `./x.js` specifiers then also resolve to `./x.ts`.
   * - Vite (default true): modules that use decorators, before Vite's own transform, because
   *   Vite 8's Oxc transform leaves standard decorators unlowered.
   */
  typescript?: boolean | TypeScriptOption;
}

const OPTION_KEYS = ['config', 'cwd', 'manifest', 'guard', 'typescript'] as const;
const TYPESCRIPT_KEYS = ['experimentalDecorators', 'target'] as const;

export function validatePluginOptions(options: unknown, bundler: BundlerName | string): GenModulesPluginOptions {
  if (options === undefined) return {};
  const fail = (message: string): never => {
    throw new ConfigError(`gen-modules/${bundler}: ${message}`);
  };
  if (typeof options !== 'object' || options === null || Array.isArray(options)) fail('options must be an object');
  for (const [key, value] of Object.entries(options as Record<string, unknown>)) {
    if (!(OPTION_KEYS as readonly string[]).includes(key)) {
      const guess = closest(key, OPTION_KEYS);
      fail(`unknown option '${key}'${guess ? `; did you mean '${guess}'?` : ''} (options: ${OPTION_KEYS.join(', ')})`);
    }
    if (value === undefined) continue;
    switch (key) {
      case 'config':
      case 'cwd':
      case 'manifest':
        if (typeof value !== 'string' || value === '') fail(`option '${key}' must be a non-empty string`);
        if (key === 'manifest' && (/[\\/]/.test(value as string) || !(value as string).endsWith('.json'))) {
          fail(`option 'manifest' must be a file name ending in .json, without folders (got ${JSON.stringify(value)})`);
        }
        break;
      case 'guard':
        if (value !== 'error' && value !== 'warn' && value !== 'off') fail(`option 'guard' must be "error", "warn" or "off" (got ${JSON.stringify(value)})`);
        break;
      case 'typescript':
        if (bundler === 'esbuild') fail(`option 'typescript' is for rollup and Vite; esbuild compiles TypeScript itself (set experimentalDecorators in tsconfig.json or tsconfigRaw)`);
        if (typeof value === 'boolean') break;
        if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`option 'typescript' must be a boolean or { experimentalDecorators?, target? }`);
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
          if (!(TYPESCRIPT_KEYS as readonly string[]).includes(k)) {
            const guess = closest(k, TYPESCRIPT_KEYS);
            fail(`unknown option 'typescript.${k}'${guess ? `; did you mean 'typescript.${guess}'?` : ''}`);
          }
          if (k === 'experimentalDecorators' && v !== undefined && typeof v !== 'boolean') fail(`option 'typescript.experimentalDecorators' must be a boolean`);
          if (k === 'target' && v !== undefined && (typeof v !== 'string' || v === '')) fail(`option 'typescript.target' must be a string such as "es2022"`);
        }
        break;
    }
  }
  return options as GenModulesPluginOptions;
}

export const DEFAULT_MANIFEST = 'gen-modules-manifest.json';

/**
 * One chunk the build must produce for laziness: a module driver's file or a probe module. A file
 * that declares several module drivers is one module, so one chunk, named after its first driver.
 */
export interface LazyEntry {
  kind: 'driver' | 'probe';
  /** Driver names (manifest keys) joined for messages, or the probe module id. */
  name: string;
  /** Absolute source path. */
  file: string;
  /** Output name without hash and extension: 'drivers/qcow2', 'probes/vmdk-descriptor'. */
  out: string;
  /** For drivers: every module driver the file declares, by manifest key, in table order. */
  drivers?: { key: string; kind: 'format' | 'protocol' }[];
}

export interface PreparedBuild {
  loaded: LoadedConfig;
  result: GenerateResult;
  lazyEntries: LazyEntry[];
  /** Kept for the next rebuild: unchanged files are not parsed again. */
  scanner: ProjectScanner;
}

/**
 * Load the config and regenerate the tables (each written only when its content changed). With
 * the previous build's result (rebuilds, watch), its scanner is reused: every file is read again
 * but only changed ones are parsed.
 */
export async function prepareBuild(options: GenModulesPluginOptions, cwd: string, previous?: PreparedBuild): Promise<PreparedBuild> {
  const loaded = await loadConfig(options.config, options.cwd ?? cwd);
  let scanner: ProjectScanner;
  if (previous && previous.loaded.file === loaded.file && JSON.stringify(previous.loaded.config) === JSON.stringify(loaded.config)) {
    scanner = previous.scanner;
    // We do not know what changed: everything may have (files read again; a driver whose text is
    // unchanged keeps its parse, modules it imports constants from are parsed again).
    scanner.invalidate(
      previous.result.inputs.map((input) => resolve(loaded.root, input)),
      true,
    );
  } else {
    scanner = new ProjectScanner(loaded, { cache: scanCacheEnabled() });
  }
  // The scan cache is written while the bundler builds: the build does not read it.
  const result = await generateFromConfig(loaded, { scanner, cacheWrite: 'soon' });
  return { loaded, result, lazyEntries: lazyEntries(loaded, result.drivers), scanner };
}

/** The key of a driver in the manifest: its name, prefixed by its registry unless it is a block driver. */
export function manifestKey(registry: string, name: string): string {
  return registry === 'blockDriver' ? name : `${registry}:${name}`;
}

/**
 * The file a bundler resolves a driver's import to: its source, or for a driver package compiled
 * with tsc (rootDir/outDir) the emitted JavaScript, which is what the table imports.
 */
function entryFileOf(loaded: LoadedConfig, driver: DriverInfo, file = driver.file): string {
  const pkg = driver.package;
  if (!pkg || pkg.rootDir === undefined || pkg.outDir === undefined || !file.startsWith(`${pkg.root}/`)) return resolve(loaded.root, file);
  const specifier = packageSpecifier(pkg, file.slice(pkg.root.length + 1), '.js');
  return resolve(loaded.root, pkg.root, specifier.slice(pkg.name.length + 1));
}

export function lazyEntries(loaded: LoadedConfig, drivers: readonly DriverInfo[]): LazyEntry[] {
  const entries: LazyEntry[] = [];
  const probeIds = new Set<string>();
  const byFile = new Map<string, LazyEntry>();
  for (const driver of drivers) {
    if (driver.state === 'module') {
      const folder = driver.registry === 'blockDriver' ? 'drivers' : driver.registry;
      const file = entryFileOf(loaded, driver);
      const member = { key: manifestKey(driver.registry, driver.name), kind: driver.kind };
      const shared = byFile.get(file);
      if (shared) {
        shared.drivers!.push(member);
        shared.name = shared.drivers!.map((m) => m.key).join(', ');
      } else {
        const entry: LazyEntry = { kind: 'driver', name: member.key, file, out: `${folder}/${driver.name}`, drivers: [member] };
        byFile.set(file, entry);
        entries.push(entry);
      }
    }
    if (driver.state === 'disabled') continue;
    for (const probe of driver.probes) {
      if (probe.module === undefined) continue;
      const id = probeModulePath(driver, probe.module);
      if (probeIds.has(id)) continue;
      probeIds.add(id);
      const base = posix.basename(id).replace(/\.(m?)tsx?$|\.m?js$/, '');
      // A driver package's probe module, like its driver, is imported from the compiled output.
      entries.push({ kind: 'probe', name: id, file: entryFileOf(loaded, driver, id), out: `probes/${base}` });
    }
  }
  // Two probe modules with one base name would ask for the same output name: number them.
  const seen = new Map<string, number>();
  for (const entry of entries) {
    const n = seen.get(entry.out) ?? 0;
    seen.set(entry.out, n + 1);
    if (n > 0) entry.out = `${entry.out}-${n + 1}`;
  }
  return entries;
}

/**
 * What a watcher must watch so that added and removed drivers regenerate the table: the config
 * file and the static folder part of every driver glob (absolute paths).
 */
export function watchTargets(loaded: LoadedConfig): { configFile: string; dirs: string[] } {
  const dirs = new Set<string>();
  const registries = Object.values((loaded.config as { registries?: Record<string, { drivers?: string[] }> }).registries ?? {});
  for (const pattern of [...loaded.config.drivers, ...registries.flatMap((r) => r.drivers ?? [])]) {
    const parts = pattern.split('/');
    const stop = parts.findIndex((p) => /[*?[\]{}()!]/.test(p));
    const fixed = stop === -1 ? parts.slice(0, -1) : parts.slice(0, stop);
    dirs.add(resolve(loaded.root, fixed.join('/') || '.'));
  }
  return { configFile: loaded.file, dirs: [...dirs].sort() };
}

/** A diagnostic as the pieces every bundler's error shape needs. */
export interface BundlerMessage {
  text: string;
  file: string;
  line: number;
  column: number;
  lineText?: string;
  notes: { text: string; file: string; line: number; column: number }[];
}

export function toBundlerMessages(loaded: LoadedConfig, result: GenerateResult): BundlerMessage[] {
  return result.diagnostics
    .filter((d) => d.severity === 'error')
    .map((d: Diagnostic) => ({
      text: `${d.code}: ${d.message}`,
      file: resolve(loaded.root, d.file),
      line: d.line,
      column: d.column,
      lineText: result.sources.get(d.file)?.split(/\r?\n/)[d.line - 1],
      notes: d.related.map((r) => ({ text: r.message, file: resolve(loaded.root, r.file), line: r.line, column: r.column })),
    }));
}

/** One message for bundlers that take a single error (rollup, Vite): every diagnostic, `file:line:col: text`. */
export function joinBundlerMessages(messages: readonly BundlerMessage[], cwd: string): string {
  const where = (file: string, line: number, column: number) => `${relative(cwd, file).split('\\').join('/')}:${line}:${column}`;
  return messages
    .map((m) => [`${where(m.file, m.line, m.column)}: ${m.text}`, ...m.notes.map((n) => `  ${where(n.file, n.line, n.column)}: note: ${n.text}`)].join('\n'))
    .join('\n');
}

// ---------------------------------------------------------------------------------------------
// Build manifest and build id.
// ---------------------------------------------------------------------------------------------

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

/** `withBuildId` for bytes: what to insert where (the same result, as an insertion). */
export function buildIdInsertion(bytes: Uint8Array, buildId: string): Insertion {
  const { at, newline } = insertionPoint(bytes);
  return { at, bytes: buildIdBytes(buildId, newline) };
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
  size?: number;
  lazy: boolean;
  /**
   * Its name carries the bundler's hash of its contents (the plugins' own pattern for lazy chunks
   * always has [hash]; esbuild's, rollup's and rolldown's hash also covers the chunks it imports),
   * so the name stands for the contents in the build id.
   */
  hashedName?: boolean;
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
 */
export function finishChunks(store: ChunkFiles, chunks: readonly ChunkToFinish[]): { buildId: string; finished: Map<string, FinishedChunk> } {
  const finished = new Map<string, FinishedChunk>();
  const integrity = (hash: Hash) => `sha384-${hash.digest('base64')}`;
  const parts: BuildIdPart[] = [];
  const byName: ChunkToFinish[] = [];
  const pending: { chunk: ChunkToFinish; bytes: number; hash: Hash; at: number; newline: boolean; tail: Buffer }[] = [];
  for (const chunk of chunks) {
    if (chunk.lazy && chunk.hashedName) {
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
  for (const chunk of byName) {
    const done = store.patch(chunk.path, (bytes) => buildIdInsertion(bytes, buildId), chunk.size);
    if (!done) continue;
    const { code, inserted } = done;
    const hash = createHash('sha384').update(code.subarray(0, inserted.at)).update(inserted.bytes).update(code.subarray(inserted.at));
    finished.set(chunk.file, { bytes: code.length + inserted.bytes.length, integrity: integrity(hash) });
  }
  for (const { chunk, bytes, hash, at, newline, tail } of pending) {
    const added = buildIdBytes(buildId, newline);
    store.writeFrom(chunk.path, at, [added, tail]);
    finished.set(chunk.file, { bytes: bytes + added.length, integrity: integrity(hash.update(added).update(tail)) });
  }
  return { buildId, finished };
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

export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// Real paths come from the scanner's file system view (the native call, answers kept), renewed at
// every build start since links may change between builds.
let realPaths = nodeFileSystem();
// Per folder, the names in it that are symbolic links: one directory read per folder instead of a
// realpath call per file (200 drivers in one folder: about 0.2 ms against 4.7 ms).
let linkedNames = new Map<string, ReadonlySet<string>>();

/** The real path of `path` (itself when it cannot be resolved). */
export function realPath(path: string): string {
  return realPaths.realpath(path);
}

/**
 * `file`, or its real path when the file itself is a symbolic link (links among its folders are
 * kept): how rollup's own resolution names a module.
 */
export function followFileLink(file: string): string {
  const dir = dirname(file);
  let links = linkedNames.get(dir);
  if (links === undefined) linkedNames.set(dir, (links = symlinksIn(dir)));
  return links.has(basename(file)) ? realPath(file) : file;
}

/**
 * A file's real path, what bundlers that follow every link (esbuild's metafile, Vite) call it: a
 * file that is a link is followed, otherwise only its folder is resolved (once per folder).
 */
export function realFile(file: string): string {
  const followed = followFileLink(file);
  if (followed !== file) return followed;
  const dir = dirname(file);
  const real = realPath(dir);
  return real === dir ? file : join(real, basename(file));
}

function symlinksIn(dir: string): ReadonlySet<string> {
  try {
    return new Set(
      readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isSymbolicLink())
        .map((d) => d.name),
    );
  } catch {
    return new Set();
  }
}

/** Forget the real paths (a rebuild may follow a change of links). */
export function clearRealPaths(): void {
  realPaths = nodeFileSystem();
  linkedNames = new Map();
}

/**
 * A module driver's file as the configuration found it, relative to the configuration's folder,
 * for messages: a bundler may name the module by a real path.
 */
export function driverFile(prepared: PreparedBuild | undefined, driver: string): string | undefined {
  const entry = prepared?.lazyEntries.find((e) => e.kind === 'driver' && e.name === driver);
  return entry && relativePosix(prepared!.loaded.root, entry.file);
}

/** Forward-slash path of `file` relative to `dir`. */
export function relativePosix(dir: string, file: string): string {
  return relative(dir, file).split('\\').join('/');
}
