// The project scan: list the configured driver files, pre-filter by text, scan the candidates,
// validate each driver and then the set of drivers. Collects every diagnostic of the run.
//
// The cost model: every listed file is read once; only files that pass the text pre-filter (an
// '@' followed by a name the file binds) are parsed, without parent pointers or JSDoc; imported modules are parsed only when
// a decorator's constant or the decorator itself leads there; a candidate's syntax tree is dropped
// once it is scanned (keeping thousands costs more in garbage collection than the rare re-parse).
// A ProjectScanner keeps the parses of imported modules and per-file results, keyed by path and
// content (a candidate's text is kept: comparing it is cheaper than hashing it, and a dependency's
// change re-evaluates from it without touching the disk), with the modules each result depended
// on; a watcher that reports changed paths makes the next scan re-read only those files and redo
// only their dependents.
import { dirname, posix, relative, resolve, sep } from 'node:path';
import type { LoadedConfig } from '../config/config.js';
import { locateInJson, locateInScript, type ConfigPath } from '../config/json-location.js';
import { toPosixPath } from '../config/posix-path.js';
import { keyName } from '../config/validate-config.js';
import type { DriverInfo, RenderedTable } from '../model.js';
import { closest } from '../config/closest.js';
import { diagnostics as d, type At } from '../diagnostics/codes.js';
import { compareDiagnostics, type Diagnostic } from '../diagnostics/diagnostic.js';
import { toDriverInfo } from './block-driver-options.js';
import { checkDriverSet } from './check-driver-set.js';
import { saveCodeCaches } from './code-cache.js';
import { prepareScanCache, readScanCache, recordingFileSystem, scanCacheFile, scanRecording, type CachedFile, type CachedScan, type ScanCacheStamps, type ScanRecording } from './scan-cache.js';
import { resolvePackages, type ResolvedPackage } from './driver-packages.js';
import { nodeFileSystem, readTextFileSystem, type ScanFileSystem } from './file-system.js';
import { listFiles } from './list-files.js';
import { ModuleGraph } from './module-graph.js';
import { mayHoldDecorator } from './prefilter.js';
import { ModuleResolver } from './module-resolver.js';
import { toRegistryDriverInfo } from './registry-options.js';
import { scanLiterally } from './literal-scan.js';
import { scanModule, type FileScan } from './scan-file.js';
import { readPathsConfig, type PathsConfig } from './tsconfig-paths.js';
import { loadTypeScript } from './typescript.js';
import { byCodeUnit } from '../by-code-unit.js';

export interface ScanResult {
  /** Drivers in a total order: kind ('format' before 'protocol'), then name by code unit. */
  drivers: DriverInfo[];
  diagnostics: Diagnostic[];
  /** Every file the patterns matched (config-relative, sorted), whether or not it had drivers. */
  files: string[];
  /** Source texts of files with diagnostics, for code frames. */
  sources: Map<string, string>;
  /**
   * Everything the result depends on, config-relative and sorted: the config, tsconfig files,
   * driver packages' package.json, every listed file and every module a declaration led to.
   */
  inputs: string[];
  stats: ScanStats;
  /** From the scan cache: the tables the cached drivers render to under this config. */
  tables?: RenderedTable[];
}

export interface ScanStats {
  files: number;
  /** Files the text pre-filter let through (see prefilter.ts). */
  candidates: number;
  /** Files read from disk in this scan. */
  read: number;
  /** Modules parsed in this scan (candidates and the modules they led to). */
  parsed: number;
  /** Files whose cached result was reused. */
  reused: number;
  /** Candidates read by the literal reader instead of the parser (ScanOptions.literalReader). */
  literal: number;
}

export interface ScanOptions {
  /** Read a file (default: the disk). Paths the function cannot read count as missing. */
  readText?: (absolute: string) => string;
  /** A whole file system (tests pass an in-memory one). */
  fs?: ScanFileSystem;
  /** The driver files, config-relative, instead of globbing the config's patterns. */
  files?: readonly string[];
  /** Called while scanning: files done of total. */
  onProgress?: (done: number, total: number) => void;
  /** Keep clean results on disk and reuse them while no input changed (scan-cache.ts). */
  cache?: boolean;
  /**
   * A compiler checks the syntax of every driver file anyway (a bundler build): files of the usual
   * kind are then read by the literal reader, without the compiler (literal-scan.ts). Their syntax
   * is not checked here, and a scan without this option does not take their results from the
   * scan cache.
   */
  literalReader?: boolean;
}

/** Lists the driver files, config-relative with forward slashes, sorted. */
export async function listDriverFiles(loaded: LoadedConfig): Promise<string[]> {
  const config = loaded.config;
  const patterns = [...new Set([...config.drivers, ...Object.values(config.registries).flatMap((r) => r.drivers)])];
  if (patterns.length === 0) return [];
  // Declaration files and the generated tables are cheaper to drop afterwards than to match.
  const files = await listFiles(patterns, loaded.root, config.exclude);
  const outputs = new Set([config.out, ...Object.values(config.registries).map((r) => r.out)].map((o) => posix.normalize(toPosixPath(o))));
  // Default sort: UTF-16 code-unit order, the total order every output uses.
  return files
    .map(toPosixPath)
    .filter((f) => !/\.d\.[cm]?ts$/.test(f) && !outputs.has(f))
    .sort();
}

export async function scan(loaded: LoadedConfig, options: ScanOptions | ((absolute: string) => string) = {}): Promise<ScanResult> {
  const scanner = new ProjectScanner(loaded, typeof options === 'function' ? { readText: options } : options);
  const result = await scanner.scan();
  scanner.keepScan();
  return result;
}

interface ListedFile {
  /** Config-relative display path. */
  file: string;
  path: string;
  pkg?: ResolvedPackage;
}

interface FileRecord {
  candidate: boolean;
  /** A candidate's text: its content key (an unchanged text keeps the result) and what a re-evaluation re-parses. */
  text?: string;
  result?: FileScan;
  /** Modules the result depends on (besides the file itself), and their display paths. */
  deps: Set<string>;
  depInputs?: string[];
  /** The drivers the result makes under this config, and their diagnostics. */
  infos?: { drivers: DriverInfo[]; diagnostics: Diagnostic[] };
  /** Re-evaluate from the cached parse (a dependency or the set of files changed). */
  stale: boolean;
  /** The result came from the literal reader: the file's syntax was not checked. */
  unchecked?: boolean;
}

export class ProjectScanner {
  readonly fs: ScanFileSystem;
  private paths: PathsConfig | undefined;
  private resolver: ModuleResolver | undefined;
  private graph: ModuleGraph | undefined;
  /** The scan cache's tsconfig files (absolute), while the paths themselves were not read. */
  private keptTsconfigs: string[] | undefined;
  private listing: { files: ListedFile[]; packages: ResolvedPackage[]; diagnostics: Diagnostic[] } | undefined;
  private readonly records = new Map<string, FileRecord>();
  /** Paths to re-read on the next scan. */
  private readonly changedPaths = new Set<string>();
  /** The last scan's inputs (sorted); undefined after the listing changed. */
  private inputs: string[] | undefined;
  /** With the scan cache on: what the scan's file system was asked and answered. */
  private readonly seen: ScanRecording | undefined;
  /** The answers the scan cache kept for the paths asked by the scans whose results this scanner took from it. */
  private readonly keptAnswers = new Map<string, string | null>();
  /** The last clean scan's cache entry, written by keepScan (once generate has its tables). */
  private kept: { listing: string[]; scan: CachedScan; files: Map<string, CachedFile>; startedMs: number; stamps?: ScanCacheStamps; hashes?: ReadonlyMap<string, string> } | undefined;

  constructor(
    readonly loaded: LoadedConfig,
    private readonly options: ScanOptions = {},
  ) {
    const fs = options.fs ?? (options.readText ? readTextFileSystem(options.readText) : nodeFileSystem());
    if (options.cache && scanCacheFile(loaded)) {
      this.seen = scanRecording();
      this.fs = recordingFileSystem(fs, this.seen);
    } else this.fs = fs;
  }

  /**
   * Tell the scanner what changed on disk since the last scan. `structural`: files were added or
   * removed (the listing and every import resolution may change).
   */
  invalidate(paths: Iterable<string>, structural = false): void {
    const list = [...paths];
    this.fs.forget?.(structural ? undefined : list);
    this.graph?.forget(list);
    for (const path of list) this.changedPaths.add(path);
    const touched = new Set(list);
    const tsconfigFiles = this.paths?.files ?? this.keptTsconfigs ?? [];
    if (list.some((p) => tsconfigFiles.includes(p))) {
      // tsconfig changed: every resolution may differ.
      this.keptTsconfigs = undefined;
      this.paths = undefined;
      this.resolver = undefined;
      this.graph = undefined;
      structural = true;
    }
    if (structural) {
      this.listing = undefined;
      this.inputs = undefined;
      this.resolver?.clear();
    }
    // A probe module may have appeared or gone: drivers are re-checked (cheap, no parse).
    if (structural) for (const record of this.records.values()) record.infos = undefined;
    for (const record of this.records.values()) {
      if (record.candidate && (structural || [...record.deps].some((dep) => touched.has(dep)))) record.stale = true;
    }
  }

  /** Whether `path` is a listed file or a module some result depends on. */
  knows(path: string): boolean {
    return this.records.has(path) || (this.graph?.has(path) ?? false);
  }

  async scan(): Promise<ScanResult> {
    const { loaded, fs } = this;
    const startedMs = Date.now();
    const display = (absolute: string) => toPosixPath(relative(loaded.root, absolute)) || '.';
    this.listing ??= await this.list(display);
    const { files, packages } = this.listing;
    const literalReader = this.options.literalReader === true;
    const cached = this.seen && this.listing.diagnostics.length === 0 ? readScanCache(loaded, files.map((f) => f.path), literalReader) : undefined;
    this.kept = undefined;
    if (cached && 'scan' in cached) {
      const hit = cached.scan;
      const stats: ScanStats = { files: files.length, candidates: hit.candidates, read: 0, parsed: 0, reused: files.length, literal: 0 };
      return { drivers: hit.drivers, diagnostics: [], files: hit.files, sources: new Map(), inputs: hit.inputs, stats, ...(hit.tables ? { tables: hit.tables } : {}) };
    }
    if (cached) this.reuse(files, cached, display, literalReader);
    const previous = cached?.previous;
    // The compiler and the tsconfig paths are needed only to parse. A scan the cache partly
    // answers may parse nothing (the files that changed hold no decorator: a helper module beside
    // the drivers); it then loads neither (the compiler alone: 60-130 ms of a fresh process here),
    // and the kept scan's list of tsconfig files stands in for the paths' own. A scan whose
    // candidates the literal reader reads loads no compiler either (a plain JSON tsconfig is
    // read without it: tsconfig-paths.ts).
    const pathsConfig = () => (this.paths ??= readPathsConfig(loaded.root, fs, loaded.config.tsconfig));
    const parser = (): ModuleGraph => {
      if (!this.graph) {
        loadTypeScript();
        this.resolver ??= new ModuleResolver(fs, pathsConfig());
        this.graph = new ModuleGraph(fs, this.resolver, display);
      }
      return this.graph;
    };
    if (!previous?.tsconfigs) pathsConfig();
    else this.keptTsconfigs = previous.tsconfigs.map((f) => resolve(loaded.root, f));
    const parsesBefore = this.graph?.parses ?? 0;
    /** The tsconfig files the paths were read from (config-relative). */
    const tsconfigs = (): string[] => (this.paths?.files ?? this.keptTsconfigs ?? []).map(display);

    const diagnostics: Diagnostic[] = [...this.listing.diagnostics];
    const sources = new Map<string, string>();
    if (this.paths?.problem) {
      const p = this.paths.problem;
      diagnostics.push(d.tsconfig({ file: display(p.file), line: p.line, column: p.column }, p.message));
    }
    const patterns = [...loaded.config.drivers, ...packages.map((p) => `${p.info.name}: ${p.drivers.join(', ')}`)];
    // No pattern at all: a package without drivers, which GM9004 already reports.
    if (files.length === 0 && patterns.length > 0) diagnostics.push(d.noDriverFiles(display(loaded.file), patterns));

    const stats: ScanStats = { files: files.length, candidates: 0, read: 0, parsed: 0, reused: 0, literal: 0 };
    const found: { listed: ListedFile; record: FileRecord }[] = [];
    const listingChanged = this.inputs === undefined;
    let inputsChanged = listingChanged;
    let done = 0;
    for (const listed of files) {
      if (this.options.onProgress && ++done % 250 === 0) this.options.onProgress(done, files.length);
      const record = this.fileRecord(listed, diagnostics, stats);
      if (!record) continue;
      if (!record.candidate) continue;
      stats.candidates++;
      // A result the scan cache vouched for comes as the file's drivers (infos), without a scan.
      if (record.stale || (!record.result && !record.infos)) {
        // The literal reader's result depends on the file alone; anything else is parsed (so is a
        // file whose result came from the scan cache and whose text was not read: the graph reads it).
        const literal = literalReader && record.text !== undefined ? scanLiterally(listed.file, record.text) : undefined;
        const deps = new Set<string>();
        if (literal) {
          stats.literal++;
          record.result = literal;
        } else {
          const graph = parser();
          const module = graph.track(deps, () => graph.module(listed.path, record.text, false));
          if ('error' in module) {
            diagnostics.push(d.cannotReadFile(listed.file, module.error));
            continue;
          }
          record.result = graph.track(deps, () => scanModule(module, graph));
          deps.delete(listed.path);
        }
        const depInputs = [...deps].map(display);
        if (depInputs.join('\u0000') !== (record.depInputs ?? []).join('\u0000')) inputsChanged = true;
        record.deps = deps;
        record.depInputs = depInputs;
        record.infos = undefined;
        record.stale = false;
        record.unchecked = literal !== undefined;
      } else stats.reused++;
      const result = record.result;
      if (result && result.diagnostics.length > 0) {
        sources.set(listed.file, record.text ?? fs.readText(listed.path));
        diagnostics.push(...result.diagnostics);
      }
      if (result ? result.found.length > 0 : record.infos!.drivers.length > 0) found.push({ listed, record });
    }
    if (listingChanged) {
      const live = new Set(files.map((f) => f.path));
      for (const path of this.records.keys()) if (!live.has(path)) this.records.delete(path);
    }
    this.changedPaths.clear();
    this.options.onProgress?.(files.length, files.length);
    // Everything the result depends on (config-relative), recomputed only when it can differ.
    if (inputsChanged || !this.inputs) {
      const inputs = new Set<string>([loaded.file, ...packages.map((p) => p.packageJson)].map(display));
      for (const tsconfig of tsconfigs()) inputs.add(tsconfig);
      for (const listed of files) {
        inputs.add(listed.file);
        for (const dep of this.records.get(listed.path)?.depInputs ?? []) inputs.add(dep);
      }
      this.inputs = [...inputs].sort();
    }

    const drivers = this.drivers(found, diagnostics, sources);
    diagnostics.push(...checkDriverSet(drivers));
    // Only a scan of every listed file knows every driver.
    if (!this.options.files) diagnostics.push(...this.unknownConfigNames(drivers, display));
    drivers.sort(compareDrivers);
    diagnostics.sort(compareDiagnostics);
    stats.parsed = (this.graph?.parses ?? 0) - parsesBefore;
    // The compiler has now compiled what a scan uses: the first run on a machine caches it.
    saveCodeCaches();
    const result: ScanResult = { drivers, diagnostics, files: files.map((f) => f.file), sources, inputs: [...this.inputs], stats };
    // An edit that left every declaration as it was (the usual one): the kept tables still hold.
    if (previous?.tables && diagnostics.length === 0 && sameDrivers(drivers, previous.drivers)) result.tables = previous.tables;
    if (this.seen && diagnostics.length === 0) {
      const perFile = new Map<string, CachedFile>();
      let unchecked = false;
      for (const { path } of files) {
        const record = this.records.get(path);
        if (record) perFile.set(path, { candidate: record.candidate, deps: [...record.deps], ...(record.unchecked ? { unchecked: true } : {}) });
        if (record?.unchecked) unchecked = true;
      }
      this.kept = {
        listing: files.map((f) => f.path),
        scan: { drivers, files: result.files, inputs: result.inputs, candidates: stats.candidates, tsconfigs: tsconfigs(), ...(unchecked ? { unchecked: true } : {}) },
        files: perFile,
        startedMs,
        ...(cached ? { stamps: cached.stamps, hashes: cached.hashes } : {}),
      };
    }
    return result;
  }

  /**
   * Takes the results the scan cache still vouches for (files this scanner has no record of yet):
   * a candidate's drivers are the kept scan's drivers of that file. Such a record has no scan
   * result; when something it depends on changes, it is stale and scanned from the file again.
   */
  private reuse(
    files: readonly ListedFile[],
    { reusable, answers, previous }: { reusable: ReadonlyMap<string, CachedFile>; answers: ReadonlyMap<string, string | null>; previous: CachedScan },
    display: (absolute: string) => string,
    literalReader: boolean,
  ): void {
    for (const [path, answer] of answers) {
      this.seen!.asked.add(path);
      this.keptAnswers.set(path, answer);
    }
    const byFile = new Map<string, DriverInfo[]>();
    for (const driver of previous.drivers) {
      const list = byFile.get(driver.file);
      if (list) list.push(driver);
      else byFile.set(driver.file, [driver]);
    }
    for (const { path, file } of files) {
      const kept = reusable.get(path);
      // A result whose syntax no one checked serves only scans that do not check it either.
      if (!kept || this.records.has(path) || (kept.unchecked && !literalReader)) continue;
      this.records.set(path, {
        candidate: kept.candidate,
        ...(kept.candidate ? { infos: { drivers: byFile.get(file) ?? [], diagnostics: [] } } : {}),
        deps: new Set(kept.deps),
        depInputs: kept.deps.map(display),
        stale: false,
        ...(kept.unchecked ? { unchecked: true } : {}),
      });
    }
  }

  /**
   * Writes the last scan to the scan cache when it was clean and came from the sources (not from
   * the cache), with the tables rendered from it when the caller has them (generate does); `when`:
   * before returning, or 'soon' (once the caller yields).
   */
  keepScan(tables?: RenderedTable[], when: 'now' | 'soon' = 'now'): void {
    if (!this.kept || !this.seen) return;
    const { listing, scan, files, startedMs, stamps, hashes } = this.kept;
    this.kept = undefined;
    // A file read by this scan is described by its stamp and its text's hash at that read; one
    // whose result came from the cache, by the stamp the cache was checked against and the hash
    // the cache kept.
    const { asked, readStamps, readHashes, isFile, realpath } = this.seen;
    const known = new Map(stamps);
    for (const [path, stamp] of readStamps) known.set(path, stamp);
    const knownHashes = new Map(hashes);
    for (const [path, hash] of readHashes) knownHashes.set(path, hash);
    const seen = { asked, stamps: known, hashes: knownHashes, isFile, realpath, previous: this.keptAnswers };
    const write = prepareScanCache(this.loaded, listing, { ...scan, ...(tables ? { tables } : {}) }, files, seen, startedMs);
    // 'soon': once the caller yields, e.g. while a bundler builds (serializing and writing: about
    // 2 ms at 200 drivers, off the build's path). The stamps were taken now.
    if (write && when === 'soon') setImmediate(write);
    else write?.();
  }

  /** Reads a listed file when it is new or changed; decides whether it is a candidate. */
  private fileRecord(listed: ListedFile, diagnostics: Diagnostic[], stats: ScanStats): FileRecord | undefined {
    const existing = this.records.get(listed.path);
    if (existing && !this.changedPaths.has(listed.path)) return existing;
    let text: string;
    try {
      text = this.fs.readText(listed.path);
    } catch (error) {
      diagnostics.push(d.cannotReadFile(listed.file, (error as NodeJS.ErrnoException).code ?? (error as Error).message));
      this.records.delete(listed.path);
      return undefined;
    }
    stats.read++;
    // Cheap text pre-filter (prefilter.ts): a file without '@', or whose '@' names are bound
    // nowhere in it, has no decorator of ours, so it is never parsed.
    const candidate = mayHoldDecorator(text);
    // Same content, same result (an editor's save without changes, a touch).
    if (existing && existing.text === text) return existing;
    const record: FileRecord = { candidate, deps: new Set(), stale: true, ...(candidate ? { text } : {}) };
    this.records.set(listed.path, record);
    return record;
  }

  /** Where `path` is in the config file (a TypeScript config: its last key found, else line 1). */
  private configPlace(path: ConfigPath, display: (absolute: string) => string, at: 'key' | 'value' = 'value'): At {
    const { loaded } = this;
    const text = this.configText();
    const where = loaded.file.endsWith('.json') ? locateInJson(text, path, at) : locateInScript(text, path);
    return { file: display(loaded.file), line: where?.line ?? 1, column: where?.column ?? 1, length: where?.length ?? 1 };
  }

  /**
   * Driver names in the config's `states` (its registries' too) and `probe.order` that no scanned
   * driver has: a misspelt name would otherwise leave its driver in the default state, unnoticed.
   */
  private unknownConfigNames(drivers: readonly DriverInfo[], display: (absolute: string) => string): Diagnostic[] {
    const { config } = this.loaded;
    const out: Diagnostic[] = [];
    // A state is placed at its key (the name), an order entry at its value (the name too).
    const check = (registry: string, names: readonly string[], path: (name: string, i: number) => ConfigPath, formatsOnly = false) => {
      const at = formatsOnly ? 'value' : 'key';
      const known = drivers.filter((dr) => dr.registry === registry && (!formatsOnly || dr.kind === 'format')).map((dr) => dr.name);
      names.forEach((name, i) => {
        if (!known.includes(name)) out.push(d.unknownConfigName(this.configPlace(path(name, i), display, at), keyName(path(name, i)), name, closest(name, known)));
      });
    };
    check('blockDriver', Object.keys(config.states), (name) => ['states', name]);
    check('blockDriver', config.probe.order, (_name, i) => ['probe', 'order', i], true);
    for (const [registry, settings] of Object.entries(config.registries)) check(registry, Object.keys(settings.states), (name) => ['registries', registry, 'states', name]);
    return out;
  }

  /**
   * The config file's text ('' when unreadable: places fall back to line 1). Read by every scan's
   * listing, through the scan's file system: the scan cache then knows its hash, and a config
   * touched but not changed still lets the cache answer.
   */
  private configText(): string {
    try {
      return this.fs.readText(this.loaded.file);
    } catch {
      return '';
    }
  }

  private async list(display: (absolute: string) => string): Promise<{ files: ListedFile[]; packages: ResolvedPackage[]; diagnostics: Diagnostic[] }> {
    const { loaded } = this;
    this.configText();
    const configAt = (name: string): At => {
      const index = loaded.config.packages.findIndex((p) => p.name === name);
      return this.configPlace(loaded.file.endsWith('.json') ? ['packages', index] : ['packages'], display);
    };
    const { packages, diagnostics } = resolvePackages(loaded, this.fs, configAt);
    const own = this.options.files?.map((f) => posix.normalize(toPosixPath(f))) ?? (await listDriverFiles(loaded));
    // Listed paths are normalised and relative: joining is enough (resolve() costs more on 10,000).
    const files: ListedFile[] = own.map((file) => ({ file, path: file.startsWith('../') ? resolve(loaded.root, file) : `${loaded.root}${sep}${file}` }));
    const seen = new Set(files.map((f) => f.path));
    for (const pkg of packages) {
      const inPackage = (await listFiles(pkg.drivers, pkg.realRoot, [])).filter((f) => !/\.d\.[cm]?ts$/.test(f));
      for (const f of inPackage.sort()) {
        const path = resolve(pkg.realRoot, f);
        if (seen.has(path)) continue;
        seen.add(path);
        files.push({ file: display(path), path, pkg });
      }
    }
    if (packages.length > 0 || this.options.files) files.sort((a, b) => byCodeUnit(a.file, b.file));
    return { files, packages, diagnostics };
  }

  /** The drivers of every file with decorators (kept per file until the file is evaluated again). */
  private drivers(found: { listed: ListedFile; record: FileRecord }[], diagnostics: Diagnostic[], sources: Map<string, string>): DriverInfo[] {
    const drivers: DriverInfo[] = [];
    for (const { listed, record } of found) {
      record.infos ??= this.driversOf(listed, record.result!);
      if (record.infos.diagnostics.length > 0 && !sources.has(listed.file)) sources.set(listed.file, record.text ?? this.fs.readText(listed.path));
      diagnostics.push(...record.infos.diagnostics);
      drivers.push(...record.infos.drivers);
    }
    return drivers;
  }

  private driversOf(listed: ListedFile, result: FileScan): { drivers: DriverInfo[]; diagnostics: Diagnostic[] } {
    const { config } = this.loaded;
    const registryNames = Object.keys(config.registries);
    const drivers: DriverInfo[] = [];
    const diagnostics: Diagnostic[] = [];
    for (const decorator of result.found) {
      let info: DriverInfo | undefined;
      if (decorator.decorator === 'blockDriver') {
        info = toDriverInfo(decorator, config.states, config.defaultState, diagnostics);
      } else {
        const registry = config.registries[decorator.decorator];
        if (registry) info = toRegistryDriverInfo(decorator, registry, diagnostics);
        else diagnostics.push(d.unknownRegistry(decorator.at, decorator.decorator, closest(decorator.decorator, registryNames)));
      }
      if (!info) continue;
      if (listed.pkg) info.package = listed.pkg.info;
      // A package's drivers are imported by package specifier; the project's own by relative path.
      const unsafe = listed.pkg ? undefined : UNIMPORTABLE.exec(info.file)?.[0];
      if (unsafe !== undefined) {
        diagnostics.push(d.unimportableFile(decorator.at, info.file, unsafe));
        continue;
      }
      this.checkProbeModules(info, diagnostics);
      drivers.push(info);
    }
    return { drivers, diagnostics };
  }

  private checkProbeModules(info: DriverInfo, diagnostics: Diagnostic[]): void {
    for (const probe of info.probes) {
      if (probe.module === undefined) continue;
      const target = resolve(this.loaded.root, dirname(info.file), probe.module);
      if (!this.fs.isFile(target)) diagnostics.push(d.probeModuleMissing({ ...info.location }, probe.module));
      else if (!info.package) {
        const path = probeModulePath(info, probe.module);
        const unsafe = UNIMPORTABLE.exec(path)?.[0];
        if (unsafe !== undefined) diagnostics.push(d.unimportableFile({ ...info.location }, path, unsafe));
      }
    }
  }
}

/** Characters of a file name that a relative import cannot carry to Node and TypeScript alike. */
const UNIMPORTABLE = /[#?%\\\t\n\r]/;

/** A probe module's path relative to the config root (its stable id in the table). */
export function probeModulePath(info: DriverInfo, module: string): string {
  return posix.normalize(posix.join(posix.dirname(info.file), module));
}

export function displayPath(loaded: LoadedConfig, absolute: string): string {
  return toPosixPath(relative(loaded.root, absolute)) || '.';
}

/**
 * Whether two driver lists (both in compareDrivers' order) are equal. The drivers of files the
 * cache vouched for are the kept scan's own objects: only the others are compared as text.
 */
function sameDrivers(a: readonly DriverInfo[], b: readonly DriverInfo[]): boolean {
  return a.length === b.length && a.every((driver, i) => driver === b[i] || JSON.stringify(driver) === JSON.stringify(b[i]));
}

export function compareDrivers(a: DriverInfo, b: DriverInfo): number {
  return byCodeUnit(a.registry, b.registry) || byCodeUnit(a.kind, b.kind) || byCodeUnit(a.name, b.name) || byCodeUnit(a.file, b.file);
}
