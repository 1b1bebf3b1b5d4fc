// gen-modules/rollup: regenerates the table at build start, emits every module driver and probe
// module as its own chunk (`drivers/<name>-<hash>.js`, `probes/<name>-<hash>.js`, from the
// output's chunkFileNames pattern), fails the build when a module driver is imported statically,
// adds the build id to the lazy chunks and writes `gen-modules-manifest.json`.
//
// rollup has no TypeScript of its own: with `typescript: true` the plugin compiles `.ts` modules
// with esbuild (decorators lowered in either mode) and resolves `./x.js` specifiers to `./x.ts`.
// Under `rollup --watch` / `watch()`, the driver folders are watched: adding or removing a driver
// rebuilds, and the rebuild regenerates the table and emits the new set of chunks.
import type { Plugin } from 'rollup';
import { createCore } from './rollup-core.js';
import { validatePluginOptions, type GenModulesPluginOptions } from './shared.js';

export type { GenModulesPluginOptions, TypeScriptOption } from './shared.js';

export default function genModules(options?: GenModulesPluginOptions): Plugin {
  const validated = validatePluginOptions(options, 'rollup');
  const typescript = validated.typescript ?? false;
  const core = createCore({ bundler: 'rollup', options: validated, transform: typescript ? 'all' : 'none', resolveTs: true, manifestVia: 'emit', chunksOnDisk: false });
  return core.hooks as Plugin;
}
