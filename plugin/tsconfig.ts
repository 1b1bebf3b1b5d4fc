// The TypeScript settings esbuild's transform needs to compile a module the way its tsconfig.json
// says (decorator mode, class fields, import elision), from the tsconfig.json nearest the module,
// the one TypeScript and Vite pick for it. A config that is plain JSON without `extends` is read as
// it is; any other (comments, `extends`) through the compiler's own reader, loaded only then: the
// compiler costs 0.2 s or more to load, which the plugin's import must not pay (it did, through a
// static import of ts-morph: 0.7 s before every Vite or rollup build on this project's machine).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadTypeScript } from '../src/scanner/typescript.js';

export interface TransformSettings {
  experimentalDecorators?: boolean;
  useDefineForClassFields?: boolean;
  verbatimModuleSyntax?: boolean;
  /**
   * The config lists project references (a "solution" config): TypeScript and Vite then take a
   * file's settings from the referenced project that holds it, not from this config.
   */
  references?: boolean;
}

const KEYS = ['experimentalDecorators', 'useDefineForClassFields', 'verbatimModuleSyntax'] as const;

/** Nearest tsconfig.json per folder (null: none up to the root), and settings per config file. */
const configOfDir = new Map<string, string | null>();
const settingsOfConfig = new Map<string, TransformSettings>();

/** Forget what was read (a rebuild may follow an edit of a tsconfig.json). */
export function clearTransformSettings(): void {
  configOfDir.clear();
  settingsOfConfig.clear();
}

/** Settings from the tsconfig.json nearest `dir` (with `extends` applied); {} when there is none or it cannot be read. */
export function transformSettings(dir: string): TransformSettings {
  const file = nearestConfig(dir);
  if (!file) return {};
  let settings = settingsOfConfig.get(file);
  if (!settings) settingsOfConfig.set(file, (settings = readSettings(file)));
  return settings;
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

function readSettings(file: string): TransformSettings {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  const plain = plainConfig(text);
  if (plain) return pick(plain.compilerOptions ?? {}, Array.isArray(plain.references) && plain.references.length > 0);
  const ts = loadTypeScript();
  const read = ts.readConfigFile(file, () => text);
  if (read.error) return {};
  // Options only: a host that lists no files spares TypeScript the walk over `include`.
  const host = { ...ts.sys, readDirectory: () => [] };
  const parsed = ts.parseJsonConfigFileContent(read.config, host, dirname(file), undefined, file);
  return pick(parsed.options as Record<string, unknown>, (parsed.projectReferences?.length ?? 0) > 0);
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

function pick(options: Record<string, unknown>, references: boolean): TransformSettings {
  const settings: TransformSettings = {};
  for (const key of KEYS) if (typeof options[key] === 'boolean') settings[key] = options[key];
  if (references) settings.references = true;
  return settings;
}
