// What gen-modules/rollup and gen-modules/vite share (Vite 8 builds with rolldown, which runs
// rollup-style plugin hooks): regeneration at build start, one emitted chunk per module driver and
// probe module (never per-driver manualChunks: shared code would land in the first driver's
// chunk), the laziness guard over the module graph, the build id and the manifest.
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { NormalizedInputOptions, NormalizedOutputOptions, OutputBundle, OutputOptions, PluginContext, PreRenderedChunk } from 'rollup';
import { writeAtomic } from '../src/codegen/write-file.js';
import { watchTargets } from '../src/config/config.js';
import { clearGuardSourceCache, findViolations, formatViolation, lineTextOf } from './laziness-guard.js';
import { outputStore } from './output-store.js';
import { finalizeBuild, staticClosure, type BuiltChunk } from './build-manifest.js';
import { finishCache } from './finish-cache.js';
import { clearRealPaths, followFileLink, realFile } from './real-paths.js';
import {
  DEFAULT_MANIFEST,
  driverFile,
  joinBundlerMessages,
  prepareBuild,
  projectError,
  relativePosix,
  toBundlerMessages,
  type GenModulesPluginOptions,
  type LazyEntry,
  type PreparedBuild,
  type TypeScriptOption,
} from './shared.js';
import { clearTransformSettings } from './tsconfig.js';
import { typescriptTransform, type TransformMode } from './typescript-transform.js';

export interface CoreOptions {
  bundler: 'rollup' | 'vite';
  options: GenModulesPluginOptions;
  /** TypeScript compilation through esbuild: every TS module (rollup) or decorated ones only (Vite). */
  transform: TransformMode;
  /** Resolve `./x.js` to `./x.ts` from TypeScript modules (rollup has no TypeScript resolution). */
  resolveTs: boolean;
  /**
   * How the manifest reaches the output folder: as an emitted asset (rollup), or written in
   * writeBundle (Vite: SSR builds drop emitted assets unless `build.ssrEmitAssets`). A bundle that
   * is not written gets it as an asset either way.
   */
  manifestVia: 'emit' | 'write';
  /**
   * When the bundle is written, give the chunks their build id and take their integrity values
   * from the files in writeBundle rather than from the bundle's `code` in generateBundle. For
   * Vite 8 (rolldown): there each read of a chunk's `code` copies it out of Rust and each
   * assignment sends the whole chunk back, which on the 200-driver bench cost more than reading
   * and patching the written files. Rollup's chunks are plain objects: it keeps the bundle path.
   */
  chunksOnDisk: boolean;
}

/** A written bundle's chunks, as generateBundle saw them, for writeBundle to finish. */
interface PendingChunks {
  chunks: { file: string; imports: readonly string[]; hashedName: boolean; css?: readonly string[] }[];
  entries: string[];
  lazy: LazyChunk[];
  drivers: PreparedBuild['result']['drivers'];
  /** The build's config (where the finish cache lives). */
  loaded: PreparedBuild['loaded'];
}

/** State shared with the Vite adapter. */
export interface CoreState {
  cwd: string;
  current?: PreparedBuild;
  /** True in Vite's dev server: no chunks, no manifest. */
  serve: boolean;
}

type Chunk = Extract<OutputBundle[string], { type: 'chunk' }>;
type FileNames = OutputOptions['chunkFileNames'];

export function createCore(core: CoreOptions) {
  const { bundler, options } = core;
  const state: CoreState = { cwd: resolve(options.cwd ?? process.cwd()), serve: false };
  const lazyOf = () => state.current?.lazyEntries ?? [];
  // What writeBundle finishes, per output folder: the manifest's text, or the chunks to finish on disk.
  const pendingWrites = new Map<string, string | PendingChunks>();
  const outputDir = (output: NormalizedOutputOptions) => resolve(state.cwd, output.dir ?? (output.file ? dirname(output.file) : '.'));
  let folderWatchers: FSWatcher[] = [];
  let regenerateTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Under watch mode: rollup's watcher sees only files in the module graph (and ignores files
   * added to a folder passed to addWatchFile), so a new driver file would go unnoticed. Watch the
   * driver folders ourselves and regenerate the table, which is in the graph: rollup then rebuilds
   * and buildStart emits the new set of chunks.
   */
  function watchDriverFolders(prepared: PreparedBuild): void {
    if (folderWatchers.length > 0) return;
    const targets = watchTargets(prepared.loaded);
    const out = prepared.result.out;
    for (const dir of targets.dirs) {
      if (!existsSync(dir)) continue;
      const watcher = watch(dir, { recursive: true }, (_event, name) => {
        if (name && resolve(dir, name.toString()) === out) return;
        clearTimeout(regenerateTimer);
        regenerateTimer = setTimeout(() => {
          // Errors are reported by the rebuild's buildStart.
          // A scanner of its own: a rebuild's buildStart may be scanning with the build's.
          prepareBuild(options, state.cwd).catch(() => undefined);
        }, 30);
      });
      watcher.unref();
      folderWatchers.push(watcher);
    }
  }
  // Asked once per chunk name: made once per prepared build. Each entry is also found by its real
  // path: Vite names modules by it (a project reached through a symlink, a driver package linked
  // into node_modules by pnpm), and without it no lazy chunk would be recognized.
  let lazyIndex: { of: readonly LazyEntry[]; byFile: Map<string, LazyEntry> } | undefined;
  const lazyByFile = () => {
    const lazy = lazyOf();
    if (lazyIndex?.of !== lazy) {
      const byFile = new Map(lazy.map((e) => [e.file, e]));
      for (const entry of lazy) {
        const real = realFile(entry.file);
        if (real !== entry.file) byFile.set(real, entry);
      }
      lazyIndex = { of: lazy, byFile };
    }
    return lazyIndex.byFile;
  };

  /** What beforeBundlerStarts prepared, for the next prepare (the build's buildStart) to use. */
  let preparedAhead: PreparedBuild | undefined;

  /** Regenerate and report scanner diagnostics as the bundler's own error, with a location. */
  async function prepare(context: Pick<PluginContext, 'error'> | undefined): Promise<PreparedBuild> {
    const prepared = preparedAhead ?? (await prepareBuild(options, state.cwd, state.current));
    preparedAhead = undefined;
    state.current = prepared;
    clearGuardSourceCache();
    clearTransformSettings();
    clearRealPaths();
    const messages = toBundlerMessages(prepared.loaded, prepared.result);
    if (messages.length > 0 && context) {
      const first = messages[0]!;
      context.error(
        projectError({
          message: `gen-modules: ${joinBundlerMessages(messages, state.cwd)}`,
          id: first.file,
          loc: { file: first.file, line: first.line, column: Math.max(0, first.column - 1) },
          ...(first.lineText !== undefined ? { frame: first.lineText } : {}),
        }),
      );
    }
    return prepared;
  }

  /** Pattern for a lazy chunk: the user's chunk pattern (with `[name]` = 'drivers/qcow2'), hashed. */
  function lazyPattern(user: FileNames, info: PreChunkInfo): string {
    let pattern = typeof user === 'function' ? user(info as PreRenderedChunk) : (user ?? '[name]-[hash].js');
    if (!pattern.includes('[hash]')) {
      const ext = /(\.[^./[\]]+|\[ext\]|\.\[format\]\.js)$/.exec(pattern);
      pattern = ext ? `${pattern.slice(0, ext.index)}-[hash]${pattern.slice(ext.index)}` : `${pattern}-[hash]`;
    }
    return pattern;
  }

  interface PreChunkInfo {
    name: string;
    facadeModuleId: string | null;
  }

  const isLazyChunk = (info: PreChunkInfo) => {
    const entry = info.facadeModuleId ? lazyByFile().get(info.facadeModuleId) : undefined;
    return entry !== undefined && entry.out === info.name;
  };

  const typescript = typescriptTransform(core.transform, typeof options.typescript === 'object' ? (options.typescript as TypeScriptOption) : {});

  /**
   * Vite's configResolved, before the bundler starts. For a build that is not watched: scans and
   * regenerates now (the build's buildStart takes this result), and keeps out of the transform
   * hook's filter the driver folders whose modules Vite's own transform lowers (legacy decorators;
   * the filter is read when the bundler starts, so buildStart would be too late). Otherwise (dev
   * server, watch mode: a tsconfig.json edited between rebuilds may change the mode) the filter
   * keeps every module. A failure is left to buildStart, which prepares again and reports it.
   */
  async function beforeBundlerStarts(unwatchedBuild: boolean): Promise<void> {
    typescript.leaveToVite([]);
    preparedAhead = undefined;
    if (!unwatchedBuild) return;
    try {
      preparedAhead = await prepareBuild(options, state.cwd, state.current);
    } catch {
      return;
    }
    const { loaded, result } = preparedAhead;
    typescript.leaveToVite(result.drivers.map((d) => dirname(resolve(loaded.root, d.file))));
  }

  /**
   * The laziness guard, on the chunk graph (cheap: no module-graph queries unless something is
   * wrong): a module driver whose module sits in a chunk the entries load statically, or in the
   * static closure of another lazy chunk, fails the build; the import chain is then looked up in
   * the module graph and printed, each step as file:line.
   */
  function guard(context: PluginContext, items: readonly Chunk[], entries: readonly string[], lazy: readonly LazyChunk[]): void {
    const byFile = new Map(items.map((item) => [item.fileName, item]));
    const closure = (file: string) => [file, ...staticClosure(file, (f) => (byFile.get(f)?.imports ?? []).filter((i) => byFile.has(i)))];
    const home = new Map<string, string>();
    for (const item of items) for (const id of item.moduleIds ?? Object.keys(item.modules)) home.set(id, item.fileName);
    const eager = new Set(entries.flatMap(closure));
    // Each lazy chunk's closure once: chunk -> the lazy roots whose loading loads it.
    const loadedBy = new Map<string, Set<string>>();
    for (const other of lazy) {
      for (const chunk of closure(other.chunk)) {
        let roots = loadedBy.get(chunk);
        if (!roots) loadedBy.set(chunk, (roots = new Set()));
        roots.add(other.id);
      }
    }
    const suspects = new Map<string, string>();
    for (const { entry, id } of lazy) {
      if (entry.kind !== 'driver') continue;
      const chunk = home.get(id);
      if (chunk === undefined) continue;
      const pulledIn = eager.has(chunk) || [...(loadedBy.get(chunk) ?? [])].some((root) => root !== id);
      if (pulledIn) suspects.set(id, entry.name);
    }
    if (suspects.size === 0) return;
    const info = new Map<string, ReturnType<PluginContext['getModuleInfo']>>();
    const moduleInfo = (id: string) => {
      if (!info.has(id)) info.set(id, context.getModuleInfo(id));
      return info.get(id);
    };
    const userEntries = entries.map((e) => byFile.get(e)?.facadeModuleId).filter((id): id is string => typeof id === 'string');
    const violations = findViolations(
      {
        entries: userEntries,
        lazyRoots: lazy.map((l) => l.id).filter((id) => moduleInfo(id)),
        edges: (file) => (moduleInfo(file)?.importedIds ?? []).filter((id) => isAbsolute(id)).map((to) => ({ to })),
      },
      suspects,
    );
    for (const [file, driver] of suspects) {
      if (!violations.some((v) => v.file === file)) {
        violations.push({ driver, file, chain: [], root: { file: home.get(file)!, kind: 'entry' } });
      }
    }
    for (const violation of violations) {
      const last = violation.chain[violation.chain.length - 1];
      const log = {
        message: violation.chain.length
          ? `gen-modules: ${formatViolation(violation, state.cwd, driverFile(state.current, violation.driver))}`
          : `gen-modules: module driver '${violation.driver}' (${driverFile(state.current, violation.driver) ?? relativePosix(state.cwd, violation.file)}) was bundled into chunk ${home.get(violation.file)}, which is loaded eagerly, but no static import chain leads to it (a manualChunks or chunk-merging setting?)`,
        id: last?.file ?? violation.file,
        // The importing line as the frame, as esbuild shows the lineText of its location.
        ...(last && last.line > 0 ? { loc: { file: last.file, line: last.line, column: Math.max(0, last.column - 1) }, frame: lineTextOf(last.file, last.line) } : {}),
      };
      if ((options.guard ?? 'error') === 'error') context.error(projectError(log));
      else context.warn(log);
    }
  }

  /** Rollup's `preserveSymlinks`, for the TypeScript resolution to follow links as rollup does. */
  let preserveSymlinks = false;
  const hooks = {
    name: 'gen-modules',

    async buildStart(this: PluginContext, inputOptions?: NormalizedInputOptions) {
      preserveSymlinks = inputOptions?.preserveSymlinks ?? false;
      const prepared = await prepare(this);
      const targets = watchTargets(prepared.loaded);
      for (const file of targets.configFiles) this.addWatchFile(file);
      if (this.meta.watchMode && !state.serve) watchDriverFolders(prepared);
      if (state.serve) return;
      for (const entry of prepared.lazyEntries) {
        this.emitFile({ type: 'chunk', id: entry.file, name: entry.out, preserveSignature: 'exports-only' });
      }
    },

    resolveId: core.resolveTs
      ? function resolveId(source: string, importer: string | undefined) {
          if (!importer || !source.startsWith('.') || !/\.[cm]?tsx?$/.test(importer.split('?')[0]!)) return null;
          const match = /\.([cm]?)js(x?)$/.exec(source);
          if (!match) return null;
          const base = resolve(dirname(importer), source);
          if (existsSync(base)) return null;
          for (const ext of [`.${match[1]}ts${match[2]}`, ...(match[2] ? [] : [`.${match[1]}tsx`])]) {
            const candidate = base.slice(0, -match[0].length) + ext;
            // A file that is a link is named by its real path, as rollup's own resolution does:
            // otherwise a driver file that is a link would be bundled twice, once in its lazy
            // chunk (an emitted chunk, resolved by rollup) and once where the table imports it.
            if (existsSync(candidate)) return preserveSymlinks ? candidate : followFileLink(candidate);
          }
          return null;
        }
      : undefined,

    transform: core.transform === 'none' ? undefined : { filter: typescript.filter, handler: (code: string, id: string) => typescript.compile(code, id) },

    // The runtime loads lazy chunks with import() and the build id statement is an export: other
    // formats (cjs, amd, system) would build and then fail to load. Without code splitting there
    // are no lazy chunks (the guard would fail the build, blaming a chunk setting in general).
    renderStart(this: PluginContext, output: NormalizedOutputOptions) {
      if (output.format !== 'es') {
        this.error(projectError({ message: `gen-modules/${core.bundler}: lazy chunks are loaded with import(), so they must be ES modules: output.format must be 'es' (got '${output.format}')` }));
      }
      // rolldown's codeSplitting: false is its new name for inlineDynamicImports (both are set).
      if (output.inlineDynamicImports || (output as { codeSplitting?: unknown }).codeSplitting === false) {
        const option = core.bundler === 'vite' ? 'output.codeSplitting: false (or output.inlineDynamicImports)' : 'output.inlineDynamicImports';
        this.error(projectError({ message: `gen-modules/${core.bundler}: lazy chunks need code splitting, and this build turns it off with ${option}, which puts every import() into the entry chunk (leave it out)` }));
      }
    },

    outputOptions(output: OutputOptions): OutputOptions {
      const userChunks = output.chunkFileNames;
      const userEntries = output.entryFileNames;
      const wrap =
        (user: FileNames, fallback: string) =>
        (info: PreRenderedChunk): string => {
          if (isLazyChunk(info)) return lazyPattern(userChunks, info);
          return typeof user === 'function' ? user(info) : (user ?? fallback);
        };
      // A chunk pattern given as a string with [hash] is already the lazy chunks' pattern (their
      // [name] is 'drivers/<name>'), and an entry pattern equal to it names the emitted lazy chunks
      // the same way (Vite's client defaults, 'assets/[name]-[hash].js' for both): the patterns
      // stay strings, sparing the bundler a call into JavaScript per chunk (with rolldown, a hop
      // to the main thread each: 4-7 ms of a 430 ms Vite build of the 200-driver bench, 40 rounds).
      const chunksHashed = typeof userChunks === 'string' && userChunks.includes('[hash]');
      return {
        ...output,
        chunkFileNames: chunksHashed ? userChunks : wrap(userChunks, '[name]-[hash].js'),
        entryFileNames: chunksHashed && userEntries === userChunks ? userEntries : wrap(userEntries, '[name].js'),
      };
    },

    // Last, after every plugin that rewrites chunk code in generateBundle (Vite's preload
    // analysis does), so that integrity values describe the bytes written.
    generateBundle: {
      order: 'post' as const,
      handler(this: PluginContext, output: NormalizedOutputOptions, bundle: OutputBundle, isWrite?: boolean) {
        const current = state.current;
        if (!current) return;
        const byFacade = lazyByFile();
        const files: PendingChunks['chunks'] = [];
        const entries: string[] = [];
        const lazy: LazyChunk[] = [];
        const items = Object.values(bundle).filter((item): item is Chunk => item.type === 'chunk');
        for (const item of items) {
          // A lazy chunk named by lazyPattern: its name has the bundler's content hash.
          const css = importedCss(item, bundle);
          files.push({ file: item.fileName, imports: item.imports.filter((f) => bundle[f]?.type === 'chunk'), hashedName: isLazyChunk(item), ...(css.length > 0 ? { css } : {}) });
          const entry = item.facadeModuleId ? byFacade.get(item.facadeModuleId) : undefined;
          if (entry && (item.isEntry || item.isDynamicEntry)) lazy.push({ entry, chunk: item.fileName, id: item.facadeModuleId! });
          else if (item.isEntry) entries.push(item.fileName);
        }
        // The stylesheets the chunks import are finished (size, SRI value) like chunks.
        for (const file of [...new Set(files.flatMap((f) => f.css ?? []))].sort()) files.push({ file, imports: [], hashedName: false });
        if ((options.guard ?? 'error') !== 'off') guard(this, items, entries, lazy);
        if (core.chunksOnDisk && isWrite === true) {
          pendingWrites.set(outputDir(output), { chunks: files, entries, lazy, drivers: current.result.drivers, loaded: current.loaded });
          return;
        }
        const chunks: BuiltChunk[] = files.map((file) => {
          const item = bundle[file.file]!;
          return { ...file, code: item.type === 'chunk' ? item.code : item.source };
        });
        const finalized = finalizeBuild({ bundler, chunks, entries, lazy, drivers: current.result.drivers });
        for (const item of items) {
          const code = finalized.patched.get(item.fileName);
          if (code !== undefined) item.code = code;
        }
        const fileName = options.manifest ?? DEFAULT_MANIFEST;
        // Not written (Vite's `build.write: false`): the manifest travels with the chunks, as an asset.
        if (core.manifestVia === 'emit' || isWrite === false) this.emitFile({ type: 'asset', fileName, source: finalized.text });
        else pendingWrites.set(outputDir(output), finalized.text);
      },
    },

    closeWatcher() {
      clearTimeout(regenerateTimer);
      for (const watcher of folderWatchers) watcher.close();
      folderWatchers = [];
    },

    // First, so that other plugins' writeBundle (compression, say) see the final files.
    writeBundle: {
      order: 'pre' as const,
      handler(this: PluginContext, output: NormalizedOutputOptions) {
        const dir = outputDir(output);
        const pending = pendingWrites.get(dir);
        if (pending === undefined) return;
        pendingWrites.delete(dir);
        const manifestPath = resolve(dir, options.manifest ?? DEFAULT_MANIFEST);
        const text = typeof pending === 'string' ? pending : finishOnDisk(this, dir, pending, manifestPath);
        // Atomically, as the esbuild plugin does (output-store.ts).
        writeAtomic(manifestPath, text, { durable: false });
      },
    },
  };

  /**
   * The written chunks, read once each: build id and integrity values from their bytes (as
   * generateBundle would from `code`), the build id statement written into each lazy chunk in
   * place (build-manifest.ts: finishChunks). Returns the manifest's text.
   */
  function finishOnDisk(context: Pick<PluginContext, 'error'>, dir: string, pending: PendingChunks, manifestPath: string): string {
    const lazyFiles = new Set(pending.lazy.map((l) => l.chunk));
    // No sizes: a lazy chunk this process finished before, under the same name, is finished again
    // without reading it when the file has the size it had (finishChunks' states). The bundle's
    // `code` would say it too, but each read of it copies the chunk out of rolldown (about 2 ms
    // for the bench's 203 chunks).
    const toFinish = pending.chunks.map((chunk) => ({ file: chunk.file, path: resolve(dir, chunk.file), lazy: lazyFiles.has(chunk.file), hashedName: chunk.hashedName }));
    // The last build into this folder spares hashing the chunks it already measured.
    const { buildId, finished } = finishCache(pending.loaded, bundler, manifestPath).finish(outputStore(undefined), toFinish);
    // A chunk of the bundle that is not on disk (a plugin removed it) would silently be missing
    // from the manifest: the build fails instead, naming it.
    const missing = pending.chunks.filter((chunk) => !finished.has(chunk.file)).map((chunk) => chunk.file);
    if (missing.length > 0) {
      const more = missing.length > 3 ? ` and ${missing.length - 3} more` : '';
      context.error(projectError({ message: `gen-modules: chunks of the bundle are not on disk in ${relativePosix(state.cwd, dir) || '.'}: ${missing.slice(0, 3).join(', ')}${more}; no manifest was written` }));
    }
    const chunks: BuiltChunk[] = pending.chunks.map((chunk) => ({ ...chunk, final: finished.get(chunk.file) }));
    return finalizeBuild({ bundler, chunks, entries: pending.entries, lazy: pending.lazy, drivers: pending.drivers, buildId }).text;
  }

  return { hooks, state, prepare, beforeBundlerStarts, relativeToCwd: (file: string) => relativePosix(state.cwd, file) };
}

/**
 * The stylesheets a chunk imports: Vite records them on the chunk (`viteMetadata.importedCss`,
 * its CSS code splitting); rollup has none.
 */
function importedCss(chunk: Chunk, bundle: OutputBundle): string[] {
  const css = (chunk as Chunk & { viteMetadata?: { importedCss?: Set<string> } }).viteMetadata?.importedCss;
  return css ? [...css].filter((file) => bundle[file]?.type === 'asset') : [];
}

/** A lazy entry, the chunk it became and the id the bundler gave its module. */
interface LazyChunk {
  entry: LazyEntry;
  chunk: string;
  id: string;
}
