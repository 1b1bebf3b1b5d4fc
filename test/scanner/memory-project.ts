// Scanner tests on in-memory source trees: no disk, no glob. A tree is { 'src/x.ts': text, ... }
// under the root /proj; tsconfig.json and node_modules/ inside it are read from the map too.
import type { LoadedConfig, ResolvedConfig } from '../../src/config/config.js';
import { memoryFileSystem } from '../../src/scanner/file-system.js';
import { ModuleGraph } from '../../src/scanner/module-graph.js';
import { parseModule } from '../../src/scanner/module-info.js';
import { ModuleResolver } from '../../src/scanner/module-resolver.js';
import { scan, type ScanResult } from '../../src/scanner/scan.js';
import { scanModule, type FileScan } from '../../src/scanner/scan-file.js';
import { readPathsConfig } from '../../src/scanner/tsconfig-paths.js';
import { loadTypeScript } from '../../src/scanner/typescript.js';

export const ROOT = '/proj';

export type Tree = Record<string, string>;

function absolute(tree: Tree): Record<string, string> {
  return Object.fromEntries(Object.entries(tree).map(([file, text]) => [`${ROOT}/${file}`, text]));
}

export function memoryConfig(config: Partial<ResolvedConfig> = {}): LoadedConfig {
  return {
    file: `${ROOT}/gen-modules.config.json`,
    root: ROOT,
    config: {
      drivers: ['src/drivers/*.ts'],
      out: 'src/generated/drivers.gen.ts',
      importExtension: '.js',
      states: {},
      defaultState: 'module',
      packages: [],
      registries: {},
      exclude: [],
      probe: { order: [], buffer: 'padded' },
      ...config,
    },
  };
}

/** Scan a tree; the driver files are the ones under src/drivers/ unless `files` names them. */
export async function scanTree(tree: Tree, options: { config?: Partial<ResolvedConfig>; files?: string[] } = {}): Promise<ScanResult> {
  const files = options.files ?? Object.keys(tree).filter((f) => f.startsWith('src/drivers/')).sort();
  return scan(memoryConfig(options.config), { fs: memoryFileSystem(absolute(tree)), files });
}

/** Scan one file of a tree (imports resolve inside the tree), before any validation of options. */
export function scanOne(tree: Tree, file: string): FileScan {
  loadTypeScript();
  const fs = memoryFileSystem(absolute(tree));
  const graph = new ModuleGraph(fs, new ModuleResolver(fs, readPathsConfig(ROOT, fs)), (p) => p.slice(ROOT.length + 1));
  return scanModule(parseModule(`${ROOT}/${file}`, file, tree[file]!), graph);
}

/** The evaluated options of the single decorator in `file`. */
export function optionsOf(tree: Tree, file = 'src/drivers/d.ts'): unknown {
  const result = scanOne(tree, file);
  if (result.diagnostics.length > 0) throw new Error(result.diagnostics.map((d) => `${d.code} ${d.line}:${d.column} ${d.message}`).join('\n'));
  if (result.found.length !== 1) throw new Error(`expected one decorator, found ${result.found.length}`);
  return result.found[0]!.options;
}

/** A driver file whose decorator argument is `options` (after the given header lines). */
export function driver(options: string, header = ''): string {
  return `import { blockDriver } from 'gen-modules/runtime';\n${header}\n@blockDriver(${options})\nexport class D {}\n`;
}
