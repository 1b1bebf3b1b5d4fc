// TypeScript compilation for the rollup and Vite adapters, through esbuild's transform: every
// TypeScript module for rollup (which has none of its own), only modules with decorators for Vite
// (whose own transform leaves standard decorators unlowered). Each module is compiled the way the
// tsconfig.json that governs it says (tsconfig.ts), unless the plugin's `typescript` option names
// the decorator mode.
import { extname, sep } from 'node:path';
import { escapeRegExp } from '../src/config/escape-regexp.js';
import type { TypeScriptOption } from './shared.js';
import { folderTransformSettings, JSX_KEYS, transformSettings, type TransformSettings } from './tsconfig.js';

/** Which modules the plugin compiles: every TypeScript module, the decorated ones, or none. */
export type TransformMode = 'all' | 'decorated' | 'none';

export interface TypeScriptTransform {
  /**
   * The transform hook's filter. It lets the bundler (rollup 4.38+, rolldown) skip the call for
   * other modules, which with rolldown would each copy their code out of Rust; `compile` checks
   * the same again. The bundler reads it when it starts.
   */
  readonly filter: { id: { include: RegExp; exclude: RegExp[] }; code?: string };
  /**
   * Before the bundler starts: keeps out of the filter the modules directly in those of
   * `driverFolders` whose tsconfig.json asks for legacy decorators (Vite lowers those itself, see
   * `compile`), or, with no folders, resets the filter to every TypeScript module. Without it,
   * rolldown calls the hook for each such module (each decorated: all contain '@'), copying its
   * code out of Rust for `compile` to return null (200-driver bench: 7 ms of wall time, 16 of CPU).
   */
  leaveToVite(driverFolders: readonly string[]): void;
  compile(code: string, id: string): Promise<{ code: string; map: string } | null>;
}

/** A TypeScript module's id (a query may follow), and a declaration file's. */
const TS_MODULE = /\.[cm]?tsx?(?:$|\?)/;
const DECLARATION = /\.d\.[cm]?ts(?:$|\?)/;

export function typescriptTransform(mode: TransformMode, option: TypeScriptOption): TypeScriptTransform {
  const filter: TypeScriptTransform['filter'] = { id: { include: TS_MODULE, exclude: [DECLARATION] }, ...(mode === 'decorated' ? { code: '@' } : {}) };
  return {
    filter,
    leaveToVite(driverFolders) {
      filter.id.exclude = [DECLARATION];
      if (mode !== 'decorated' || option.experimentalDecorators === false) return;
      const legacy = [...new Set(driverFolders)].sort().filter((dir) => folderTransformSettings(dir)?.experimentalDecorators === true);
      if (legacy.length === 0) return;
      // Modules directly in those folders, named as Vite names them (forward slashes, no query).
      const alternatives = legacy.map((dir) => escapeRegExp(dir.split(sep).join('/'))).join('|');
      filter.id.exclude = [DECLARATION, new RegExp(`^(?:${alternatives})/[^/?]+\\.[cm]?tsx?$`)];
    },
    async compile(code, id) {
      const file = id.split('?')[0]!;
      if (!TS_MODULE.test(file) || DECLARATION.test(file)) return null;
      if (mode === 'decorated' && !usesDecorators(code)) return null;
      const settings = transformSettings(file);
      // Vite's own TypeScript transform lowers legacy decorators when the module's tsconfig.json asks
      // for them (Oxc in Vite 8, esbuild before): compiling such a module here would be work done
      // twice (on the 200-driver bench, 0.27 s of a 0.5 s build). Standard decorators it leaves as
      // they are, and the option may ask for the mode the tsconfig does not name: those are compiled.
      if (mode === 'decorated' && settings.experimentalDecorators === true && (option.experimentalDecorators ?? true)) return null;
      const ext = extname(file);
      const tsx = ext.endsWith('x');
      const { transform } = await import('esbuild');
      const result = await transform(code, {
        loader: tsx ? 'tsx' : 'ts',
        // JSX: Vite compiles it after this hook, as its config says (it is kept); for rollup this
        // is the only compiler, so the module's tsconfig.json says how (esbuild's default, the
        // classic React.createElement, would otherwise win over "jsx": "react-jsx").
        ...(tsx && mode === 'decorated' ? { jsx: 'preserve' as const } : {}),
        sourcefile: file,
        sourcemap: 'external',
        format: 'esm',
        target: option.target ?? 'es2022',
        tsconfigRaw: {
          compilerOptions: {
            experimentalDecorators: option.experimentalDecorators ?? settings.experimentalDecorators ?? false,
            ...(settings.useDefineForClassFields !== undefined ? { useDefineForClassFields: settings.useDefineForClassFields } : {}),
            ...(settings.verbatimModuleSyntax !== undefined ? { verbatimModuleSyntax: settings.verbatimModuleSyntax } : {}),
            ...(settings.target !== undefined ? { target: settings.target } : {}),
            ...(tsx && mode !== 'decorated' ? jsxSettings(settings) : {}),
          },
        },
      });
      return { code: result.code, map: result.map };
    },
  };
}

/** The tsconfig's JSX options as esbuild's tsconfigRaw takes them. */
function jsxSettings(settings: TransformSettings): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of JSX_KEYS) if (settings[key] !== undefined) out[key] = settings[key];
  return out;
}

/**
 * Whether a module may use decorators: `@x` at the start of a line (JSDoc's ` * @param` is not),
 * or `@x class` / `@x(...) export class` on one line. A false positive costs one esbuild transform.
 */
export function usesDecorators(code: string): boolean {
  return /^[ \t]*@[A-Za-z_$]/m.test(code) || /@[A-Za-z_$][\w$.]*(?:\([^)]*\))?\s+(?:export\s+)?(?:default\s+)?(?:abstract\s+)?class\b/.test(code);
}
