// The TypeScript compiler API, loaded on first use. ts-morph bundles its own TypeScript 6 (the
// `typescript` package may be the native TypeScript 7, which has no compiler API); we load that
// bundled file directly, without ts-morph's own code (about 0.2 s of start-up we do not need: the
// scanner only parses, it never builds a Project), through a V8 code cache (code-cache.ts). Falls
// back to `ts-morph`'s export.
import { createRequire } from 'node:module';
import type { ts as Api } from 'ts-morph';
import { requireWithCodeCache } from './code-cache.js';

/** Type-only namespace for annotations: `node: T.Node`. */
export type { ts as T } from 'ts-morph';

/** The compiler API; undefined until `loadTypeScript()` ran (every scanner entry point calls it). */
export let ts: typeof Api;

export function loadTypeScript(): typeof Api {
  if (ts) return ts;
  const require = createRequire(import.meta.url);
  try {
    const fromMorph = createRequire(require.resolve('ts-morph'));
    ts = requireWithCodeCache(fromMorph.resolve('@ts-morph/common/dist/typescript.js')) as typeof Api;
  } catch {
    ts = (require('ts-morph') as { ts: typeof Api }).ts;
  }
  return ts;
}
