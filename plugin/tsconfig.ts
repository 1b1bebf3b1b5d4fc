// The TypeScript settings esbuild's transform needs to compile a module the way the project's
// tsconfig.json says (decorator mode, class fields, import elision), read with the TypeScript
// that ts-morph bundles (the scanner loads it anyway).
import { dirname } from 'node:path';
import { ts } from 'ts-morph';

export interface TransformSettings {
  experimentalDecorators?: boolean;
  useDefineForClassFields?: boolean;
  verbatimModuleSyntax?: boolean;
}

const cache = new Map<string, TransformSettings>();

/** Settings from the tsconfig.json nearest `cwd` (with `extends` applied); {} when there is none. */
export function transformSettings(cwd: string): TransformSettings {
  let settings = cache.get(cwd);
  if (settings) return settings;
  settings = {};
  const file = ts.findConfigFile(cwd, ts.sys.fileExists);
  if (file) {
    const read = ts.readConfigFile(file, ts.sys.readFile);
    if (!read.error) {
      const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, dirname(file), undefined, file);
      const o = parsed.options;
      if (o.experimentalDecorators !== undefined) settings.experimentalDecorators = o.experimentalDecorators;
      if (o.useDefineForClassFields !== undefined) settings.useDefineForClassFields = o.useDefineForClassFields;
      if (o.verbatimModuleSyntax !== undefined) settings.verbatimModuleSyntax = o.verbatimModuleSyntax;
    }
  }
  cache.set(cwd, settings);
  return settings;
}
