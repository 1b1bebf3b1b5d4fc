// `gen-modules`: the Node API.
import { loadConfig, type LoadedConfig } from './config/config.js';
import { generateFromConfig, type GenerateOptions, type GenerateResult } from './codegen/generate.js';
import { scan as scanLoaded, type ScanResult } from './scanner/scan.js';

export { defineConfig, loadConfig, ConfigError, type GenModulesConfig, type LoadedConfig } from './config/config.js';
export { formatDiagnostic, formatDiagnostics } from './diagnostics/format.js';
export type { Diagnostic, RelatedLocation, Severity } from './diagnostics/diagnostic.js';
export type { DriverInfo, ProbeSignature, ProbeTest, DriverState, DriverKind } from './model.js';
export type { GenerateResult, GenerateOptions, ScanResult };

export interface ApiOptions {
  /** Config file path (default: found in `cwd`). */
  config?: string;
  cwd?: string;
}

/** Scan the configured driver files and report drivers and diagnostics; writes nothing. */
export async function scan(options: ApiOptions = {}): Promise<ScanResult> {
  return scanLoaded(await resolveConfig(options));
}

/** Generate (or, with `check`, compare) the table. */
export async function generate(options: ApiOptions & GenerateOptions = {}): Promise<GenerateResult> {
  return generateFromConfig(await resolveConfig(options), options);
}

async function resolveConfig(options: ApiOptions): Promise<LoadedConfig> {
  return loadConfig(options.config, options.cwd ?? process.cwd());
}
