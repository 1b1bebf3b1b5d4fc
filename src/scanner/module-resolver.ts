// From an import specifier to a source file, the way TypeScript's `bundler` resolution finds it:
// relative paths with TypeScript's extension substitution (`./x.js` -> `x.ts`), tsconfig `paths`
// and `baseUrl`, then packages in node_modules (`exports` with the types/import/default
// conditions, else types/module/main). `gen-modules/runtime` is recognised by name, before paths
// (this repository maps it to its own source).
import { builtinModules } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { ScanFileSystem } from './file-system.js';
import { mapSpecifier, type PathsConfig } from './tsconfig-paths.js';

export const RUNTIME_MODULE = 'gen-modules/runtime';

export type Resolution =
  | { kind: 'runtime' }
  /** `external`: inside a third-party package (its real path is under node_modules). */
  | { kind: 'file'; path: string; external: boolean }
  | { kind: 'unresolved'; why: string };

const EXTENSIONS = ['.ts', '.tsx', '.d.ts', '.mts', '.d.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs'];
const SWAPS: Record<string, string[]> = {
  '.js': ['.ts', '.tsx', '.d.ts', '.js'],
  '.jsx': ['.tsx', '.jsx'],
  '.mjs': ['.mts', '.d.mts', '.mjs'],
  '.cjs': ['.cts', '.d.cts', '.cjs'],
};
const CONDITIONS = ['types', 'import', 'module', 'default', 'node'];
const builtins = new Set(builtinModules);

interface PackageJson {
  exports?: unknown;
  types?: string;
  typings?: string;
  module?: string;
  main?: string;
}

export class ModuleResolver {
  private readonly cache = new Map<string, Resolution>();
  private readonly packageJsons = new Map<string, PackageJson | undefined>();

  constructor(
    private readonly fs: ScanFileSystem,
    private readonly paths: PathsConfig,
  ) {}

  /** Forget cached answers (files were added or removed). */
  clear(): void {
    this.cache.clear();
    this.packageJsons.clear();
  }

  resolve(specifier: string, fromFile: string): Resolution {
    const relativeSpec = specifier.startsWith('./') || specifier.startsWith('../') || specifier === '.' || specifier === '..' || isAbsolute(specifier);
    const key = relativeSpec ? resolve(dirname(fromFile), specifier) : `${dirname(fromFile)}\u0000${specifier}`;
    let found = this.cache.get(key);
    if (!found) {
      found = relativeSpec ? this.fileResult(this.file(key), `cannot find '${specifier}'`) : this.bare(specifier, fromFile);
      this.cache.set(key, found);
    }
    return found;
  }

  private bare(specifier: string, fromFile: string): Resolution {
    if (specifier === RUNTIME_MODULE) return { kind: 'runtime' };
    if (specifier.startsWith('node:') || builtins.has(specifier)) return { kind: 'unresolved', why: `'${specifier}' is a Node.js built-in module` };
    const mapped = mapSpecifier(this.paths, specifier);
    for (const candidate of mapped) {
      const file = this.file(candidate);
      if (file) return this.fileResult(file, '');
    }
    if (mapped.length > 0) return { kind: 'unresolved', why: `'${specifier}' matches tsconfig paths, but none of ${mapped.join(', ')} exists` };
    if (this.paths.baseUrl) {
      const file = this.file(join(this.paths.baseUrl, specifier));
      if (file) return this.fileResult(file, '');
    }
    return this.fromNodeModules(specifier, dirname(fromFile));
  }

  private fromNodeModules(specifier: string, fromDir: string): Resolution {
    const parts = specifier.split('/');
    const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
    const subpath = parts.slice(name.split('/').length).join('/');
    for (let dir = fromDir; ; dir = dirname(dir)) {
      const root = join(dir, 'node_modules', name);
      const pkg = this.packageJson(root);
      if (pkg !== undefined || this.fs.isFile(join(root, 'index.ts')) || this.fs.isFile(join(root, 'index.js'))) {
        const file = this.packageEntry(root, pkg ?? {}, subpath);
        return this.fileResult(file, `package '${name}' is installed at ${root} but has no entry for '${specifier}'`);
      }
      if (dirname(dir) === dir) break;
    }
    return { kind: 'unresolved', why: `'${specifier}' is not a relative path, matches no tsconfig paths and is not installed in node_modules` };
  }

  private packageEntry(root: string, pkg: PackageJson, subpath: string): string | undefined {
    if (pkg.exports !== undefined && pkg.exports !== null) {
      const target = exportTarget(pkg.exports, subpath === '' ? '.' : `./${subpath}`);
      if (target !== undefined) return this.file(join(root, target));
    }
    if (subpath !== '') return this.file(join(root, subpath));
    for (const field of [pkg.types, pkg.typings, pkg.module, pkg.main]) {
      if (typeof field === 'string') {
        const file = this.file(join(root, field));
        if (file) return file;
      }
    }
    return this.file(join(root, 'index'));
  }

  private packageJson(root: string): PackageJson | undefined {
    if (!this.packageJsons.has(root)) {
      let pkg: PackageJson | undefined;
      const path = join(root, 'package.json');
      if (this.fs.isFile(path)) {
        try {
          pkg = JSON.parse(this.fs.readText(path)) as PackageJson;
        } catch {
          pkg = {};
        }
      }
      this.packageJsons.set(root, pkg);
    }
    return this.packageJsons.get(root);
  }

  private fileResult(file: string | undefined, why: string): Resolution {
    if (!file) return { kind: 'unresolved', why };
    const real = this.fs.realpath(file);
    return { kind: 'file', path: file, external: real.split(/[\\/]/).includes('node_modules') };
  }

  /** The source file a path names, trying TypeScript's extension substitutions and index files. */
  file(base: string): string | undefined {
    const ext = /\.[cm]?jsx?$/.exec(base)?.[0];
    if (ext) {
      const stem = base.slice(0, -ext.length);
      for (const swap of SWAPS[ext]!) if (this.fs.isFile(stem + swap)) return stem + swap;
      return undefined;
    }
    if (/\.[cm]?tsx?$/.test(base) && this.fs.isFile(base)) return base;
    for (const e of EXTENSIONS) if (this.fs.isFile(base + e)) return base + e;
    for (const e of EXTENSIONS) if (this.fs.isFile(join(base, `index${e}`))) return join(base, `index${e}`);
    return undefined;
  }
}

/** Node's `exports` matching with our condition order; supports `*` subpath patterns. */
function exportTarget(exports: unknown, subpath: string): string | undefined {
  const isSubpathMap = typeof exports === 'object' && exports !== null && !Array.isArray(exports) && Object.keys(exports).some((k) => k.startsWith('.'));
  if (!isSubpathMap) return subpath === '.' ? conditional(exports) : undefined;
  const map = exports as Record<string, unknown>;
  if (subpath in map) return conditional(map[subpath]);
  for (const [pattern, target] of Object.entries(map)) {
    const star = pattern.indexOf('*');
    if (star < 0) continue;
    const prefix = pattern.slice(0, star);
    const suffix = pattern.slice(star + 1);
    if (subpath.startsWith(prefix) && subpath.endsWith(suffix) && subpath.length >= prefix.length + suffix.length) {
      const resolved = conditional(target);
      return resolved?.replace(/\*/g, subpath.slice(prefix.length, subpath.length - suffix.length));
    }
  }
  return undefined;
}

function conditional(target: unknown): string | undefined {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) {
    for (const t of target) {
      const found = conditional(t);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof target === 'object' && target !== null) {
    for (const [condition, value] of Object.entries(target)) {
      if (CONDITIONS.includes(condition)) {
        const found = conditional(value);
        if (found !== undefined) return found;
      }
    }
  }
  return undefined;
}
