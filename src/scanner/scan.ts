// The project scan: list the configured driver files, pre-filter by text, scan the candidates,
// validate each driver and then the set of drivers. Collects every diagnostic of the run.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, posix, relative, resolve } from 'node:path';
import { glob } from 'tinyglobby';
import type { LoadedConfig } from '../config/config.js';
import type { DriverInfo } from '../model.js';
import { diagnostics as d } from '../diagnostics/codes.js';
import { compareDiagnostics, type Diagnostic } from '../diagnostics/diagnostic.js';
import { toDriverInfo } from './block-driver-options.js';
import { checkDriverSet } from './check-driver-set.js';
import { scanFile } from './scan-file.js';

export interface ScanResult {
  /** Drivers in a total order: kind ('format' before 'protocol'), then name by code unit. */
  drivers: DriverInfo[];
  diagnostics: Diagnostic[];
  /** Every file the patterns matched (config-relative, sorted), whether or not it had drivers. */
  files: string[];
  /** Source texts of files with diagnostics, for code frames. */
  sources: Map<string, string>;
}

/** Lists the driver files, config-relative with forward slashes, sorted. */
export async function listDriverFiles(loaded: LoadedConfig): Promise<string[]> {
  const files = await glob(loaded.config.drivers, {
    cwd: loaded.root,
    absolute: false,
    onlyFiles: true,
    ignore: ['**/node_modules/**', '**/*.d.ts', loaded.config.out],
  });
  return files.map((f) => f.split('\\').join('/')).sort(byCodeUnit);
}

export async function scan(loaded: LoadedConfig, readText: (absolute: string) => string = (p) => readFileSync(p, 'utf8')): Promise<ScanResult> {
  const files = await listDriverFiles(loaded);
  const diagnostics: Diagnostic[] = [];
  const sources = new Map<string, string>();
  const drivers: DriverInfo[] = [];
  if (files.length === 0) diagnostics.push(d.noDriverFiles(displayPath(loaded, loaded.file), loaded.config.drivers));

  for (const file of files) {
    const absolute = resolve(loaded.root, file);
    let text: string;
    try {
      text = readText(absolute);
    } catch (error) {
      diagnostics.push(d.cannotReadFile(file, (error as Error).message));
      continue;
    }
    // Cheap text pre-filter: a file without '@' has no decorator, so it is never parsed.
    if (!text.includes('@')) continue;
    const result = scanFile(file, text);
    if (result.diagnostics.length > 0) sources.set(file, text);
    diagnostics.push(...result.diagnostics);
    for (const found of result.found) {
      const before = diagnostics.length;
      const info = toDriverInfo(found, loaded.config.states, loaded.config.defaultState, diagnostics);
      if (diagnostics.length > before) sources.set(file, text);
      if (info) {
        checkProbeModules(loaded, info, diagnostics);
        drivers.push(info);
      }
    }
  }
  diagnostics.push(...checkDriverSet(drivers));
  drivers.sort(compareDrivers);
  diagnostics.sort(compareDiagnostics);
  return { drivers, diagnostics, files, sources };
}

function checkProbeModules(loaded: LoadedConfig, info: DriverInfo, diagnostics: Diagnostic[]): void {
  for (const probe of info.probes) {
    if (probe.module === undefined) continue;
    const target = resolve(loaded.root, dirname(info.file), probe.module);
    if (!existsSync(target)) diagnostics.push(d.probeModuleMissing({ ...info.location }, probe.module));
  }
}

/** A probe module's path relative to the config root (its stable id in the table). */
export function probeModulePath(info: DriverInfo, module: string): string {
  return posix.normalize(posix.join(posix.dirname(info.file), module));
}

export function displayPath(loaded: LoadedConfig, absolute: string): string {
  return relative(loaded.root, absolute).split('\\').join('/') || '.';
}

export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareDrivers(a: DriverInfo, b: DriverInfo): number {
  return byCodeUnit(a.kind, b.kind) || byCodeUnit(a.name, b.name) || byCodeUnit(a.file, b.file);
}
