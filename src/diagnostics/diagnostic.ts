// Diagnostics are data: the scanner, the config loader and the generator collect them and never
// throw on user input; only the edges (CLI, bundler plugins) decide to exit or fail a build.
import type { SourceLocation } from '../model.js';
import { byCodeUnit } from '../by-code-unit.js';

export type Severity = 'error' | 'warning';

export interface RelatedLocation extends SourceLocation {
  message: string;
}

export interface Diagnostic {
  /** Stable code, `GM` + four digits; see codes.ts. */
  code: string;
  severity: Severity;
  /** Path relative to the config folder (or absolute when outside it), forward slashes. */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units like TypeScript and editors. */
  column: number;
  /** Length of the flagged span in characters (for code frames); at least 1. */
  length: number;
  message: string;
  related: RelatedLocation[];
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

/** Total order: file, line, column, code, message (plain code-unit comparison). */
export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  return (
    byCodeUnit(a.file, b.file) || a.line - b.line || a.column - b.column || byCodeUnit(a.code, b.code) || byCodeUnit(a.message, b.message)
  );
}
