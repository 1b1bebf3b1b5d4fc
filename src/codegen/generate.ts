// The whole job: scan, compile probes, emit, write (or compare, under --check).
import { relative, resolve } from 'node:path';
import type { LoadedConfig } from '../config/config.js';
import { hasErrors, type Diagnostic } from '../diagnostics/diagnostic.js';
import type { DriverInfo } from '../model.js';
import { compileProbeIndex } from '../probe/compile.js';
import { compareDrivers, probeModulePath, scan } from '../scanner/scan.js';
import { emitTable } from './emit-table.js';
import { readIfExists, writeIfChanged } from './write-file.js';

export interface GenerateOptions {
  /** Compare instead of writing: the result says whether the file on disk is stale. */
  check?: boolean;
}

export interface GenerateResult {
  drivers: DriverInfo[];
  diagnostics: Diagnostic[];
  sources: Map<string, string>;
  /** Absolute path of the generated table. */
  out: string;
  /** 'written' / 'unchanged' when generating; 'stale' / 'unchanged' under check; 'skipped' on errors. */
  outcome: 'written' | 'unchanged' | 'stale' | 'skipped';
  /** The generated text (undefined when skipped). */
  content?: string;
  /** Files the output depends on (config-relative): for watchers and build caches. */
  inputs: string[];
}

export function renderTable(loaded: LoadedConfig, unordered: readonly DriverInfo[]): string {
  // A total order here, whatever order the caller found the drivers in.
  const drivers = [...unordered].sort(compareDrivers);
  const probes = compileProbeIndex(drivers, probeModulePath);
  return emitTable(drivers, probes, {
    out: loaded.config.out,
    configName: relative(loaded.root, loaded.file).split('\\').join('/'),
    importExtension: loaded.config.importExtension,
  });
}

export async function generateFromConfig(loaded: LoadedConfig, options: GenerateOptions = {}): Promise<GenerateResult> {
  const result = await scan(loaded);
  const out = resolve(loaded.root, loaded.config.out);
  const base = { drivers: result.drivers, diagnostics: result.diagnostics, sources: result.sources, out, inputs: result.files };
  // Errors in the sources keep the last good output: a half-valid table would be worse than none.
  if (hasErrors(result.diagnostics)) return { ...base, outcome: 'skipped' };
  const content = renderTable(loaded, result.drivers);
  if (options.check) return { ...base, content, outcome: readIfExists(out) === content ? 'unchanged' : 'stale' };
  return { ...base, content, outcome: writeIfChanged(out, content) };
}
