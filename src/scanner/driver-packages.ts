// Driver packages named by the config's `packages`: found the way Node finds them (node_modules
// folders from the config folder up; workspace links followed to their real folder), their driver
// files named by the package's own package.json `"gen-modules": { "drivers": [...] }` or by the
// config entry.
import { dirname, join, relative } from 'node:path';
import type { LoadedConfig } from '../config/config.js';
import { toPosixPath } from '../config/posix-path.js';
import type { PackageConfig } from '../config/validate-config.js';
import { diagnostics as d, type At } from '../diagnostics/codes.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import type { DriverPackage } from '../model.js';
import type { ScanFileSystem } from './file-system.js';

export interface ResolvedPackage {
  info: DriverPackage;
  /** Absolute real folder of the package. */
  realRoot: string;
  /** Driver globs relative to the package folder. */
  drivers: string[];
  /** Absolute path of its package.json (an input of the generation). */
  packageJson: string;
}

interface PackageField {
  drivers?: unknown;
  rootDir?: unknown;
  outDir?: unknown;
}

export function resolvePackages(loaded: LoadedConfig, fs: ScanFileSystem, configAt: (name: string) => At): { packages: ResolvedPackage[]; diagnostics: Diagnostic[] } {
  const packages: ResolvedPackage[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const entry of loaded.config.packages) {
    const problem = (message: string) => diagnostics.push(d.driverPackage(configAt(entry.name), entry.name, message));
    const folder = findPackage(loaded.root, entry.name, fs);
    if (!folder) {
      problem(`not installed: no node_modules/${entry.name}/package.json in the config's folder or any folder above it (run npm install?)`);
      continue;
    }
    const packageJson = join(folder, 'package.json');
    let field: PackageField | undefined;
    try {
      const pkg = JSON.parse(fs.readText(packageJson)) as { 'gen-modules'?: PackageField };
      field = pkg['gen-modules'];
    } catch (error) {
      problem(`cannot read ${packageJson}: ${(error as Error).message}`);
      continue;
    }
    const merged = mergeField(entry, field);
    if (typeof merged === 'string') {
      problem(merged);
      continue;
    }
    const realRoot = fs.realpath(folder);
    const root = toPosixPath(relative(loaded.root, realRoot));
    packages.push({
      info: { name: entry.name, root, ...(merged.rootDir ? { rootDir: merged.rootDir, outDir: merged.outDir! } : {}) },
      realRoot,
      drivers: merged.drivers,
      packageJson,
    });
  }
  return { packages, diagnostics };
}

function mergeField(entry: PackageConfig, field: PackageField | undefined): { drivers: string[]; rootDir?: string; outDir?: string } | string {
  if (entry.drivers) return { drivers: entry.drivers, ...(entry.rootDir ? { rootDir: entry.rootDir, outDir: entry.outDir! } : {}) };
  if (field === undefined) {
    return `its package.json has no "gen-modules" field; name its driver files in the config: { "name": "${entry.name}", "drivers": ["src/drivers/*.ts"] }`;
  }
  const drivers = typeof field.drivers === 'string' ? [field.drivers] : field.drivers;
  if (!Array.isArray(drivers) || drivers.length === 0 || drivers.some((g) => typeof g !== 'string' || g === '')) {
    return `its package.json "gen-modules.drivers" must be a non-empty list of globs`;
  }
  const rootDir = entry.rootDir ?? field.rootDir;
  const outDir = entry.outDir ?? field.outDir;
  for (const [key, value] of [['rootDir', rootDir], ['outDir', outDir]] as const) {
    if (value !== undefined && (typeof value !== 'string' || value === '' || value.startsWith('/') || value.split(/[\\/]/).includes('..'))) {
      return `its package.json "gen-modules.${key}" must be a folder inside the package`;
    }
  }
  if ((rootDir === undefined) !== (outDir === undefined)) return `its package.json "gen-modules" needs both rootDir and outDir (or neither)`;
  const clean = (dir: string) => dir.replace(/\\/g, '/').replace(/^\.\//, '').replace(/\/+$/, '');
  return { drivers: drivers as string[], ...(typeof rootDir === 'string' ? { rootDir: clean(rootDir), outDir: clean(outDir as string) } : {}) };
}

function findPackage(from: string, name: string, fs: ScanFileSystem): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const folder = join(dir, 'node_modules', name);
    if (fs.isFile(join(folder, 'package.json'))) return folder;
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * The specifier generated code imports a package's file by: `@acme/qemu-drivers/dist/vhd.js` for
 * `src/vhd.ts` with rootDir src and outDir dist; without them the file's own path.
 */
export function packageSpecifier(pkg: DriverPackage, fileInPackage: string, extension: '.js' | '.ts'): string {
  let path = fileInPackage;
  let ext = extension;
  if (pkg.rootDir !== undefined && pkg.outDir !== undefined) {
    if (path.startsWith(`${pkg.rootDir}/`)) path = `${pkg.outDir}/${path.slice(pkg.rootDir.length + 1)}`;
    else if (pkg.rootDir === '.') path = `${pkg.outDir}/${path}`;
    // What tsc emits is JavaScript, whatever the app's own import spelling.
    ext = '.js';
  }
  path = path.replace(/\.(m?)tsx?$/, (_m, m: string) => (ext === '.js' ? `.${m}js` : `.${m}ts`));
  return `${pkg.name}/${path}`;
}
