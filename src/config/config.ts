// gen-modules.config.json / gen-modules.config.ts: finding, loading and validating the config.
// Paths in a config are relative to the config file. Everything here is validated at this
// boundary, so the scanner and generator can trust their options. A problem in a config is a
// ConfigError carrying GM9001 diagnostics with the place of each problem (the CLI exits 2).
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { diagnostics as d } from '../diagnostics/codes.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import { fileErrorReason } from '../file-error.js';
import type { DriverState } from '../model.js';
import { ProjectError } from '../project-error.js';
import { toPosixPath } from './posix-path.js';
import { locateInJson, locateInScript, toPosition, withoutBom, type ConfigPath } from './json-location.js';
import { checkConfig, type PackageConfig, type ProbeConfig, type RegistryConfig, type ResolvedConfig } from './validate-config.js';

export { KNOWN_KEYS, type PackageConfig, type RegistryConfig, type ResolvedConfig } from './validate-config.js';

/** What a config file contains (`defineConfig` gives it types in gen-modules.config.ts). */
export interface GenModulesConfig {
  $schema?: string;
  /** Glob patterns of driver source files, relative to the config file. */
  drivers: string[];
  /** The generated block-driver table, relative to the config file. */
  out: string;
  /**
   * Extension written in the generated `import()` specifiers: '.js' (TypeScript's NodeNext
   * spelling, resolved to .ts by esbuild, Vite and our rollup plugin) or '.ts'.
   */
  importExtension?: '.js' | '.ts';
  /** Per-driver build state, Kconfig style; drivers not listed get `defaultState`. */
  states?: Record<string, DriverState>;
  /** State of drivers not named in `states` (default `module`). */
  defaultState?: DriverState;
  /** Installed (or workspace) packages whose drivers join the table: names, or { name, drivers, rootDir, outDir }. */
  packages?: (string | PackageConfig)[];
  /** Other decorator kinds made with `createDriverDecorator(name, keys)`, each with its own table. */
  registries?: Record<string, Partial<Omit<RegistryConfig, 'out'>> & { out: string }>;
  /** tsconfig.json whose `paths` the scanner follows (default: the nearest one above the config). */
  tsconfig?: string;
  /** Globs never scanned (node_modules, *.d.ts and the generated files never are). */
  exclude?: string[];
  /**
   * The probe index: `order`, format drivers evaluated first (the rest follow by name; a tie goes
   * to the earlier), and `buffer`, how a file shorter than 512 bytes fills the probe buffer.
   */
  probe?: Partial<ProbeConfig>;
}

export interface LoadedConfig {
  /** Absolute path of the config file (or a synthetic one for inline options). */
  file: string;
  /** Absolute folder the config's paths are relative to. */
  root: string;
  config: ResolvedConfig;
  /**
   * The local files a TypeScript config imports (absolute paths): a change to one is a change to
   * the config. Absent for a JSON config.
   */
  imports?: string[];
}

/**
 * What a watcher of this config watches: the config file and the local files it imports, and the
 * static folder part of every driver glob (`src/drivers` of `src/drivers/**\/*.ts`).
 */
export function watchTargets(loaded: LoadedConfig): { configFiles: string[]; dirs: string[] } {
  const dirs = new Set<string>();
  const patterns = [...loaded.config.drivers, ...Object.values(loaded.config.registries).flatMap((r) => r.drivers)];
  for (const pattern of patterns) {
    const parts = pattern.split('/');
    const stop = parts.findIndex((p) => /[*?[\]{}()!]/.test(p));
    const fixed = stop === -1 ? parts.slice(0, -1) : parts.slice(0, stop);
    dirs.add(resolve(loaded.root, fixed.join('/') || '.'));
  }
  return { configFiles: [loaded.file, ...(loaded.imports ?? [])], dirs: [...dirs].sort() };
}

/** Identity with types, for `gen-modules.config.ts`. */
export function defineConfig(config: GenModulesConfig): GenModulesConfig {
  return config;
}

export const CONFIG_FILES = ['gen-modules.config.ts', 'gen-modules.config.mts', 'gen-modules.config.json'] as const;

/** A usage or config problem: the CLI exits 2, plugins fail the build with this message. */
export class ConfigError extends ProjectError {
  override readonly name = 'ConfigError';
  /** The problems as diagnostics (GM9001), with places when known. */
  readonly diagnostics: Diagnostic[];
  constructor(message: string, diagnostics: Diagnostic[] = []) {
    super(message);
    this.diagnostics = diagnostics;
  }
}

export function findConfigFile(cwd: string): string | undefined {
  for (const name of CONFIG_FILES) {
    const file = resolve(cwd, name);
    if (existsSync(file)) return file;
  }
  return undefined;
}

export async function loadConfig(file?: string, cwd = process.cwd()): Promise<LoadedConfig> {
  const path = file ? resolve(cwd, file) : findConfigFile(cwd);
  if (!path) throw new ConfigError(`no config file found in ${cwd} (looked for ${CONFIG_FILES.join(', ')})`);
  if (!existsSync(path)) throw new ConfigError(`config file ${file} does not exist`);
  const shown = displayName(path, cwd);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    // A directory, or a file this user may not read: said in one line, not as a crash.
    throw new ConfigError(`config file ${shown} cannot be read: ${fileErrorReason(error)}`);
  }
  if (path.endsWith('.json')) return { file: path, root: dirname(path), config: validateConfig(readJson(text, shown), shown, text) };
  const { value, imports } = await importScriptConfig(path, (abs) => displayName(abs, cwd), text);
  return { file: path, root: dirname(path), config: validateConfig(value, shown, text), imports };
}

/** Validates a config object; throws a ConfigError listing every problem. */
export function validateConfig(raw: unknown, file: string, text?: string): ResolvedConfig {
  const { config, problems } = checkConfig(raw);
  if (config) return config;
  const json = file.endsWith('.json');
  const list = problems.map((problem) => {
    const at = text === undefined ? undefined : locate(text, problem.path, json, problem.key ?? false);
    return d.config(file, problem.message, at?.line, at?.column);
  });
  throw configError(list.sort((a, b) => a.line - b.line || a.column - b.column));
}

/** An unknown key is shown at the key, a bad value at the value, a missing one at its parent. */
function locate(text: string, path: ConfigPath, json: boolean, key: boolean) {
  if (!json) return locateInScript(text, path);
  for (let end = path.length; end >= 0; end--) {
    const found = locateInJson(text, path.slice(0, end), key && end === path.length ? 'key' : 'value');
    if (found) return found;
  }
  return undefined;
}

function configError(list: Diagnostic[]): ConfigError {
  return new ConfigError(list.map((x) => `${x.file}:${x.line}:${x.column}: ${x.message}`).join('\n'), list);
}

function displayName(path: string, cwd: string): string {
  const rel = toPosixPath(relative(cwd, path));
  return rel && !rel.startsWith('../') ? rel : path;
}

function readJson(text: string, shown: string): unknown {
  try {
    // An editor's byte-order mark (Node and tsc accept one): read as the space it stands for, so
    // positions stay the file's.
    return JSON.parse(withoutBom(text));
  } catch (error) {
    // V8 says "... at position N" (Node 20) or "(line L column C)" (newer): turn it into a place.
    const message = (error as Error).message;
    const position = /position (\d+)/.exec(message);
    const lineColumn = /line (\d+) column (\d+)/.exec(message);
    const at = position ? toPosition(text, Number(position[1])) : lineColumn ? { line: Number(lineColumn[1]), column: Number(lineColumn[2]) } : undefined;
    throw configError([d.config(shown, `invalid JSON: ${message}`, at?.line, at?.column)]);
  }
}

/**
 * Loads a TypeScript config without a separate build step: esbuild bundles it (and what it
 * imports) into one ES module; `gen-modules` itself stays external so defineConfig is the real
 * one. Errors name the config's own file and line: esbuild's for syntax, source maps for throws.
 */
async function importScriptConfig(path: string, display: (absolute: string) => string, text: string): Promise<{ value: unknown; imports: string[] }> {
  const shown = display(path);
  const { build } = await import('esbuild');
  // A temporary folder beside the config, so that bare imports resolve from the project; esbuild
  // works from it, so the inline source map's paths lead back to the real config file.
  const dir = mkdtempSync(join(dirname(path), '.gen-modules-config-'));
  const temp = join(dir, 'config.mjs');
  let code: string;
  let imports: string[];
  try {
    const result = await build({
      absWorkingDir: dir,
      entryPoints: [path],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      packages: 'external',
      sourcemap: 'inline',
      logLevel: 'silent',
      metafile: true,
    });
    code = result.outputFiles[0]!.text;
    // Metafile paths are relative to the working directory (other namespaces aside); the config
    // itself may be named by its real path.
    const itself = new Set([path, realpathSync(path)]);
    imports = Object.keys(result.metafile.inputs)
      .filter((input) => !/^[\w-]+:/.test(input))
      .map((input) => resolve(dir, input))
      .filter((file) => !itself.has(file))
      .sort();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    const errors = (error as { errors?: { text: string; location?: { file: string; line: number; column: number } }[] }).errors ?? [];
    if (errors.length === 0) throw configError([d.config(shown, String(error))]);
    throw configError(
      errors.map((e) => {
        const file = e.location ? display(resolve(dir, e.location.file)) : shown;
        return d.config(file, e.text, e.location?.line, e.location ? e.location.column + 1 : undefined);
      }),
    );
  }
  const process_ = process as NodeJS.Process & { sourceMapsEnabled?: boolean };
  const mapsWere = process_.sourceMapsEnabled ?? false;
  process_.setSourceMapsEnabled(true);
  try {
    writeFileSync(temp, code);
    let mod: { default?: unknown };
    try {
      mod = (await import(`${pathToFileURL(temp).href}?t=${Date.now()}`)) as { default?: unknown };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const at = error instanceof Error ? frameIn(error.stack ?? '', path) : undefined;
      throw configError([d.config(shown, `the config threw while loading: ${message}`, at?.line, at?.column)]);
    }
    if (mod.default === undefined) {
      const at = /export\s+default/.exec(text);
      throw configError([d.config(shown, 'the config must have a default export: export default defineConfig({ ... })', at ? toPosition(text, at.index).line : 1)]);
    }
    return { value: mod.default, imports };
  } finally {
    process_.setSourceMapsEnabled(mapsWere);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The first stack frame in `file` (stack traces are source-mapped back to the config). */
function frameIn(stack: string, file: string): { line: number; column: number } | undefined {
  for (const match of stack.matchAll(/(?:\(|at )((?:file:\/\/)?[^()\s]+):(\d+):(\d+)\)?/g)) {
    const where = match[1]!.startsWith('file://') ? new URL(match[1]!).pathname : match[1]!;
    if (resolve(where) === file) return { line: Number(match[2]), column: Number(match[3]) };
  }
  return undefined;
}
