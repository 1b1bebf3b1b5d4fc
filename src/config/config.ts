// gen-modules.config.json / gen-modules.config.ts: finding, loading and validating the config.
// Paths in a config are relative to the config file. Everything here is validated at this
// boundary, so the scanner and generator can trust their options.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { DriverState } from '../model.js';
import { closest } from './closest.js';

export interface GenModulesConfig {
  /** Glob patterns of driver source files, relative to the config file. */
  drivers: string[];
  /** The generated table, relative to the config file. */
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
}

export interface LoadedConfig {
  /** Absolute path of the config file (or a synthetic one for inline options). */
  file: string;
  /** Absolute folder the config's paths are relative to. */
  root: string;
  config: Required<Pick<GenModulesConfig, 'drivers' | 'out' | 'importExtension' | 'states' | 'defaultState'>>;
}

/** Identity with types, for `gen-modules.config.ts`. */
export function defineConfig(config: GenModulesConfig): GenModulesConfig {
  return config;
}

export const CONFIG_FILES = ['gen-modules.config.ts', 'gen-modules.config.mts', 'gen-modules.config.json'] as const;

/** A usage or config problem: the CLI exits 2, plugins fail the build with this message. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
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
  const raw = path.endsWith('.json') ? readJson(path) : await importTsConfig(path);
  return { file: path, root: dirname(path), config: validateConfig(raw, path) };
}

function readJson(path: string): unknown {
  const text = readFileSync(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    // V8 says "... at position N" (Node 20) or "(line L column C)" (newer): turn it into a place.
    const message = (error as Error).message;
    const position = /position (\d+)/.exec(message);
    let where = '';
    if (position) {
      const before = text.slice(0, Number(position[1]));
      const line = before.split('\n').length;
      where = `:${line}:${before.length - before.lastIndexOf('\n')}`;
    }
    throw new ConfigError(`${path}${where}: invalid JSON: ${message}`);
  }
}

async function importTsConfig(path: string): Promise<unknown> {
  // Loads without a separate build step: esbuild bundles the config (and what it imports) to one
  // ES module in memory; `gen-modules` itself is left external so defineConfig is the real one.
  const { build } = await import('esbuild');
  let code: string;
  try {
    const result = await build({
      entryPoints: [path],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      packages: 'external',
      logLevel: 'silent',
    });
    code = result.outputFiles[0]!.text;
  } catch (error) {
    const first = (error as { errors?: { text: string; location?: { line: number; column: number } }[] }).errors?.[0];
    const where = first?.location ? `:${first.location.line}:${first.location.column + 1}` : '';
    throw new ConfigError(`${path}${where}: ${first?.text ?? String(error)}`);
  }
  const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  // A temporary file beside the config, so that bare imports resolve from the project.
  const dir = mkdtempSync(join(dirname(path), '.gen-modules-config-'));
  const temp = join(dir, 'config.mjs');
  try {
    writeFileSync(temp, code);
    const mod = (await import(`${pathToFileUrl(temp)}?t=${Date.now()}`)) as { default?: unknown };
    if (mod.default === undefined) throw new ConfigError(`${path}: the config must have a default export`);
    return mod.default;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function pathToFileUrl(path: string): string {
  return new URL(`file://${path.startsWith('/') ? '' : '/'}${path.replace(/\\/g, '/')}`).href;
}

const KNOWN_KEYS = ['drivers', 'out', 'importExtension', 'states', 'defaultState', '$schema'] as const;
const STATES: readonly DriverState[] = ['builtin', 'module', 'disabled'];

export function validateConfig(raw: unknown, file: string): LoadedConfig['config'] {
  const fail = (message: string): never => {
    throw new ConfigError(`${file}: ${message}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('the config must be an object');
  const record = raw as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!(KNOWN_KEYS as readonly string[]).includes(key)) {
      const guess = closest(key, KNOWN_KEYS);
      fail(`unknown option '${key}'${guess ? `; did you mean '${guess}'?` : ''}`);
    }
  }
  const drivers = record.drivers;
  if (typeof drivers === 'string') record.drivers = [drivers];
  else if (!Array.isArray(drivers) || drivers.length === 0 || drivers.some((d) => typeof d !== 'string' || d === '')) {
    fail(`'drivers' must be a non-empty array of glob patterns, e.g. ["src/drivers/**/*.ts"]`);
  }
  if (typeof record.out !== 'string' || !/\.(m?ts|tsx)$/.test(record.out)) {
    fail(`'out' must be the path of a TypeScript file to generate, e.g. "src/generated/drivers.gen.ts"`);
  }
  const importExtension = record.importExtension ?? '.js';
  if (importExtension !== '.js' && importExtension !== '.ts') fail(`'importExtension' must be ".js" or ".ts"`);
  const states = record.states ?? {};
  if (typeof states !== 'object' || states === null || Array.isArray(states)) fail(`'states' must be an object`);
  for (const [name, state] of Object.entries(states as Record<string, unknown>)) {
    if (!STATES.includes(state as DriverState)) {
      fail(`'states.${name}' must be one of ${STATES.map((s) => `"${s}"`).join(', ')}, got ${JSON.stringify(state)}`);
    }
  }
  const defaultState = record.defaultState ?? 'module';
  if (!STATES.includes(defaultState as DriverState)) fail(`'defaultState' must be one of ${STATES.map((s) => `"${s}"`).join(', ')}`);
  return {
    defaultState: defaultState as DriverState,
    drivers: record.drivers as string[],
    out: record.out as string,
    importExtension: importExtension as '.js' | '.ts',
    states: states as Record<string, DriverState>,
  };
}
