// Human output in the shape compilers use: `path:line:col: error GMxxxx: message`, then a code
// frame with a caret under the flagged span (colour only when the stream is a terminal).
import type { Diagnostic } from './diagnostic.js';

export interface FormatOptions {
  /** Source text by diagnostic file, for code frames; files not here get no frame. */
  sources?: ReadonlyMap<string, string>;
  color?: boolean;
  /** Show a code frame (default: when sources are given). */
  frames?: boolean;
}

const paint = (on: boolean, code: string, text: string) => (on ? `\u001b[${code}m${text}\u001b[0m` : text);

export function formatDiagnostic(d: Diagnostic, options: FormatOptions = {}): string {
  const color = options.color ?? false;
  const head =
    `${paint(color, '1', `${d.file}:${d.line}:${d.column}`)}: ` +
    `${paint(color, d.severity === 'error' ? '31' : '33', d.severity)} ${paint(color, '2', d.code)}: ${d.message}`;
  const lines = [head];
  const source = options.sources?.get(d.file);
  if (source !== undefined && options.frames !== false) lines.push(...codeFrame(source, d.line, d.column, d.length, color));
  for (const r of d.related) lines.push(`  ${r.file}:${r.line}:${r.column}: ${r.message}`);
  return lines.join('\n');
}

export function formatDiagnostics(list: readonly Diagnostic[], options: FormatOptions = {}): string {
  return list.map((d) => formatDiagnostic(d, options)).join('\n');
}

function codeFrame(source: string, line: number, column: number, length: number, color: boolean): string[] {
  const all = source.split(/\r?\n/);
  const text = all[line - 1];
  if (text === undefined) return [];
  const gutter = String(line).length;
  const out: string[] = [];
  if (line > 1 && all[line - 2] !== undefined) out.push(`  ${String(line - 1).padStart(gutter)} | ${all[line - 2]}`);
  out.push(`> ${String(line)} | ${text}`);
  const span = Math.max(1, Math.min(length, text.length - column + 1));
  out.push(`  ${' '.repeat(gutter)} | ${' '.repeat(Math.max(0, column - 1))}${paint(color, '31', '^'.repeat(span))}`);
  return out;
}
