// The modules a scan looks at, parsed lazily and cached by path and content, and the
// resolution of a name through imports, re-exports, barrels (`export *`) and namespaces to where
// it is declared. A tracker records which modules each driver file depended on, so a watcher can
// redo only the files a change affects.
import * as runtime from '../runtime/index.js';
import type { ScanFileSystem } from './file-system.js';
import { parseModule, type LocalDeclaration, type ModuleInfo } from './module-info.js';
import type { ModuleResolver } from './module-resolver.js';
import type { T } from './typescript.js';

export type Binding =
  /** An export of `gen-modules/runtime`. */
  | { kind: 'runtime'; name: string }
  /** `import * as gm from 'gen-modules/runtime'`. */
  | { kind: 'runtime-namespace' }
  | { kind: 'namespace'; module: ModuleInfo }
  /** Declared in `module` under `name` (possibly several merged declarations). */
  | { kind: 'local'; module: ModuleInfo; name: string; declarations: LocalDeclaration[] }
  /** `export default <expression>`. */
  | { kind: 'expression'; module: ModuleInfo; expression: T.Expression }
  /** `missing`: the module exists but has no such export. */
  | { kind: 'unresolved'; why: string; missing?: boolean };

/** What `gen-modules/runtime` exports, for `export * from 'gen-modules/runtime'` in a barrel. */
export const RUNTIME_EXPORTS: ReadonlySet<string> = new Set(Object.keys(runtime));

export interface ResolveOptions {
  /** Follow imports into third-party packages (constants: yes; decorators: the app's own files only). */
  external: boolean;
}

interface CachedModule {
  /** The text parsed (comparing it is the content check: equal text, same parse). */
  text: string;
  module: ModuleInfo | undefined;
  error?: string;
}

export class ModuleGraph {
  private readonly modules = new Map<string, CachedModule>();
  private tracker: Set<string> | undefined;
  /** Parses done by this graph (for statistics). */
  parses = 0;

  constructor(
    readonly fs: ScanFileSystem,
    readonly resolver: ModuleResolver,
    readonly display: (absolute: string) => string,
  ) {}

  /**
   * The parsed module at `path`, reusing the cached parse when the text is the same. `retain`:
   * keep the parse for later requests. A scan parses each candidate file once as a root and does
   * not keep it (keeping thousands of syntax trees costs more in garbage collection than parsing
   * the rare one again); a module reached through an import is kept, others import it too.
   */
  module(path: string, knownText?: string, retain = true): ModuleInfo | { error: string } {
    this.tracker?.add(path);
    const cached = this.modules.get(path);
    if (cached && (knownText === undefined || knownText === cached.text)) return cached.module ?? { error: cached.error! };
    let text = knownText;
    if (text === undefined) {
      try {
        text = this.fs.readText(path);
      } catch (error) {
        const entry = { text: '', module: undefined, error: `cannot read ${this.display(path)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` };
        this.modules.set(path, entry);
        return { error: entry.error };
      }
    }
    const module = parseModule(path, this.display(path), text);
    this.parses++;
    if (retain) this.modules.set(path, { text, module });
    else this.modules.delete(path);
    return module;
  }

  has(path: string): boolean {
    return this.modules.has(path);
  }

  /** Drop cached parses of these paths; the next access re-reads them. */
  forget(paths: Iterable<string>): void {
    for (const path of paths) this.modules.delete(path);
  }

  /** Runs `fn`, recording every module it touched into `deps`. */
  track<R>(deps: Set<string>, fn: () => R): R {
    const outer = this.tracker;
    this.tracker = deps;
    try {
      return fn();
    } finally {
      this.tracker = outer;
      if (outer) for (const dep of deps) outer.add(dep);
    }
  }

  /** What `specifier` imported from `from` is: the runtime, a parsed module, or why it is neither. */
  importTarget(specifier: string, from: ModuleInfo, options: ResolveOptions): { runtime: true } | { module: ModuleInfo } | { why: string } {
    const resolved = this.resolver.resolve(specifier, from.path);
    if (resolved.kind === 'runtime') return { runtime: true };
    if (resolved.kind === 'unresolved') return { why: resolved.why };
    if (resolved.external && !options.external) return { why: `'${specifier}' is a third-party package` };
    const module = this.module(resolved.path);
    if ('error' in module) return { why: module.error };
    if (module.syntaxErrors.length > 0) return { why: `${module.file} has syntax errors` };
    return { module };
  }

  /** A name of `module`'s top-level scope: declared there or imported. */
  resolveName(module: ModuleInfo, name: string, options: ResolveOptions, seen: string[] = []): Binding {
    const declarations = module.locals.get(name);
    if (declarations) return { kind: 'local', module, name, declarations };
    const imported = module.imports.get(name);
    if (!imported) return { kind: 'unresolved', why: `'${name}' is not declared in ${module.file} or imported` };
    const target = this.importTarget(imported.specifier, module, options);
    if ('why' in target) return { kind: 'unresolved', why: target.why };
    if ('runtime' in target) return imported.imported === '*' ? { kind: 'runtime-namespace' } : { kind: 'runtime', name: imported.imported };
    if (imported.imported === '*') return { kind: 'namespace', module: target.module };
    return this.resolveExport(target.module, imported.imported, options, seen);
  }

  /** An export of `module`, followed through re-exports and `export *` to its declaration. */
  resolveExport(module: ModuleInfo, name: string, options: ResolveOptions, seen: string[] = []): Binding {
    const key = `${module.path}#${name}`;
    if (seen.includes(key)) return { kind: 'unresolved', why: `the export '${name}' of ${module.file} re-exports itself in a cycle` };
    const chain = [...seen, key];
    const exported = module.exports.get(name);
    if (exported) {
      if (exported.kind === 'expression') return { kind: 'expression', module, expression: exported.expression };
      if (exported.kind === 'local') return this.resolveName(module, exported.local, options, chain);
      const target = this.importTarget(exported.specifier, module, options);
      if ('why' in target) return { kind: 'unresolved', why: target.why };
      if ('runtime' in target) return exported.imported === '*' ? { kind: 'runtime-namespace' } : { kind: 'runtime', name: exported.imported };
      if (exported.imported === '*') return { kind: 'namespace', module: target.module };
      return this.resolveExport(target.module, exported.imported, options, chain);
    }
    if (name !== 'default') {
      for (const specifier of module.starExports) {
        const target = this.importTarget(specifier, module, options);
        if ('runtime' in target) {
          if (RUNTIME_EXPORTS.has(name)) return { kind: 'runtime', name };
          continue;
        }
        if (!('module' in target)) continue;
        const found = this.resolveExport(target.module, name, options, chain);
        if (found.kind !== 'unresolved' || !found.missing) return found;
      }
    }
    return { kind: 'unresolved', why: `${module.file} has no export '${name}'`, missing: true };
  }
}
