// tsconfig `paths` (and `baseUrl`), as TypeScript applies them: the nearest tsconfig.json above the
// config (or the one the config names), its `extends` chain merged, `paths` relative to `baseUrl`
// when set, else to the tsconfig that declares them; the longest matching prefix wins.
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { isRecord } from '../runtime/manifest.js';
import type { ScanFileSystem } from './file-system.js';
import { loadTypeScript } from './typescript.js';

export interface PathMapping {
  /** The part before '*' (the whole pattern when there is no '*'). */
  prefix: string;
  suffix: string;
  wildcard: boolean;
  /** Absolute target patterns, each with at most one '*'. */
  targets: string[];
}

export interface PathsConfig {
  /** Every tsconfig file read (the extends chain): inputs of the generation. */
  files: string[];
  /** Longest prefix first. */
  mappings: PathMapping[];
  baseUrl?: string;
  problem?: { file: string; message: string; line: number; column: number };
}

export const NO_PATHS: PathsConfig = { files: [], mappings: [] };

interface RawOptions {
  paths?: Record<string, unknown>;
  baseUrl?: string;
}

type Problem = NonNullable<PathsConfig['problem']>;

interface Effective {
  paths?: { paths: Record<string, unknown>; dir: string };
  baseUrl?: string;
}

export function readPathsConfig(root: string, fs: ScanFileSystem, explicit?: string): PathsConfig {
  const file = explicit ? resolve(root, explicit) : findUp(root, fs);
  if (!file) return NO_PATHS;
  const files: string[] = [];
  const loaded = loadChain(file, fs, files, []);
  if ('problem' in loaded) return { files, mappings: [], problem: loaded.problem };
  const mappings: PathMapping[] = [];
  if (loaded.paths) {
    const base = loaded.baseUrl ?? loaded.paths.dir;
    for (const [pattern, targets] of Object.entries(loaded.paths.paths)) {
      if (!Array.isArray(targets)) continue;
      const star = pattern.indexOf('*');
      mappings.push({
        prefix: star < 0 ? pattern : pattern.slice(0, star),
        suffix: star < 0 ? '' : pattern.slice(star + 1),
        wildcard: star >= 0,
        targets: targets.filter((t): t is string => typeof t === 'string').map((t) => (isAbsolute(t) ? t : join(base, t))),
      });
    }
    mappings.sort((a, b) => b.prefix.length - a.prefix.length);
  }
  return { files: [...new Set(files)], mappings, ...(loaded.baseUrl ? { baseUrl: loaded.baseUrl } : {}) };
}

/** The options of `file` merged over its bases (later `extends` entries override earlier ones). */
function loadChain(file: string, fs: ScanFileSystem, files: string[], stack: string[]): Effective | { problem: Problem } {
  if (stack.includes(file)) return { problem: { file, message: `tsconfig 'extends' cycle: ${[...stack, file].join(' -> ')}`, line: 1, column: 1 } };
  files.push(file);
  const parsed = parseTsconfig(file, fs);
  if ('problem' in parsed) return parsed;
  let merged: Effective = {};
  for (const spec of parsed.extends) {
    const base = resolveExtends(spec, dirname(file), fs);
    if (base === undefined) return { problem: { file, message: `cannot find the tsconfig '${spec}' that ${file} extends`, line: 1, column: 1 } };
    const inherited = loadChain(base, fs, files, [...stack, file]);
    if ('problem' in inherited) return inherited;
    merged = { ...merged, ...inherited };
  }
  const own = parsed.options;
  if (own.paths && typeof own.paths === 'object') merged.paths = { paths: own.paths, dir: dirname(file) };
  if (typeof own.baseUrl === 'string') merged.baseUrl = resolve(dirname(file), own.baseUrl);
  return merged;
}

/** The candidates a specifier maps to, in order; empty when no pattern matches. */
export function mapSpecifier(paths: PathsConfig, specifier: string): string[] {
  for (const mapping of paths.mappings) {
    if (!mapping.wildcard) {
      if (specifier === mapping.prefix) return mapping.targets;
      continue;
    }
    if (specifier.length >= mapping.prefix.length + mapping.suffix.length && specifier.startsWith(mapping.prefix) && specifier.endsWith(mapping.suffix)) {
      const star = specifier.slice(mapping.prefix.length, specifier.length - mapping.suffix.length);
      return mapping.targets.map((t) => t.replace('*', star));
    }
  }
  return [];
}

function findUp(start: string, fs: ScanFileSystem): string | undefined {
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, 'tsconfig.json');
    if (fs.isFile(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

function parseTsconfig(file: string, fs: ScanFileSystem): { options: RawOptions; extends: string[] } | { problem: Problem } {
  let text: string;
  try {
    text = fs.readText(file);
  } catch (error) {
    return { problem: { file, message: `cannot read ${file}: ${(error as Error).message}`, line: 1, column: 1 } };
  }
  // tsconfig is JSON with comments and trailing commas. Read without the compiler (60-150 ms of a
  // fresh process to load) when it parses cleanly; anything else goes to TypeScript's own reader,
  // whose message and place a broken file is reported with.
  let config = jsonObject(text) as { compilerOptions?: RawOptions; extends?: unknown } | undefined;
  if (!config) {
    const ts = loadTypeScript();
    const result = ts.parseConfigFileTextToJson(file, text);
    if (result.error) {
      const start = result.error.start ?? 0;
      const pos = result.error.file ? result.error.file.getLineAndCharacterOfPosition(start) : { line: 0, character: 0 };
      return { problem: { file, message: `invalid tsconfig: ${ts.flattenDiagnosticMessageText(result.error.messageText, ' ').replace(/\.$/, '')}`, line: pos.line + 1, column: pos.character + 1 } };
    }
    config = (result.config ?? {}) as { compilerOptions?: RawOptions; extends?: unknown };
  }
  const ext = config.extends;
  // TypeScript 5 accepts a list; later entries override earlier ones.
  const bases = typeof ext === 'string' ? [ext] : Array.isArray(ext) ? ext.filter((e): e is string => typeof e === 'string') : [];
  return { options: config.compilerOptions ?? {}, extends: bases };
}

/**
 * The text's object when it is one, as JSON or as JSON with comments and trailing commas (Microsoft's
 * jsonc-parser, VS Code's; loaded only for such a file); undefined for anything else.
 */
function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : undefined;
  } catch {
    // Comments or trailing commas, or broken.
  }
  jsonc ??= createRequire(import.meta.url)('jsonc-parser') as typeof import('jsonc-parser');
  const errors: import('jsonc-parser').ParseError[] = [];
  const value: unknown = jsonc.parse(text, errors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false });
  return errors.length === 0 && isRecord(value) ? value : undefined;
}

let jsonc: typeof import('jsonc-parser') | undefined;

function resolveExtends(spec: string, dir: string, fs: ScanFileSystem): string | undefined {
  if (spec.startsWith('.') || isAbsolute(spec)) {
    const path = resolve(dir, spec);
    if (fs.isFile(path)) return path;
    if (!path.endsWith('.json') && fs.isFile(`${path}.json`)) return `${path}.json`;
    return undefined;
  }
  for (let d = dir; ; d = dirname(d)) {
    const base = join(d, 'node_modules', spec);
    for (const candidate of [base, `${base}.json`, join(base, 'tsconfig.json')]) {
      if (fs.isFile(candidate)) return candidate;
    }
    if (dirname(d) === d) return undefined;
  }
}
