// What every bundler adapter needs, knowing nothing of any bundler: options validation, config
// loading, regeneration at build start, driver/probe entry lists and the build manifest model.
import { createHash } from 'node:crypto';
import { posix, resolve } from 'node:path';
import { closest } from '../src/config/closest.js';
import { ConfigError, loadConfig, type LoadedConfig } from '../src/config/config.js';
import { generateFromConfig, type GenerateResult } from '../src/codegen/generate.js';
import type { Diagnostic } from '../src/diagnostics/diagnostic.js';
import type { DriverInfo } from '../src/model.js';
import { probeModulePath } from '../src/scanner/scan.js';

export interface GenModulesPluginOptions {
  /** Config file (default: gen-modules.config.{ts,mts,json} in the bundler's working directory). */
  config?: string;
  /** Folder to look for the config in (default: the bundler's working directory). */
  cwd?: string;
  /** File name of the build manifest inside the output folder (default 'gen-modules-manifest.json'). */
  manifest?: string;
}

const OPTION_KEYS = ['config', 'cwd', 'manifest'] as const;

export function validatePluginOptions(options: unknown, bundler: string): GenModulesPluginOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ConfigError(`gen-modules/${bundler}: options must be an object`);
  }
  for (const [key, value] of Object.entries(options)) {
    if (!(OPTION_KEYS as readonly string[]).includes(key)) {
      const guess = closest(key, OPTION_KEYS);
      throw new ConfigError(`gen-modules/${bundler}: unknown option '${key}'${guess ? `; did you mean '${guess}'?` : ''}`);
    }
    if (value !== undefined && typeof value !== 'string') throw new ConfigError(`gen-modules/${bundler}: option '${key}' must be a string`);
  }
  return options as GenModulesPluginOptions;
}

/** One chunk the build must produce for laziness: a module driver or a probe module. */
export interface LazyEntry {
  kind: 'driver' | 'probe';
  /** Driver name, or probe module id. */
  name: string;
  /** Absolute source path. */
  file: string;
  /** Output name without hash and extension: 'drivers/qcow2', 'probes/vmdk-descriptor'. */
  out: string;
  /** For drivers: format or protocol. */
  driverKind?: 'format' | 'protocol';
}

export interface PreparedBuild {
  loaded: LoadedConfig;
  result: GenerateResult;
  lazyEntries: LazyEntry[];
}

/** Load the config and regenerate the table (written only when its content changed). */
export async function prepareBuild(options: GenModulesPluginOptions, cwd: string): Promise<PreparedBuild> {
  const loaded = await loadConfig(options.config, options.cwd ?? cwd);
  const result = await generateFromConfig(loaded);
  return { loaded, result, lazyEntries: lazyEntries(loaded, result.drivers) };
}

export function lazyEntries(loaded: LoadedConfig, drivers: readonly DriverInfo[]): LazyEntry[] {
  const entries: LazyEntry[] = [];
  const probeIds = new Set<string>();
  for (const driver of drivers) {
    if (driver.state === 'module') {
      entries.push({ kind: 'driver', name: driver.name, file: resolve(loaded.root, driver.file), out: `drivers/${driver.name}`, driverKind: driver.kind });
    }
    if (driver.state === 'disabled') continue;
    for (const probe of driver.probes) {
      if (probe.module === undefined) continue;
      const id = probeModulePath(driver, probe.module);
      if (probeIds.has(id)) continue;
      probeIds.add(id);
      const base = posix.basename(id).replace(/\.(m?)tsx?$|\.m?js$/, '');
      entries.push({ kind: 'probe', name: id, file: resolve(loaded.root, id), out: `probes/${base}` });
    }
  }
  return entries;
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

// ---------------------------------------------------------------------------------------------
// Build manifest: which chunk each driver lives in and which shared chunks it needs, so the
// runtime can fetch them all at once and a report can show what each driver costs.
// ---------------------------------------------------------------------------------------------

export interface ManifestChunk {
  /** Path relative to the output folder, forward slashes. */
  file: string;
  bytes: number;
  /** SRI value, `sha384-...`. */
  integrity: string;
}

export interface ManifestDriver {
  kind: 'format' | 'protocol';
  state: 'builtin' | 'module';
  /** The driver's own chunk (absent for builtins, which live in the entry chunk). */
  chunk?: string;
  /** Shared chunks the driver's chunk imports statically (transitively), not already loaded by the entry. */
  imports: string[];
}

export interface BuildManifest {
  /** Hash of every chunk's content: two builds with equal ids are the same build. */
  buildId: string;
  bundler: string;
  /** Entry chunks (the application's own entry points). */
  entries: string[];
  /** Chunks the entries load statically. */
  entryImports: string[];
  drivers: Record<string, ManifestDriver>;
  probes: Record<string, { chunk: string; imports: string[] }>;
  chunks: Record<string, ManifestChunk>;
}

export function integrityOf(bytes: Uint8Array): string {
  return `sha384-${createHash('sha384').update(bytes).digest('base64')}`;
}

/** Build id: a hash over the sorted chunk names and their integrity values. */
export function buildIdOf(chunks: Record<string, ManifestChunk>): string {
  const hash = createHash('sha256');
  for (const name of Object.keys(chunks).sort()) hash.update(`${name}\0${chunks[name]!.integrity}\n`);
  return hash.digest('hex').slice(0, 16);
}

/** Serialise with sorted keys, so equal manifests are equal bytes. */
export function stringifyManifest(manifest: BuildManifest): string {
  return `${JSON.stringify(sortKeys(manifest), null, 2)}\n`;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** Transitive static imports of `start` in an import graph, excluding `start` itself. */
export function staticClosure(start: string, edges: (file: string) => readonly string[]): string[] {
  const seen = new Set<string>();
  const stack = [...edges(start)];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next) || next === start) continue;
    seen.add(next);
    stack.push(...edges(next));
  }
  return [...seen].sort();
}
