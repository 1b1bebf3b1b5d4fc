// gen-modules: argv -> API -> exit code. 0 ok; 1 errors in the sources or stale outputs under
// --check; 2 usage or config errors. Nothing below prints a stack trace for user mistakes.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { ConfigError, loadConfig, type LoadedConfig } from '../config/config.js';
import { generateFromConfig, type GenerateResult } from '../codegen/generate.js';
import { formatDiagnostic } from '../diagnostics/format.js';
import { hasErrors, type Diagnostic } from '../diagnostics/diagnostic.js';
import { parseArgs, UsageError } from './args.js';
import { runProbe } from './probe-command.js';
import { watchAndGenerate } from './watch.js';

export const HELP = `gen-modules: generate typed lazy-loading driver tables and probe indexes

Usage:
  gen-modules [--config FILE] [--check] [--watch] [--json]   generate (default), check, or watch
  gen-modules probe [--config FILE] [--json] FILE...         how the probe index decides, loading no driver
  gen-modules --help | --version

Options:
  --config FILE   config file (default: gen-modules.config.{ts,mts,json} in the current folder)
  --check         do not write; exit 1 when a generated file is missing or stale
  --watch         regenerate when driver files change
  --json          machine-readable output (diagnostics and results) on stdout

Exit status: 0 ok, 1 errors in the sources or stale output under --check, 2 usage or config error.
`;

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  cwd: string;
}

export async function main(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() }): Promise<number> {
  try {
    const args = parseArgs(argv);
    if (args.help) {
      io.stdout.write(HELP);
      return 0;
    }
    if (args.version) {
      io.stdout.write(`${version()}\n`);
      return 0;
    }
    const loaded = await loadConfig(args.config, io.cwd);
    if (args.command === 'probe') return await runProbe(loaded, args.files, args.json, io);
    if (args.watch) return await watchAndGenerate(loaded, io, (result) => report(loaded, result, args, io));
    const result = await generateFromConfig(loaded, { check: args.check });
    return report(loaded, result, args, io);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      io.stderr.write(`gen-modules: ${error.message}\n`);
      if (error instanceof UsageError) io.stderr.write(`Run 'gen-modules --help' for usage.\n`);
      return 2;
    }
    throw error;
  }
}

/** Prints the result of one generation and returns the exit code. */
export function report(loaded: LoadedConfig, result: GenerateResult, args: { check: boolean; json: boolean }, io: CliIo): number {
  const shown = (d: Diagnostic) => relativeTo(loaded, io.cwd, d.file);
  const out = relative(io.cwd, result.out) || result.out;
  const failed = hasErrors(result.diagnostics) || result.outcome === 'stale';
  if (args.json) {
    io.stdout.write(
      `${JSON.stringify(
        {
          ok: !failed,
          outcome: result.outcome,
          out,
          drivers: result.drivers.map((d) => ({ name: d.name, kind: d.kind, state: d.state, file: relativeTo(loaded, io.cwd, d.file) })),
          diagnostics: result.diagnostics.map((d) => ({
            ...d,
            file: shown(d),
            related: d.related.map((r) => ({ ...r, file: relativeTo(loaded, io.cwd, r.file) })),
          })),
        },
        null,
        2,
      )}\n`,
    );
    return failed ? 1 : 0;
  }
  const sources = new Map<string, string>();
  for (const [file, text] of result.sources) sources.set(relativeTo(loaded, io.cwd, file), text);
  for (const diagnostic of result.diagnostics) {
    const local = {
      ...diagnostic,
      file: shown(diagnostic),
      related: diagnostic.related.map((r) => ({ ...r, file: relativeTo(loaded, io.cwd, r.file) })),
    };
    io.stderr.write(`${formatDiagnostic(local, { sources, color: Boolean(io.stderr.isTTY), frames: Boolean(io.stderr.isTTY) })}\n`);
  }
  if (result.outcome === 'stale') {
    io.stderr.write(`${out} is stale: run 'gen-modules' to regenerate it\n`);
  } else if (result.outcome === 'skipped') {
    const count = result.diagnostics.filter((d) => d.severity === 'error').length;
    io.stderr.write(`${count} error${count === 1 ? '' : 's'}; ${out} was not written\n`);
  } else if (!args.check) {
    io.stdout.write(`${out}: ${result.outcome} (${result.drivers.length} drivers)\n`);
  }
  return failed ? 1 : 0;
}

function relativeTo(loaded: LoadedConfig, cwd: string, file: string): string {
  const absolute = file.startsWith('/') ? file : `${loaded.root}/${file}`;
  return (relative(cwd, absolute) || file).split('\\').join('/');
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
