// Validation of a config object at the boundary: every problem is collected (not just the first),
// each names the key it is about and, when the text is known, where that key is.
import { posix } from 'node:path';
import { NAME_PATTERN, NAME_PATTERN_TEXT, type DriverState } from '../model.js';
import { isRecord } from '../runtime/manifest.js';
import type { ProbeBufferMode } from '../runtime/probe.js';
import { closest } from './closest.js';
import type { ConfigPath } from './json-location.js';

export interface PackageConfig {
  /** Package name as installed, e.g. '@acme/qemu-drivers'. */
  name: string;
  /** Driver globs inside the package (default: its package.json `gen-modules.drivers`). */
  drivers?: string[];
  /** With `outDir`: generated imports map files under rootDir to outDir (`src/x.ts` -> `dist/x.js`). */
  rootDir?: string;
  outDir?: string;
}

export interface RegistryConfig {
  /** The generated table of this registry. */
  out: string;
  /** Option keys that name a driver (default: the keys given to createDriverDecorator). */
  keys?: string[];
  /** Driver globs for this registry (default: the top-level `drivers`). */
  drivers: string[];
  /** When given, the only option keys a declaration may use (others are reported with a suggestion). */
  options?: string[];
  states: Record<string, DriverState>;
  defaultState: DriverState;
}

/** A validated config with every default filled in. */
export interface ResolvedConfig {
  drivers: string[];
  out: string;
  importExtension: '.js' | '.ts';
  states: Record<string, DriverState>;
  defaultState: DriverState;
  packages: PackageConfig[];
  registries: Record<string, RegistryConfig>;
  /** tsconfig.json whose `paths` resolve imports (default: the nearest one above the config). */
  tsconfig?: string;
  /** Globs never scanned. */
  exclude: string[];
  probe: ProbeConfig;
}

/** How the probe index decides between formats. */
export interface ProbeConfig {
  /**
   * Format drivers evaluated first, in this order (the rest follow by name): ties go to the
   * earlier one, as QEMU's go to the driver registered earlier.
   */
  order: string[];
  /** How a file shorter than the 512-byte probe buffer fills it (QEMU 7.1 and later: 'padded'). */
  buffer: ProbeBufferMode;
}

export interface ConfigProblem {
  path: ConfigPath;
  message: string;
  /** The problem is the key itself (unknown), not its value. */
  key?: boolean;
}

export const KNOWN_KEYS = [
  '$schema',
  'drivers',
  'out',
  'importExtension',
  'states',
  'defaultState',
  'packages',
  'registries',
  'tsconfig',
  'exclude',
  'probe',
] as const;
const REGISTRY_KEYS = ['out', 'keys', 'drivers', 'options', 'states', 'defaultState'] as const;
const PACKAGE_KEYS = ['name', 'drivers', 'rootDir', 'outDir'] as const;
const PROBE_KEYS = ['order', 'buffer'] as const;
const BUFFER_MODES: readonly ProbeBufferMode[] = ['padded', 'exact'];
export const STATES: readonly DriverState[] = ['builtin', 'module', 'disabled'];
/** Registry names become exported identifiers' prefixes and object keys. */
export const REGISTRY_NAME = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/;
/** npm's package name rules, without the legacy upper-case names. */
const PACKAGE_NAME = /^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;
const STATE_LIST = STATES.map((s) => `"${s}"`).join(', ');

/** Returns the normalised config, or the list of every problem found. */
export function checkConfig(raw: unknown): { config: ResolvedConfig; problems: [] } | { config?: undefined; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const problem: Report = (path, message, key) => problems.push({ path, message, ...(key ? { key } : {}) });
  if (!isRecord(raw)) return { problems: [{ path: [], message: 'the config must be an object' }] };

  unknownKeys(raw, KNOWN_KEYS, [], problem);
  const packages = checkPackages(raw.packages, problem);
  const drivers = globList(raw.drivers, ['drivers'], problem, packages.length > 0);
  const out = outFile(raw.out, ['out'], problem);
  const importExtension = raw.importExtension ?? '.js';
  if (importExtension !== '.js' && importExtension !== '.ts') {
    problem(['importExtension'], `'importExtension' must be ".js" or ".ts", got ${show(importExtension)}`);
  }
  const states = stateMap(raw.states, ['states'], problem);
  const defaultState = state(raw.defaultState, ['defaultState'], problem);
  let tsconfig: string | undefined;
  if (raw.tsconfig !== undefined) {
    if (typeof raw.tsconfig !== 'string' || raw.tsconfig === '') problem(['tsconfig'], `'tsconfig' must be the path of a tsconfig.json, got ${show(raw.tsconfig)}`);
    else tsconfig = raw.tsconfig;
  }
  const exclude = raw.exclude === undefined ? [] : globList(raw.exclude, ['exclude'], problem, true);
  const registries = checkRegistries(raw.registries, drivers, out, problem);
  const probe = checkProbe(raw.probe, problem);

  if (problems.length > 0) return { problems };
  return {
    config: { drivers, out, importExtension: importExtension as '.js' | '.ts', states, defaultState, packages, registries, ...(tsconfig ? { tsconfig } : {}), exclude, probe },
    problems: [],
  };
}

type Report = (path: ConfigPath, message: string, key?: boolean) => void;

/** `packages[1].drivers`: how a path reads in a message. */
export function keyName(path: ConfigPath): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function unknownKeys(record: Record<string, unknown>, known: readonly string[], at: ConfigPath, problem: Report): void {
  for (const key of Object.keys(record)) {
    if (known.includes(key)) continue;
    const guess = closest(key, known);
    const where = at.length > 0 ? ` in '${keyName(at)}'` : '';
    problem([...at, key], `unknown option '${key}'${where}${guess ? `; did you mean '${guess}'?` : ` (known: ${known.filter((k) => k !== '$schema').join(', ')})`}`, true);
  }
}

function globList(value: unknown, path: ConfigPath, problem: Report, mayBeEmpty: boolean): string[] {
  const name = keyName(path);
  if (typeof value === 'string' && value !== '') return [value];
  if (value === undefined && mayBeEmpty) return [];
  if (!Array.isArray(value) || (!mayBeEmpty && value.length === 0)) {
    problem(path, `'${name}' must be a non-empty array of glob patterns, e.g. ["src/drivers/**/*.ts"], got ${show(value)}`);
    return [];
  }
  value.forEach((item, i) => {
    if (typeof item !== 'string' || item === '') problem([...path, i], `'${name}[${i}]' must be a non-empty glob pattern, got ${show(item)}`);
  });
  return value.filter((item): item is string => typeof item === 'string');
}

function outFile(value: unknown, path: ConfigPath, problem: Report): string {
  if (typeof value !== 'string' || !/\.(m?ts|tsx)$/.test(value)) {
    problem(path, `'${keyName(path)}' must be the path of a TypeScript file to generate, e.g. "src/generated/drivers.gen.ts", got ${show(value)}`);
    return '';
  }
  return value;
}

function state(value: unknown, path: ConfigPath, problem: Report): DriverState {
  if (value === undefined) return 'module';
  if (!STATES.includes(value as DriverState)) {
    problem(path, `'${keyName(path)}' must be one of ${STATE_LIST}, got ${show(value)}`);
    return 'module';
  }
  return value as DriverState;
}

/**
 * A record keyed by names from the user (drivers' states, registries): without a prototype, so a
 * driver or registry named `constructor`, `toString` or `__proto__` is an ordinary key, and a
 * lookup of a name the config does not have finds nothing rather than Object.prototype's member.
 */
function byName<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function stateMap(value: unknown, path: ConfigPath, problem: Report): Record<string, DriverState> {
  if (value === undefined) return byName();
  if (!isRecord(value)) {
    problem(path, `'${keyName(path)}' must be an object such as { "qcow2": "builtin" }, got ${show(value)}`);
    return byName();
  }
  const out: Record<string, DriverState> = byName();
  for (const [name, s] of Object.entries(value)) {
    if (!STATES.includes(s as DriverState)) {
      const guess = typeof s === 'string' ? closest(s, STATES) : undefined;
      problem([...path, name], `'${keyName(path)}.${name}' must be one of ${STATE_LIST}, got ${show(s)}${guess ? `; did you mean "${guess}"?` : ''}`);
    } else out[name] = s as DriverState;
  }
  return out;
}

function checkProbe(value: unknown, problem: Report): ProbeConfig {
  const probe: ProbeConfig = { order: [], buffer: 'padded' };
  if (value === undefined) return probe;
  if (!isRecord(value)) {
    problem(['probe'], `'probe' must be an object such as { "order": ["vdi"], "buffer": "padded" }, got ${show(value)}`);
    return probe;
  }
  unknownKeys(value, PROBE_KEYS, ['probe'], problem);
  if (value.buffer !== undefined) {
    if (BUFFER_MODES.includes(value.buffer as ProbeBufferMode)) probe.buffer = value.buffer as ProbeBufferMode;
    else problem(['probe', 'buffer'], `'probe.buffer' must be "padded" or "exact", got ${show(value.buffer)}`);
  }
  if (value.order !== undefined) {
    if (!Array.isArray(value.order)) {
      problem(['probe', 'order'], `'probe.order' must be a list of format driver names, e.g. ["vdi", "qcow2"], got ${show(value.order)}`);
      return probe;
    }
    const seen = new Set<string>();
    value.order.forEach((name, i) => {
      if (typeof name !== 'string' || !NAME_PATTERN.test(name)) problem(['probe', 'order', i], `'probe.order[${i}]' must be a driver name matching ${NAME_PATTERN_TEXT}, got ${show(name)}`);
      else if (seen.has(name)) problem(['probe', 'order', i], `'probe.order[${i}]': '${name}' is listed twice`);
      else {
        seen.add(name);
        probe.order.push(name);
      }
    });
  }
  return probe;
}

function checkPackages(value: unknown, problem: Report): PackageConfig[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    problem(['packages'], `'packages' must be a list of installed package names, e.g. ["@acme/qemu-drivers"], got ${show(value)}`);
    return [];
  }
  const out: PackageConfig[] = [];
  value.forEach((item, i) => {
    const path = ['packages', i];
    const entry: unknown = typeof item === 'string' ? { name: item } : item;
    if (!isRecord(entry)) {
      problem(path, `'packages[${i}]' must be a package name or { "name": ..., "drivers": [...] }, got ${show(item)}`);
      return;
    }
    unknownKeys(entry, PACKAGE_KEYS, path, problem);
    if (typeof entry.name !== 'string' || !PACKAGE_NAME.test(entry.name)) {
      problem(typeof item === 'string' ? path : [...path, 'name'], `'packages[${i}]' must name an npm package, got ${show(entry.name)}`);
      return;
    }
    const pkg: PackageConfig = { name: entry.name };
    if (entry.drivers !== undefined) pkg.drivers = globList(entry.drivers, [...path, 'drivers'], problem, false);
    for (const key of ['rootDir', 'outDir'] as const) {
      const dir = entry[key];
      if (dir === undefined) continue;
      if (typeof dir !== 'string' || dir === '' || dir.startsWith('/') || dir.split(/[\\/]/).includes('..')) {
        problem([...path, key], `'packages[${i}].${key}' must be a folder inside the package, got ${show(dir)}`);
      } else pkg[key] = dir.replace(/\\/g, '/').replace(/\/+$/, '');
    }
    if ((pkg.rootDir === undefined) !== (pkg.outDir === undefined)) {
      problem(path, `'packages[${i}]' needs both 'rootDir' and 'outDir' (or neither)`);
    }
    if (out.some((p) => p.name === pkg.name)) problem(path, `'packages[${i}]': package '${pkg.name}' is listed twice`);
    out.push(pkg);
  });
  return out;
}

function checkRegistries(value: unknown, drivers: string[], mainOut: string, problem: Report): Record<string, RegistryConfig> {
  if (value === undefined) return byName();
  if (!isRecord(value)) {
    problem(['registries'], `'registries' must be an object such as { "charDriver": { "keys": ["name"], "out": "src/generated/chardev.gen.ts" } }, got ${show(value)}`);
    return byName();
  }
  // By the normalised path: "./src/x.gen.ts" and "src/x.gen.ts" are one file.
  const sameFile = (out: string) => posix.normalize(out.replace(/\\/g, '/'));
  const outs = new Map<string, string>([[sameFile(mainOut), 'out']]);
  const registries: Record<string, RegistryConfig> = byName();
  for (const [name, raw] of Object.entries(value)) {
    const path = ['registries', name];
    if (!REGISTRY_NAME.test(name) || name === 'blockDriver') {
      problem(path, `registry name '${name}' must be an identifier other than 'blockDriver' (the decorator's registry name)`, true);
      continue;
    }
    if (!isRecord(raw)) {
      problem(path, `'registries.${name}' must be an object { "out": ..., "keys"?: [...] }, got ${show(raw)}`);
      continue;
    }
    unknownKeys(raw, REGISTRY_KEYS, path, problem);
    const out = outFile(raw.out, [...path, 'out'], problem);
    const other = outs.get(sameFile(out));
    if (out && other) problem([...path, 'out'], `'registries.${name}.out' is the same file as '${other}'; each registry needs its own table`);
    outs.set(sameFile(out), `registries.${name}.out`);
    const registry: RegistryConfig = {
      out,
      drivers: raw.drivers === undefined ? drivers : globList(raw.drivers, [...path, 'drivers'], problem, false),
      states: stateMap(raw.states, [...path, 'states'], problem),
      defaultState: state(raw.defaultState, [...path, 'defaultState'], problem),
    };
    for (const key of ['keys', 'options'] as const) {
      const list = raw[key];
      if (list === undefined) continue;
      if (!Array.isArray(list) || list.length === 0 || list.some((k) => typeof k !== 'string' || !/^[A-Za-z_$][\w$]*$/.test(k))) {
        problem([...path, key], `'registries.${name}.${key}' must be a non-empty list of option names, e.g. ["name"], got ${show(list)}`);
      } else registry[key] = list as string[];
    }
    if (registry.keys && registry.options) {
      const missing = registry.keys.filter((k) => !registry.options!.includes(k));
      if (missing.length > 0) problem([...path, 'options'], `'registries.${name}.options' must include the key option${missing.length > 1 ? 's' : ''} ${missing.map((k) => `'${k}'`).join(', ')}`);
    }
    registries[name] = registry;
  }
  return registries;
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}
