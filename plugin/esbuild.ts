// gen-modules/esbuild: regenerates the table at build start, makes every module driver and probe
// module its own entry so it lands in `drivers/<name>-<hash>.js` / `probes/<name>-<hash>.js`,
// fails the build when a module driver is imported statically (laziness guard), adds the build id
// to the lazy chunks and writes the build manifest.
//
// After the build, every JavaScript output is read once (from disk, or from `outputFiles` under
// `write: false`) and hashed once for its SRI value. The build id comes from the other outputs'
// contents and the lazy chunks' names, which carry esbuild's hash of their contents, so each lazy
// chunk is patched in place as it is read: only the build-id statement and the bytes after it are
// written (build-manifest.ts: finishChunks). esbuild keeps writing the files itself: its parallel
// writes beat writing them from here (measured with `write: false` plus writes from this process:
// slower on the 200-driver bench).
//
// esbuild names extra entry points only through the one `entryNames` template, so the template
// gets `[dir]` and `[hash]` and the application's own entries are renamed back to what the user's
// template asked for after the build (esbuild-entry-names.ts).
//
// Contexts (watch, serve, rebuild): every rebuild regenerates the table. esbuild cannot add entry
// points to a live context, so a driver added while a context is live is reached through the
// table's import() only and gets esbuild's chunk name (`chunkNames`, base name of the file); it is
// still a lazy chunk with the build id and in the manifest, and the build warns. A removed driver's
// entry resolves to an empty module whose output is deleted (entry-links.ts: the entries reach
// esbuild through a symlink of ours, re-pointed at a stub). Recreate the context for stable names.
import { rmdirSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import type { BuildResult, Metafile, PartialMessage, Plugin, PluginBuild } from 'esbuild';
import { WriteError } from '../src/codegen/write-file.js';
import { escapeRegExp } from '../src/config/escape-regexp.js';
import { applicationEntries, commonDir, commonFolder, entryList, lazyTemplate, restoreEntryNames } from './esbuild-entry-names.js';
import { createEntryLinks } from './entry-links.js';
import { outputStore, type OutputStore } from './output-store.js';
import { clearGuardSourceCache, findViolations, formatViolation, lineTextOf, type ImportEdge } from './laziness-guard.js';
import { finalizeBuild, type BuiltChunk, type ChunkToFinish } from './build-manifest.js';
import { finishCache, NO_FINISH_CACHE } from './finish-cache.js';
import { clearRealPaths, realFile, realPath } from './real-paths.js';
import {
  DEFAULT_MANIFEST,
  driverFile,
  prepareBuild,
  projectError,
  relativePosix,
  toBundlerMessages,
  validatePluginOptions,
  type GenModulesPluginOptions,
  type LazyEntry,
  type PreparedBuild,
} from './shared.js';

export type { GenModulesPluginOptions } from './shared.js';

const STALE = 'gen-modules-stale';

export default function genModules(options?: GenModulesPluginOptions): Plugin {
  const validated = validatePluginOptions(options, 'esbuild');
  return {
    name: 'gen-modules',
    async setup(build: PluginBuild) {
      const initial = build.initialOptions;
      const cwd = resolve(initial.absWorkingDir ?? process.cwd());
      // esbuild's metafile paths are relative to the real path of its working directory (they
      // differ when the project is reached through a symlink).
      const metaCwd = realPath(cwd);
      if (initial.format !== undefined && initial.format !== 'esm') {
        throw projectError({ message: `gen-modules/esbuild: lazy chunks need code splitting, which esbuild supports only with format: 'esm' (got '${initial.format}')` });
      }
      if (initial.splitting === false) {
        throw projectError({ message: `gen-modules/esbuild: lazy chunks need code splitting, and this build sets 'splitting: false' (leave it out: the plugin switches it on)` });
      }
      if (initial.bundle !== true) {
        throw projectError({ message: `gen-modules/esbuild: lazy chunks need bundling: set 'bundle: true' (without it esbuild only compiles each file, and the table's import() would name source files)` });
      }
      if (initial.outdir === undefined) {
        throw projectError({ message: `gen-modules/esbuild: lazy chunks need code splitting, which needs 'outdir' (not 'outfile')` });
      }
      let prepared: PreparedBuild | undefined = await prepareBuild(validated, cwd);
      let current: PreparedBuild = prepared;
      const setupLazy = prepared.lazyEntries;

      const userTemplate = initial.entryNames ?? '[dir]/[name]';
      const userEntries = await applicationEntries(entryList(initial.entryPoints), userTemplate, cwd);
      const template = lazyTemplate(userTemplate);
      initial.entryNames = template;
      initial.metafile = true;
      // esbuild keeps standard decorators as written for targets that it believes support them,
      // its default `esnext` among them; no engine parses them yet (Node 20 reports "Invalid or
      // unexpected token" when the driver chunk loads). Lowered unless the build says otherwise.
      if (initial.supported?.decorators === undefined) initial.supported = { ...initial.supported, decorators: false };
      initial.format = 'esm';
      initial.splitting = true;
      // [dir] of string entries is relative to outbase: keep it where the user's entries alone put it.
      const userFiles = userEntries.map((e) => resolve(cwd, typeof e === 'string' ? e : e.in));
      if (initial.outbase === undefined && userEntries.some((e) => typeof e === 'string')) initial.outbase = commonDir(userFiles);
      // The metafile names modules by their real paths.
      const userEntrySet = new Set(userFiles.flatMap((file) => [file, realPath(file)]));

      // Entries of drivers that were removed (or became builtin/disabled) since setup become empty
      // modules: through re-pointed symlinks (entry-links.ts), else through an onResolve hook.
      const setupFiles = new Set(setupLazy.map((e) => e.file));
      let liveFiles = setupFiles;
      const links = setupLazy.length > 0 && !initial.preserveSymlinks ? createEntryLinks(setupLazy.map((e) => e.file)) : undefined;
      initial.entryPoints = [...userEntries, ...setupLazy.map((e, i) => ({ in: links ? links.path(i) : e.file, out: e.out }))];
      if (links) {
        build.onDispose(() => links.remove());
      } else if (setupLazy.length > 0) {
        // The filter is the lazy entries' common folder: one alternative per entry would cost
        // esbuild (Go's regexp) about 0.1 ms per entry per build to match; a literal prefix is nearly free.
        build.onResolve({ filter: new RegExp(`^${escapeRegExp(commonFolder([...setupFiles]))}`) }, (args) => {
          if (args.kind !== 'entry-point' || !setupFiles.has(args.path) || liveFiles.has(args.path)) return undefined;
          return { path: args.path, namespace: STALE };
        });
        build.onLoad({ filter: /.*/, namespace: STALE }, () => ({ contents: '', loader: 'js' }));
      }
      const isStale = (entryPoint: string, absolute: string) => entryPoint.startsWith(`${STALE}:`) || (links?.isStub(absolute) ?? false);

      build.onStart(async () => {
        // The first build uses what setup generated; rebuilds regenerate (drivers may have changed).
        current = prepared ?? (await prepareBuild(validated, cwd, current));
        prepared = undefined;
        liveFiles = new Set(current.lazyEntries.map((e) => e.file));
        if (links) setupLazy.forEach((e, i) => links.point(i, liveFiles.has(e.file)));
        clearGuardSourceCache();
        clearRealPaths();
        const errors = toBundlerMessages(current.loaded, current.result).map((m) => ({
          text: m.text,
          location: { file: relativePosix(cwd, m.file), line: m.line, column: Math.max(0, m.column - 1), lineText: m.lineText ?? '' },
          notes: m.notes.map((n) => ({ text: n.text, location: { file: relativePosix(cwd, n.file), line: n.line, column: Math.max(0, n.column - 1) } })),
        }));
        return { errors };
      });

      build.onEnd((result) => {
        let outcome: EndMessages | undefined;
        try {
          outcome = finish(result);
        } catch (error) {
          // The manifest or a chunk's build id could not be written (the output folder's to fix).
          if (!(error instanceof WriteError)) throw error;
          outcome = { errors: [{ text: error.message }], warnings: [] };
        }
        if (outcome === undefined || (outcome.errors.length === 0 && outcome.warnings.length === 0)) return outcome;
        return logWhenInactive(build, outcome, cwd);
      });

      /** After the build: the guard, the build id and integrity values, the manifest. */
      function finish(result: BuildResult): EndMessages | undefined {
        if (result.errors.length > 0 || !result.metafile) return undefined;
        const outdir = resolve(cwd, initial.outdir!);
        const abs = metafilePaths(metaCwd);
        const store = outputStore(result.outputFiles);
        const lazy = current.lazyEntries;
        const errors: PartialMessage[] = [];
        const warnings: PartialMessage[] = [];

        const guard = validated.guard ?? 'error';
        if (guard !== 'off') {
          for (const message of guardMessages(result.metafile, metaCwd, abs, userEntrySet, current)) (guard === 'error' ? errors : warnings).push(message);
          if (errors.length > 0) {
            removeOutputs(result.metafile, abs, store, result.outputFiles ? undefined : outdir);
            return { errors, warnings };
          }
        }

        removeStaleOutputs(result.metafile, abs, store, isStale);
        // Metafile paths are relative to cwd: under the output folder's prefix, the rest is the file.
        const outPrefix = relativePosix(metaCwd, outdir).replace(/(?<=.)$/, '/');
        const relCache = new Map<string, string>();
        const rel = (output: string) => {
          if (output.startsWith(outPrefix) && !output.startsWith('../', outPrefix.length)) return output.slice(outPrefix.length);
          let file = relCache.get(output);
          if (file === undefined) relCache.set(output, (file = relativePosix(outdir, abs(output))));
          return file;
        };
        const jsExtension = initial.outExtension?.['.js'] ?? '.js';
        restoreEntryNames(result.metafile, metaCwd, abs, outdir, userEntrySet, userTemplate, template, jsExtension, store);

        const toFinish: (ChunkToFinish & { imports: string[]; css?: string[] })[] = [];
        const entries: string[] = [];
        const lazyChunks: { entry: LazyEntry; chunk: string }[] = [];
        const lazyByFile = new Map(lazy.map((e) => [e.file, e]));
        // esbuild reports real paths: where a link in the project's path makes them differ, the
        // lazy entries are looked up by their real paths too (made once, only then).
        let lazyByRealPath: Map<string, LazyEntry> | undefined;
        // Stylesheets the outputs import, by manifest name: their metafile output.
        const stylesheets = new Map<string, string>();
        const lazyEntryOf = (source: string) => lazyByFile.get(source) ?? (lazyByRealPath ??= new Map(lazy.map((e) => [realFile(e.file), e]))).get(source);
        for (const [output, info] of jsOutputs(result.metafile)) {
          const file = rel(output);
          const source = info.entryPoint ? abs(info.entryPoint) : undefined;
          const isUserEntry = source !== undefined && userEntrySet.has(source);
          const entry = source === undefined ? undefined : isUserEntry ? lazyByFile.get(source) : lazyEntryOf(source);
          const imports = info.imports.filter((i) => i.kind === 'import-statement' && !i.external).map((i) => rel(i.path));
          // A lazy entry of the setup is named by the entry template, which has [hash]; one added
          // to a live context by chunkNames, which may not.
          const hashedName = entry !== undefined && !isUserEntry && setupFiles.has(entry.file);
          // The CSS an entry imports: one stylesheet beside its chunk, which the JavaScript does
          // not load itself; the runtime's browser path links it.
          const css = info.cssBundle !== undefined && result.metafile.outputs[info.cssBundle] ? rel(info.cssBundle) : undefined;
          if (css !== undefined) stylesheets.set(css, info.cssBundle!);
          toFinish.push({ file, path: abs(output), size: info.bytes, lazy: entry !== undefined, hashedName, imports, ...(css !== undefined ? { css: [css] } : {}) });
          if (isUserEntry) entries.push(file);
          if (entry) lazyChunks.push({ entry, chunk: file });
        }
        // Finished (size, SRI value) like the chunks.
        for (const [file, output] of stylesheets) toFinish.push({ file, path: abs(output), size: result.metafile.outputs[output]!.bytes, lazy: false, imports: [] });
        // Each chunk read once: a lazy one gets its build id statement as it is read. The last
        // build into this folder spares hashing the chunks it already measured (on disk only).
        const manifestPath = resolve(outdir, validated.manifest ?? DEFAULT_MANIFEST);
        const cache = result.outputFiles ? NO_FINISH_CACHE : finishCache(current.loaded, 'esbuild', manifestPath);
        const finished = cache.finish(store, toFinish);
        // esbuild wrote every output its metafile lists; one that is not there (another plugin's
        // onEnd removed it, or the paths were misread) would silently be missing from the manifest.
        const missing = toFinish.filter((c) => !finished.finished.has(c.file));
        if (missing.length > 0) {
          const list = missing.slice(0, 3).map((c) => relativePosix(cwd, c.path)).join(', ');
          const more = missing.length > 3 ? ` and ${missing.length - 3} more` : '';
          errors.push({ text: `gen-modules: outputs that esbuild's metafile lists are not on disk: ${list}${more}; no manifest was written` });
          return { errors, warnings };
        }
        const chunks: BuiltChunk[] = toFinish.map((c) => ({ file: c.file, imports: c.imports, final: finished.finished.get(c.file), ...(c.css ? { css: c.css } : {}) }));
        for (const { entry, chunk } of lazyChunks) {
          if (!setupFiles.has(entry.file)) {
            warnings.push({
              text: `${entry.kind} '${entry.name}' was added while this esbuild context was live: it is lazy, in its own chunk ${chunk}, but named by chunkNames rather than ${entry.out}-<hash>${jsExtension} (esbuild cannot add entry points to a live context; dispose and recreate the context for the stable name)`,
            });
          }
        }
        const finalized = finalizeBuild({ bundler: 'esbuild', chunks, entries, lazy: lazyChunks, drivers: current.result.drivers, buildId: finished.buildId });
        store.write(manifestPath, finalized.text);
        return { errors, warnings };
      }
    },
  };
}

interface EndMessages {
  errors: PartialMessage[];
  warnings: PartialMessage[];
}

/**
 * esbuild logs what an onEnd callback returns only while the build is active, which a context's
 * builds are. A build() has ended by the time its onEnd callbacks run: their messages reach only
 * the rejected promise (or the result's warnings), and a script ending in
 * `.catch(() => process.exit(1))`, as in esbuild's own examples, would fail without a word (a
 * guard violation among them). `build.resolve()` refuses an inactive build ("Cannot call "resolve"
 * on an inactive build"); then the messages are printed here, as esbuild prints its own, at the
 * build's log level. Only builds with messages pay for the check (one request to esbuild).
 */
async function logWhenInactive(build: PluginBuild, messages: EndMessages, cwd: string): Promise<EndMessages> {
  try {
    await build.resolve('./', { kind: 'entry-point', resolveDir: cwd });
    return messages;
  } catch (error) {
    // Another plugin's onResolve may throw on this request, in an active build.
    if (!/inactive build/.test((error as Error).message)) return messages;
  }
  const level = build.initialOptions.logLevel ?? 'warning';
  const color = build.initialOptions.color ?? process.stderr.isTTY === true;
  const show = (kind: 'error' | 'warning', list: PartialMessage[]) =>
    list.length > 0 && level !== 'silent' && (kind === 'error' || level !== 'error')
      ? build.esbuild.formatMessages(
          list.map((m) => ({ pluginName: 'gen-modules', ...m })),
          { kind, color },
        )
      : Promise.resolve([]);
  const [warnings, errors] = await Promise.all([show('warning', messages.warnings), show('error', messages.errors)]);
  const text = [...warnings, ...errors].join('');
  if (text !== '') process.stderr.write(text);
  return messages;
}

/**
 * A failed build leaves no output, as in rollup and Vite, which check before they write: esbuild
 * has written every file by the time onEnd runs, so they are deleted here, and so are folders that
 * this leaves empty (up to the output folder; `outdir` undefined under `write: false`, where the
 * outputs are only in memory). An earlier build in the same folder is not brought back: where a
 * file of this build had the same name, esbuild had already replaced it.
 */
function removeOutputs(metafile: Metafile, abs: (path: string) => string, store: OutputStore, outdir: string | undefined): void {
  const folders = new Set<string>();
  // The metafile's paths are real ones (see metaCwd); the output folder may be named through a link.
  const roots = outdir === undefined ? [] : [...new Set([outdir, realPath(outdir)])].map((root) => `${root}${sep}`);
  const inside = (dir: string) => roots.some((root) => dir.startsWith(root));
  for (const output of Object.keys(metafile.outputs)) {
    const file = abs(output);
    store.remove(file);
    if (outdir !== undefined) for (let dir = dirname(file); inside(dir); dir = dirname(dir)) folders.add(dir);
  }
  // Deepest first; a folder that still holds anything (not ours, or not empty) stays.
  for (const dir of [...folders].sort((a, b) => b.length - a.length)) {
    try {
      rmdirSync(dir);
    } catch {
      // Not empty, or already gone.
    }
  }
}

/** Outputs of entries that resolved to the empty stale module: deleted, and dropped from the metafile. */
function removeStaleOutputs(metafile: Metafile, abs: (path: string) => string, store: OutputStore, isStale: (entryPoint: string, absolute: string) => boolean): void {
  for (const [output, info] of Object.entries(metafile.outputs)) {
    if (!info.entryPoint || !isStale(info.entryPoint, abs(info.entryPoint))) continue;
    store.remove(abs(output));
    store.remove(abs(`${output}.map`));
    delete metafile.outputs[output];
    delete metafile.outputs[`${output}.map`];
  }
}

function guardMessages(metafile: Metafile, cwd: string, abs: (path: string) => string, userEntries: ReadonlySet<string>, prepared: PreparedBuild): PartialMessage[] {
  const lazy = prepared.lazyEntries;
  // By the paths the metafile gives (real ones: see metaCwd).
  const drivers = new Map(lazy.filter((e) => e.kind === 'driver').map((e) => [realFile(e.file), e.name]));
  if (drivers.size === 0 || !driverOutsideItsChunk(metafile, abs, drivers)) return [];
  const edges = new Map<string, ImportEdge[]>();
  for (const [input, info] of Object.entries(metafile.inputs)) {
    if (/^[\w-]+:/.test(input) && !input.startsWith('file:')) continue; // other namespaces
    const list: ImportEdge[] = [];
    for (const i of info.imports) {
      if ((i.kind === 'import-statement' || i.kind === 'require-call') && !i.external) list.push({ to: abs(i.path), specifier: i.original });
    }
    edges.set(abs(input), list);
  }
  const violations = findViolations(
    { entries: [...userEntries].filter((f) => edges.has(f)), lazyRoots: lazy.map((e) => realFile(e.file)).filter((f) => edges.has(f)), edges: (f) => edges.get(f) ?? [] },
    drivers,
  );
  return violations.map((v) => {
    const last = v.chain[v.chain.length - 1]!;
    return {
      text: `gen-modules: ${formatViolation(v, cwd, driverFile(prepared, v.driver))}`,
      location: last.line > 0 ? { file: relativePosix(cwd, last.file), line: last.line, column: Math.max(0, last.column - 1), lineText: lineTextOf(last.file, last.line) } : null,
    };
  });
}

/**
 * The guard's cheap first pass, on the chunk graph: esbuild puts a module that only its own entry
 * reaches into that entry's chunk, and a module reached from anywhere else (an entry of the
 * application, another lazy chunk) into the chunk of whoever reaches it or a shared chunk. So when
 * every module driver is in the chunk of its own entry, no violation is possible, and the module
 * graph (built from the metafile's inputs, searched for the chains) is not needed (fresh process,
 * the end of the build: 42 -> 38 ms).
 */
function driverOutsideItsChunk(metafile: Metafile, abs: (path: string) => string, drivers: ReadonlyMap<string, string>): boolean {
  for (const info of Object.values(metafile.outputs)) {
    const own = info.entryPoint === undefined ? undefined : abs(info.entryPoint);
    for (const input of Object.keys(info.inputs)) {
      const file = abs(input);
      if (file !== own && drivers.has(file)) return true;
    }
  }
  return false;
}

const JS_OUTPUT = /\.[cm]?js$/;

/**
 * Absolute paths of metafile paths (relative to `cwd`, forward slashes), each made once: a plain
 * relative path (no `.` or `..` segment, no backslash) is joined as text, anything else goes
 * through path.resolve. Metafile paths repeat (every driver imports the runtime), and in a fresh
 * process, where this code runs cold, path.resolve on each of them cost a few milliseconds of the
 * end of the build (guard and entry renaming: 11-22 ms before, 8-13 after, 200 drivers).
 */
export function metafilePaths(cwd: string): (path: string) => string {
  const known = new Map<string, string>();
  const prefix = cwd.endsWith('/') ? cwd : `${cwd}/`;
  const plain = (path: string) => sep === '/' && path !== '' && !path.startsWith('.') && !path.startsWith('/') && !/\\|\/\.|\/\/|\/$/.test(path);
  return (path) => {
    let absolute = known.get(path);
    if (absolute === undefined) known.set(path, (absolute = plain(path) ? prefix + path : resolve(cwd, path)));
    return absolute;
  };
}

/** The metafile's JavaScript outputs (not maps, not other assets). */
function jsOutputs(metafile: Metafile): [string, Metafile['outputs'][string]][] {
  return Object.entries(metafile.outputs).filter(([output]) => JS_OUTPUT.test(output));
}
