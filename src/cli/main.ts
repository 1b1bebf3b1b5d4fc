// gen-modules: argv -> API -> exit code. 0 ok; 1 errors in the sources or stale outputs under
// --check; 2 usage or config errors. Nothing below prints a stack trace for user mistakes.
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { ConfigError, loadConfig, type LoadedConfig } from '../config/config.js';
import { generateFromConfig, type GenerateResult } from '../codegen/generate.js';
import { WriteError } from '../codegen/write-file.js';
import { scanCacheEnabled } from '../scanner/scan-cache.js';
import { hasErrors } from '../diagnostics/diagnostic.js';
import { formatDiagnostic } from '../diagnostics/format.js';
import { parseArgs, UsageError, type CliArgs } from './args.js';
import { fromCwd, printDiagnostics, relativeTo } from './cli-diagnostics.js';
import { progressLine, watchAndGenerate } from './watch.js';
import { toPosixPath } from '../config/posix-path.js';

export const HELP = `gen-modules: generate typed lazy-loading driver tables and probe indexes

Usage:
  gen-modules [--config FILE] [--check] [--watch] [--json] [--no-cache]
                                                             generate (default), check, or watch
  gen-modules probe [--config FILE] [--json] FILE...         how the probe index decides, loading no driver
  gen-modules report [--out FILE] MANIFEST                   an HTML page of chunk sizes from a build manifest
  gen-modules --help | --version

Options:
  --config FILE   config file (default: gen-modules.config.{ts,mts,json} in the current folder)
  --check         do not write; exit 1 when a generated file is missing or stale
  --watch         regenerate when driver files change
  --json          machine-readable output (diagnostics and results) on stdout
  --no-cache      scan every file, even when no input changed since the last clean scan
                  (kept in node_modules/.cache/gen-modules; GEN_MODULES_CACHE=0 turns it off)

Exit status: 0 ok, 1 errors in the sources or stale output under --check, 2 usage or config error
(or an output that cannot be written).
`;

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  cwd: string;
}

export async function main(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() }): Promise<number> {
  let args: CliArgs | undefined;
  try {
    args = parseArgs(argv);
    if (args.help) {
      io.stdout.write(HELP);
      return 0;
    }
    if (args.version) {
      io.stdout.write(`${version()}\n`);
      return 0;
    }
    if (args.command === 'report') {
      const { runReport } = await import('./report-command.js');
      return await runReport(resolve(io.cwd, args.files[0]!), args.out === undefined ? undefined : resolve(io.cwd, args.out), io);
    }
    const loaded = await loadConfig(args.config, io.cwd);
    // The probe command (and the runtime's probe evaluator it uses) loads only when asked for.
    if (args.command === 'probe') return await (await import('./probe-command.js')).runProbe(loaded, args.files, args.json, io);
    const flags = args;
    if (args.watch) return await watchAndGenerate(loaded, io, (result) => report(loaded, result, flags, io));
    const progress = progressLine(io);
    const result = await generateFromConfig(loaded, { check: args.check, onProgress: progress.update, cache: !args.noCache && scanCacheEnabled() });
    progress.clear();
    return report(loaded, result, args, io);
  } catch (error) {
    if (error instanceof ConfigError) return reportConfigError(error, args?.json ?? argv.includes('--json'), io);
    if (error instanceof WriteError) {
      if (args?.json ?? argv.includes('--json')) io.stdout.write(`${JSON.stringify({ ok: false, outcome: 'write-error', file: toPosixPath(relative(io.cwd, error.file)), message: error.message }, null, 2)}\n`);
      else io.stderr.write(`gen-modules: ${error.message}\n`);
      return 2;
    }
    if (error instanceof UsageError) {
      io.stderr.write(`gen-modules: ${error.message}\n`);
      io.stderr.write(`Run 'gen-modules --help' for usage.\n`);
      return 2;
    }
    throw error;
  }
}

/** A config that does not load or validate: every problem with its place, exit 2. */
function reportConfigError(error: ConfigError, json: boolean, io: CliIo): number {
  if (json) {
    const diagnostics = error.diagnostics.length > 0 ? error.diagnostics : [{ code: 'GM9001', severity: 'error', file: '', line: 1, column: 1, length: 1, message: error.message, related: [] }];
    io.stdout.write(`${JSON.stringify({ ok: false, outcome: 'config-error', diagnostics }, null, 2)}\n`);
    return 2;
  }
  if (error.diagnostics.length === 0) {
    io.stderr.write(`gen-modules: ${error.message}\n`);
    return 2;
  }
  const tty = Boolean(io.stderr.isTTY);
  const sources = new Map<string, string>();
  for (const d of error.diagnostics) {
    if (sources.has(d.file)) continue;
    try {
      sources.set(d.file, readFileSync(resolve(io.cwd, d.file), 'utf8'));
    } catch {
      // no frame for a file we cannot read
    }
  }
  for (const d of error.diagnostics) io.stderr.write(`${formatDiagnostic(d, { sources, color: tty, frames: tty })}\n`);
  return 2;
}

/** Prints the result of one generation and returns the exit code. */
export function report(loaded: LoadedConfig, result: GenerateResult, args: { check: boolean; json: boolean }, io: CliIo): number {
  const out = relative(io.cwd, result.out) || result.out;
  const failed = hasErrors(result.diagnostics) || result.outcome === 'stale';
  if (args.json) {
    io.stdout.write(
      `${JSON.stringify(
        {
          ok: !failed,
          outcome: result.outcome,
          out,
          outputs: result.outputs.map((o) => ({ registry: o.registry, out: relative(io.cwd, o.out) || o.out, outcome: o.outcome })),
          drivers: result.drivers.map((d) => ({
            registry: d.registry,
            name: d.name,
            kind: d.kind,
            state: d.state,
            file: relativeTo(loaded, io.cwd, d.file),
            exportName: d.exportName,
            ...(d.package ? { package: d.package.name } : {}),
          })),
          diagnostics: result.diagnostics.map((d) => fromCwd(loaded, io.cwd, d)),
          // What this run read: for build caches and watchers (relative to the working directory).
          inputs: result.inputs.map((f) => relativeTo(loaded, io.cwd, f)),
          // Files listed, pre-filter candidates, read, parsed, and reused (scan cache or watch).
          stats: result.stats,
        },
        null,
        2,
      )}\n`,
    );
    return failed ? 1 : 0;
  }
  printDiagnostics(loaded, result, io);
  if (result.outcome === 'stale') {
    for (const output of result.outputs.filter((o) => o.outcome === 'stale')) {
      io.stderr.write(`${relative(io.cwd, output.out) || output.out} is stale: run 'gen-modules' to regenerate it\n`);
    }
  } else if (result.outcome === 'skipped') {
    const count = result.diagnostics.filter((d) => d.severity === 'error').length;
    const names = result.outputs.map((o) => relative(io.cwd, o.out) || o.out).join(', ');
    io.stderr.write(`${count} error${count === 1 ? '' : 's'}; ${names || out} ${result.outputs.length > 1 ? 'were' : 'was'} not written\n`);
  } else if (!args.check) {
    for (const output of result.outputs) {
      const count = result.drivers.filter((d) => d.registry === output.registry).length;
      io.stdout.write(`${relative(io.cwd, output.out) || output.out}: ${output.outcome} (${count} driver${count === 1 ? '' : 's'})\n`);
    }
  }
  return failed ? 1 : 0;
}

function version(): string {
  // The same code runs from src/cli (tests) and from the bundled dist/: look upwards.
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'gen-modules') return pkg.version;
    } catch {
      // try the next folder up
    }
  }
  return 'unknown';
}
