// The whole job: scan, compile probes, emit one table per registry, write (or compare, under --check).
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import type { LoadedConfig } from '../config/config.js';
import { toPosixPath } from '../config/posix-path.js';
import { hasErrors, type Diagnostic } from '../diagnostics/diagnostic.js';
import { fileErrorReason } from '../file-error.js';
import type { DriverInfo, RenderedTable } from '../model.js';
import { compileProbeIndex } from '../probe/compile.js';
import { compareDrivers, probeModulePath, ProjectScanner, type ScanStats } from '../scanner/scan.js';
import { emitRegistryTable, emitTable, GENERATED_BANNER, type EmitOptions } from './emit-table.js';
import { readIfExists, writeAtomic, WriteError, type WriteOutcome } from './write-file.js';

export interface GenerateOptions {
  /** Compare instead of writing: the result says whether the files on disk are stale. */
  check?: boolean;
  /** A scanner kept between runs (watch mode): only what changed is read again. */
  scanner?: ProjectScanner;
  /** Progress of the scan: files done of total. */
  onProgress?: (done: number, total: number) => void;
  /** Reuse the last clean scan while no input changed (a new scanner only; see scan-cache.ts). */
  cache?: boolean;
  /** When the scan cache is written: before returning, or once the caller yields (a bundler's build). */
  cacheWrite?: 'now' | 'soon';
}

export type Outcome = 'written' | 'unchanged' | 'stale' | 'skipped';

/** One generated file. */
export interface GeneratedOutput {
  /** 'blockDriver' for the main table, else the registry's name. */
  registry: string;
  /** Absolute path. */
  out: string;
  outcome: Outcome;
  content?: string;
}

export interface GenerateResult {
  drivers: DriverInfo[];
  diagnostics: Diagnostic[];
  sources: Map<string, string>;
  /** Absolute path of the generated block-driver table. */
  out: string;
  /**
   * For all outputs together: 'written' when any file was written, 'stale' (under check) when any
   * is stale, 'skipped' on errors (nothing written: the last good output stays), else 'unchanged'.
   */
  outcome: Outcome;
  /** The generated block-driver table (undefined when skipped). */
  content?: string;
  /** Every generated file: the block-driver table first, then each registry's, by name. */
  outputs: GeneratedOutput[];
  /** Files the outputs depend on (config-relative, sorted): for watchers and build caches. */
  inputs: string[];
  stats?: ScanStats;
}

function emitOptions(loaded: LoadedConfig, out: string): EmitOptions {
  return {
    out,
    configName: toPosixPath(relative(loaded.root, loaded.file)),
    importExtension: loaded.config.importExtension,
  };
}

/** The block-driver table's text. */
export function renderTable(loaded: LoadedConfig, unordered: readonly DriverInfo[]): string {
  // A total order here, whatever order the caller found the drivers in.
  const drivers = unordered.filter((d) => d.registry === 'blockDriver').sort(compareDrivers);
  const probes = compileProbeIndex(drivers, probeModulePath, loaded.config.probe);
  return emitTable(drivers, probes, emitOptions(loaded, loaded.config.out));
}

/** Every table's text: the block-driver table, then each configured registry's (by name). */
export function renderTables(loaded: LoadedConfig, drivers: readonly DriverInfo[]): RenderedTable[] {
  const tables = [{ registry: 'blockDriver', out: resolve(loaded.root, loaded.config.out), content: renderTable(loaded, drivers) }];
  for (const name of Object.keys(loaded.config.registries).sort()) {
    const registry = loaded.config.registries[name]!;
    const own = drivers.filter((d) => d.registry === name).sort(compareDrivers);
    // The runtime's own empty index: whatever shape the index has, an empty one is valid.
    const empty = compileProbeIndex([], probeModulePath).index;
    tables.push({ registry: name, out: resolve(loaded.root, registry.out), content: emitRegistryTable(name, own, empty, emitOptions(loaded, registry.out)) });
  }
  return tables;
}

/**
 * The tables, rendered again only when the drivers changed: a watcher's scanner remembers the
 * last drivers (as JSON, a few milliseconds for 1,000 drivers) and the tables made from them.
 */
const lastRender = new WeakMap<ProjectScanner, { key: string; tables: RenderedTable[] }>();

function rendered(loaded: LoadedConfig, drivers: readonly DriverInfo[], scanner: ProjectScanner | undefined): RenderedTable[] {
  if (!scanner) return renderTables(loaded, drivers);
  const key = JSON.stringify([loaded.config.probe, drivers]);
  const last = lastRender.get(scanner);
  if (last?.key === key) return last.tables;
  const tables = renderTables(loaded, drivers);
  lastRender.set(scanner, { key, tables });
  return tables;
}

/**
 * Writes a table when it changed, but never over a file gen-modules did not write: an `out` that
 * names a driver or another module by mistake would otherwise destroy it (an empty file is fine).
 */
function writeTable(out: string, content: string): WriteOutcome {
  const existing = readIfExists(out);
  if (existing === content) return 'unchanged';
  if (existing !== undefined && existing.trim() !== '' && !existing.replace(/^\uFEFF/, '').startsWith(GENERATED_BANNER)) {
    throw new WriteError(out, `it exists and was not generated by gen-modules (its first line is not "${GENERATED_BANNER}"); delete it, or point the config's 'out' at another file`);
  }
  writeAtomic(out, content);
  return 'written';
}

/**
 * --check: whether the table on disk is current. A missing one is stale; one that could not be
 * written either (its path a directory, a file in its path) fails as the write would, so the
 * advice is not "run gen-modules", which would then fail.
 */
function checkTable(out: string, content: string): 'unchanged' | 'stale' {
  let existing: string;
  try {
    existing = readFileSync(out, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'stale';
    throw new WriteError(out, fileErrorReason(error));
  }
  return existing === content ? 'unchanged' : 'stale';
}

export async function generateFromConfig(loaded: LoadedConfig, options: GenerateOptions = {}): Promise<GenerateResult> {
  const scanner = options.scanner ?? new ProjectScanner(loaded, { ...(options.onProgress ? { onProgress: options.onProgress } : {}), cache: options.cache ?? false });
  const result = await scanner.scan();
  const out = resolve(loaded.root, loaded.config.out);
  const base = { drivers: result.drivers, diagnostics: result.diagnostics, sources: result.sources, out, inputs: result.inputs, stats: result.stats };
  // Errors in the sources keep the last good output: a half-valid table would be worse than none.
  if (hasErrors(result.diagnostics)) {
    const outputs = [{ registry: 'blockDriver', out }, ...Object.keys(loaded.config.registries).sort().map((r) => ({ registry: r, out: resolve(loaded.root, loaded.config.registries[r]!.out) }))];
    return { ...base, outcome: 'skipped', outputs: outputs.map((o) => ({ ...o, outcome: 'skipped' as const })) };
  }
  // A scan-cache hit comes with its tables; a fresh clean scan is cached with them.
  const tables = result.tables ?? rendered(loaded, result.drivers, options.scanner);
  scanner.keepScan(tables, options.cacheWrite);
  const outputs: GeneratedOutput[] = tables.map((table) => ({
    ...table,
    outcome: options.check ? checkTable(table.out, table.content) : writeTable(table.out, table.content),
  }));
  const outcomes = new Set(outputs.map((o) => o.outcome));
  const outcome: Outcome = outcomes.has('stale') ? 'stale' : outcomes.has('written') ? 'written' : 'unchanged';
  return { ...base, content: outputs[0]!.content, outcome, outputs };
}
