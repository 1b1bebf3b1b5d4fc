// The TypeScript settings esbuild's transform needs to compile a module the way its tsconfig.json
// says (decorator mode, class fields, import elision), from the config that governs the module as
// TypeScript and Vite pick it: the tsconfig.json nearest the module, or, when that one is a
// "solution" config with project references (as Vite's own project templates have), the referenced
// config whose files include the module (one level, as Vite's tsconfck does; the solution config
// itself when none does).
//
// A config that is plain JSON without `extends` is read as it is; any other (comments, `extends`)
// through the compiler's own reader, loaded only then, as it is for a referenced config's file list:
// the compiler costs 0.2 s or more to load, which the plugin's import must not pay (it did, through
// a static import of ts-morph: 0.9 s before every Vite or rollup build on this project's machine).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { loadTypeScript } from '../src/scanner/typescript.js';

export interface TransformSettings {
  experimentalDecorators?: boolean;
  useDefineForClassFields?: boolean;
  verbatimModuleSyntax?: boolean;
}

interface ConfigInfo {
  settings: TransformSettings;
  /** Referenced configs' files (solution configs only). */
  references: string[];
}

/** A referenced config: its settings and the files it includes (absolute). */
interface ReferencedConfig {
  settings: TransformSettings;
  files: ReadonlySet<string>;
}

const KEYS = ['experimentalDecorators', 'useDefineForClassFields', 'verbatimModuleSyntax'] as const;

/** Nearest tsconfig.json per folder (null: none up to the root); what each nearest and each referenced config says. */
const configOfDir = new Map<string, string | null>();
const infoOfConfig = new Map<string, ConfigInfo>();
const referencedConfigs = new Map<string, ReferencedConfig>();

/** Forget what was read (a rebuild may follow an edit of a tsconfig.json). */
export function clearTransformSettings(): void {
  configOfDir.clear();
  infoOfConfig.clear();
  referencedConfigs.clear();
}

/** Settings of the config that governs `file` (absolute); {} when there is none or it cannot be read. */
export function transformSettings(file: string): TransformSettings {
  const nearest = nearestConfig(dirname(file));
  if (!nearest) return {};
  const info = configInfo(nearest);
  const path = resolve(file);
  for (const file of info.references) {
    const referenced = referencedConfig(file);
    if (referenced.files.has(path)) return referenced.settings;
  }
  return info.settings;
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
  if (!info) infoOfConfig.set(file, (info = readConfig(file)));
  return info;
}

function readConfig(file: string): ConfigInfo {
  const text = readText(file);
  if (text === undefined) return { settings: {}, references: [] };
  const plain = plainConfig(text);
  if (plain) return { settings: pick(plain.compilerOptions ?? {}), references: referencePaths(dirname(file), plain.references) };
  const parsed = parseWithCompiler(file, text, false);
  if (!parsed) return { settings: {}, references: [] };
  return { settings: pick(parsed.options as Record<string, unknown>), references: (parsed.projectReferences ?? []).map((r) => referenceFile(r.path)) };
}

/** A referenced config, read once by the compiler for both its settings and its file list. */
function referencedConfig(file: string): ReferencedConfig {
  let referenced = referencedConfigs.get(file);
  if (!referenced) {
    const text = readText(file);
    const parsed = text === undefined ? undefined : parseWithCompiler(file, text, true);
    referenced = parsed ? { settings: pick(parsed.options as Record<string, unknown>), files: new Set(parsed.fileNames.map((f) => resolve(f))) } : { settings: {}, files: new Set() };
    referencedConfigs.set(file, referenced);
  }
  return referenced;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The compiler's reading of a config (`extends` applied); with `listFiles`, also its files (a walk over `include`). */
function parseWithCompiler(file: string, text: string, listFiles: boolean) {
  const ts = loadTypeScript();
  const read = ts.readConfigFile(file, () => text);
  if (read.error) return undefined;
  // Without the file list, a host that lists no files spares the compiler the walk.
  const host = listFiles ? ts.sys : { ...ts.sys, readDirectory: () => [] };
  return ts.parseJsonConfigFileContent(read.config, host, dirname(file), undefined, file);
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

/** The config as JSON when it is plain JSON (no comments, no trailing commas) without `extends`. */
function plainConfig(text: string): { compilerOptions?: Record<string, unknown>; references?: unknown } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!value || typeof value !== 'object' || Array.isArray(value) || 'extends' in value) return undefined;
  const { compilerOptions, references } = value as { compilerOptions?: unknown; references?: unknown };
  if (compilerOptions !== undefined && (!compilerOptions || typeof compilerOptions !== 'object' || Array.isArray(compilerOptions))) return undefined;
  return { compilerOptions: compilerOptions as Record<string, unknown> | undefined, references };
}

function pick(options: Record<string, unknown>): TransformSettings {
  const settings: TransformSettings = {};
  for (const key of KEYS) if (typeof options[key] === 'boolean') settings[key] = options[key];
  return settings;
}
