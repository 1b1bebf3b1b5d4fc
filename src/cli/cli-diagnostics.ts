// How the CLI shows the scanner's diagnostics: paths relative to the working directory (the
// scanner's are relative to the config), code frames and colour only on a terminal.
import { relative } from 'node:path';
import type { LoadedConfig } from '../config/config.js';
import { toPosixPath } from '../config/posix-path.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import { formatDiagnostic } from '../diagnostics/format.js';
import type { CliIo } from './main.js';

/** A diagnostic with its paths (config-relative) made relative to the working directory, as the CLI shows them. */
export function fromCwd(loaded: LoadedConfig, cwd: string, d: Diagnostic): Diagnostic {
  return { ...d, file: relativeTo(loaded, cwd, d.file), related: d.related.map((r) => ({ ...r, file: relativeTo(loaded, cwd, r.file) })) };
}

/** A scan's diagnostics on stderr, paths relative to the working directory; code frames and colour on a terminal. */
export function printDiagnostics(loaded: LoadedConfig, scanned: { diagnostics: readonly Diagnostic[]; sources: ReadonlyMap<string, string> }, io: CliIo): void {
  const sources = new Map<string, string>();
  for (const [file, text] of scanned.sources) sources.set(relativeTo(loaded, io.cwd, file), text);
  const tty = Boolean(io.stderr.isTTY);
  for (const d of scanned.diagnostics) io.stderr.write(`${formatDiagnostic(fromCwd(loaded, io.cwd, d), { sources, color: tty, frames: tty })}\n`);
}

/** A config-relative (or absolute) path as the CLI shows it: relative to the working directory. */
export function relativeTo(loaded: LoadedConfig, cwd: string, file: string): string {
  const absolute = file.startsWith('/') ? file : `${loaded.root}/${file}`;
  return toPosixPath(relative(cwd, absolute) || file);
}
