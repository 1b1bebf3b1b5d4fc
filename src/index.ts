// `gen-modules`: the Node API.
import { loadConfig, type LoadedConfig } from './config/config.js';
import { generateFromConfig, type GenerateOptions, type GenerateResult } from './codegen/generate.js';
import { scan as scanLoaded, type ScanResult } from './scanner/scan.js';
import { watchGenerate, type GenWatcher, type WatchOptions } from './codegen/watch-generate.js';

export { defineConfig, loadConfig, ConfigError, type GenModulesConfig, type LoadedConfig, type PackageConfig, type RegistryConfig } from './config/config.js';
export { formatDiagnostic, formatDiagnostics } from './diagnostics/format.js';
export type { Diagnostic, RelatedLocation, Severity } from './diagnostics/diagnostic.js';
export type { DriverInfo, DriverPackage, ProbeSignature, ProbeTest, DriverState, DriverKind } from './model.js';
export type { GeneratedOutput, Outcome } from './codegen/generate.js';
export type { ScanStats } from './scanner/scan.js';
export type { GenerateResult, GenerateOptions, ScanResult, GenWatcher, WatchOptions };

export interface ApiOptions {
  /** Config file path (default: found in `cwd`). */
  config?: string;
  cwd?: string;
}

/** Scan the configured driver files and report drivers and diagnostics; writes nothing. */
export async function scan(options: ApiOptions = {}): Promise<ScanResult> {
  return scanLoaded(await resolveConfig(options));
}

/** Generate (or, with `check`, compare) the tables. */
export async function generate(options: ApiOptions & Omit<GenerateOptions, 'scanner'> = {}): Promise<GenerateResult> {
  return generateFromConfig(await resolveConfig(options), options);
}

/** Generate, then regenerate incrementally on every change until `close()`. */
export async function watch(options: ApiOptions & WatchOptions): Promise<GenWatcher> {
  const watcher = watchGenerate(await resolveConfig(options), options);
  await watcher.ready;
  return watcher;
}

async function resolveConfig(options: ApiOptions): Promise<LoadedConfig> {
  return loadConfig(options.config, options.cwd ?? process.cwd());
}
