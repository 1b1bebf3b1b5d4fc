// The TypeScript settings esbuild's transform needs to compile a module the way its tsconfig.json
// says (decorator mode, class fields, import elision), from the config that governs the module as
// TypeScript and Vite pick it: the tsconfig.json nearest the module, or, when that one is a
// "solution" config with project references (as Vite's own project templates have), the referenced
// config whose files include the module (one level, as Vite's tsconfck does; the solution config
// itself when none does).
//
// Configs are read with get-tsconfig (comments, trailing commas, `extends` of files and packages,
// the options a `target` implies, `include`/`exclude`/`files` matching), not with the compiler:
// loading TypeScript costs 0.2 s or more, which a Vite or rollup build whose tsconfig.json has a
// comment or an `extends` (most real ones) paid once per process while the compiler read it.
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createFilesMatcher, parseTsconfig, type TsConfigJsonResolved } from 'get-tsconfig';

export interface TransformSettings {
  experimentalDecorators?: boolean;
  useDefineForClassFields?: boolean;
  verbatimModuleSyntax?: boolean;
  /** Only for the class-field semantics it implies when useDefineForClassFields is not set (esbuild derives it as TypeScript does). */
  target?: string;
  /** How a .tsx module's JSX compiles (rollup has no compiler of its own). */
  jsx?: string;
  jsxFactory?: string;
  jsxFragmentFactory?: string;
  jsxImportSource?: string;
}

interface ConfigInfo {
  settings: TransformSettings;
  /** Referenced configs' files (solution configs only). */
  references: string[];
}

/** A referenced config: its settings and whether it includes a file (absolute path). */
interface ReferencedConfig {
  settings: TransformSettings;
  includes: (file: string) => boolean;
}

const KEYS = ['experimentalDecorators', 'useDefineForClassFields', 'verbatimModuleSyntax'] as const;
/** The JSX options (TypeScript's names, which esbuild's tsconfigRaw takes as they are). */
export const JSX_KEYS = ['jsx', 'jsxFactory', 'jsxFragmentFactory', 'jsxImportSource'] as const;

/** Nearest tsconfig.json per folder (null: none up to the root); what each nearest and each referenced config says. */
const configOfDir = new Map<string, string | null>();
const infoOfConfig = new Map<string, ConfigInfo>();
const referencedConfigs = new Map<string, ReferencedConfig>();
/** get-tsconfig's cache of read and parsed files (a base config is shared by several). */
const parseCache = new Map<string, string>();

/** Forget what was read (a rebuild may follow an edit of a tsconfig.json). */
export function clearTransformSettings(): void {
  configOfDir.clear();
  infoOfConfig.clear();
  referencedConfigs.clear();
  parseCache.clear();
}

/** Settings of the config that governs `file` (absolute); {} when there is none or it cannot be read. */
export function transformSettings(file: string): TransformSettings {
  const nearest = nearestConfig(dirname(file));
  if (!nearest) return {};
  const info = configInfo(nearest);
  const path = resolve(file);
  for (const config of info.references) {
    const referenced = referencedConfig(config);
    if (referenced.includes(path)) return referenced.settings;
  }
  return info.settings;
}

/**
 * Settings shared by every module directly in `dir` (absolute), or undefined when they may differ
 * from module to module (the governing config is a solution config: a referenced config's
 * `include` decides per file).
 */
export function folderTransformSettings(dir: string): TransformSettings | undefined {
  const nearest = nearestConfig(dir);
  if (!nearest) return {};
  const info = configInfo(nearest);
  return info.references.length > 0 ? undefined : info.settings;
}

function nearestConfig(dir: string): string | undefined {
  const visited: string[] = [];
  let found: string | null | undefined;
  for (let current = dir; ; ) {
    found = configOfDir.get(current);
    if (found !== undefined) break;
    visited.push(current);
    const candidate = join(current, 'tsconfig.json');
    if (existsSync(candidate)) {
      found = candidate;
      break;
    }
    const parent = dirname(current);
    if (parent === current) {
      found = null;
      break;
    }
    current = parent;
  }
  for (const d of visited) configOfDir.set(d, found);
  return found ?? undefined;
}

function configInfo(file: string): ConfigInfo {
  let info = infoOfConfig.get(file);
  if (!info) {
    const config = parse(file);
    info = { settings: pick(config?.compilerOptions), references: referencePaths(dirname(file), config?.references) };
    infoOfConfig.set(file, info);
  }
  return info;
}

function referencedConfig(file: string): ReferencedConfig {
  let referenced = referencedConfigs.get(file);
  if (!referenced) {
    const config = parse(file);
    const matcher = config ? createFilesMatcher({ config, path: file }) : undefined;
    referenced = { settings: pick(config?.compilerOptions), includes: (path) => matcher?.(path) !== undefined };
    referencedConfigs.set(file, referenced);
  }
  return referenced;
}

/** The config with its `extends` applied; undefined when it cannot be read (its settings are then none). */
function parse(file: string): TsConfigJsonResolved | undefined {
  try {
    return parseTsconfig(file, parseCache);
  } catch {
    return undefined;
  }
}

/** A reference's path names a config file or a folder holding tsconfig.json. */
function referenceFile(path: string): string {
  try {
    if (statSync(path).isDirectory()) return join(path, 'tsconfig.json');
  } catch {
    // Missing: the path as given (it includes nothing).
  }
  return path;
}

function referencePaths(dir: string, references: unknown): string[] {
  if (!Array.isArray(references)) return [];
  return references.flatMap((r: unknown) => (r && typeof r === 'object' && typeof (r as { path?: unknown }).path === 'string' ? [referenceFile(resolve(dir, (r as { path: string }).path))] : []));
}

function pick(options: object | undefined): TransformSettings {
  const settings: TransformSettings = {};
  const record = (options ?? {}) as Record<string, unknown>;
  for (const key of KEYS) if (typeof record[key] === 'boolean') settings[key] = record[key];
  for (const key of JSX_KEYS) if (typeof record[key] === 'string') settings[key] = record[key];
  if (typeof record.target === 'string') settings.target = record.target;
  return settings;
}
