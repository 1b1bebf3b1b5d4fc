// What every bundler adapter needs before and around the build, knowing nothing of any bundler:
// options validation, config loading, regeneration at build start, driver/probe entry lists and
// diagnostics as bundler messages. The build manifest and the build id are build-manifest.ts; real
// paths (how bundlers name modules) are real-paths.ts.
import { existsSync } from 'node:fs';
import { posix, relative, resolve } from 'node:path';
import { closest } from '../src/config/closest.js';
import { ConfigError, loadConfig, type LoadedConfig } from '../src/config/config.js';
import { ProjectError } from '../src/project-error.js';
import { generateFromConfig, type GenerateResult } from '../src/codegen/generate.js';
import { scanCacheEnabled, scanCacheFile } from '../src/scanner/scan-cache.js';
import type { Diagnostic } from '../src/diagnostics/diagnostic.js';
import type { DriverInfo } from '../src/model.js';
import { packageSpecifier } from '../src/scanner/driver-packages.js';
import { probeModulePath, ProjectScanner } from '../src/scanner/scan.js';

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
  // A rebuild (an esbuild context, rollup or Vite watch) is not told what changed. The scan cache
  // knows, by the stamps of every input: a fresh scanner that reads it scans again only what
  // changed since the last scan (an esbuild context rebuild of the 200-driver bench app after one
  // driver edit: onStart 35 -> 8 ms, the rebuild +75-93 -> +40-52 ms). Without a cache file to
  // read (GEN_MODULES_CACHE=0, no node_modules folder, a cache that could not be written), the
  // previous scanner is told that everything may have changed.
  const sameConfig = (p: PreparedBuild) => p.loaded.file === loaded.file && JSON.stringify(p.loaded.config) === JSON.stringify(loaded.config);
  if (previous && sameConfig(previous) && !scanCacheReadable(loaded)) {
    scanner = previous.scanner;
    // Every input read again and every driver file parsed again.
    scanner.invalidate(
      previous.result.inputs.map((input) => resolve(loaded.root, input)),
      true,
    );
  } else {
    scanner = new ProjectScanner(loaded, { cache: scanCacheEnabled(), literalReader: true });
  }
  // The scan cache is written while the bundler builds: the build does not read it.
  const result = await generateFromConfig(loaded, { scanner, cacheWrite: 'soon' });
  return { loaded, result, lazyEntries: lazyEntries(loaded, result.drivers), scanner };
}

/** Whether a scan cache file is there to read (the cache is on and a scan wrote one). */
function scanCacheReadable(loaded: LoadedConfig): boolean {
  const file = scanCacheEnabled() ? scanCacheFile(loaded) : undefined;
  return file !== undefined && existsSync(file);
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

/** What rollup's and rolldown's `this.error()` take: a message and, when known, its place. */
export interface ProjectErrorLog {
  message: string;
  id?: string;
  loc?: { file: string; line: number; column: number };
  frame?: string;
}

/**
 * A ProjectError (no stack) about the driver sources, the laziness guard, the build options or the
 * output folder, with its place, for rollup's and rolldown's `this.error()` or to throw from
 * esbuild's setup. (Given a plain log, rollup and rolldown make the Error themselves, with a stack.)
 */
export function projectError(log: ProjectErrorLog): ProjectError {
  return Object.assign(new ProjectError(log.message), log);
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
