// The words of a probe explanation. The compiled index and the reference interpreter decide
// independently whether a test holds and what it read; both then say so with these functions, so
// that their `because` lists can be compared string for string. Offsets and integer values are
// shown in hex (as in QEMU's sources and format specs), lengths in decimal.
import type { IntComparison } from '../model.js';

export const hexInt = (value: number | bigint): string => `0x${value.toString(16)}`;

/** `0x40`, or `-0x200 from the end` for tail offsets. */
export const offsetText = (at: number): string => (at < 0 ? `-${hexInt(-at)} from the end` : hexInt(at));

const HEX_DIGITS = '0123456789abcdef';

/** Bytes as `51 46 49 fb`. */
export function hexBytes(bytes: ArrayLike<number>): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]! & 0xff;
    out += `${i === 0 ? '' : ' '}${HEX_DIGITS[b >> 4]}${HEX_DIGITS[b & 15]}`;
  }
  return out;
}

/** A latin1 byte string as a double-quoted literal with C escapes, shortened past `limit` characters. */
export function quoteBytes(text: string, limit = 32): string {
  const shown = text.length > limit ? text.slice(0, limit) : text;
  let out = '"';
  for (let i = 0; i < shown.length; i++) {
    const c = shown.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c >= 0x20 && c < 0x7f) out += shown[i];
    else if (c <= 0xff) out += `\\x${HEX_DIGITS[c >> 4]}${HEX_DIGITS[c & 15]}`;
    else out += `\\u${c.toString(16).padStart(4, '0')}`;
  }
  return `${out}"${text.length > limit ? `… (${text.length} bytes)` : ''}`;
}

/** `bufferSize` is QEMU's buf_size: 512 when padded, else min(file size, 512), whatever was read. */
export const reasonMinLength = (min: number, bufferSize: number): string => `at least ${min} bytes of probe data (the probe buffer holds ${bufferSize})`;

export const reasonSuffix = (suffix: string): string => `file name ends in ${quoteBytes(suffix)}`;

/**
 * A byte comparison: `kind` is how it was declared (`bytes`, `hex`, `cstring`), `expected` the
 * declared text or hex; `read` is shown only for masked comparisons, where it may differ.
 */
export function reasonBytes(kind: 'bytes' | 'hex' | 'cstring', expected: string, at: number, mask?: string, read?: ArrayLike<number>): string {
  const shown = kind === 'hex' ? `bytes ${expected.toLowerCase()}` : kind === 'cstring' ? `NUL-terminated ${quoteBytes(expected)}` : `bytes ${quoteBytes(expected)}`;
  const masked = mask !== undefined ? ` under mask ${mask.toLowerCase()} (read ${hexBytes(read ?? [])})` : '';
  return `${shown} at ${offsetText(at)}${masked}`;
}

export const reasonPrefix = (prefix: string, at: number, compared: number): string =>
  `prefix ${quoteBytes(prefix)} at ${offsetText(at)}: the ${compared} byte${compared === 1 ? '' : 's'} present match${compared === prefix.length ? '' : ` (of ${prefix.length})`}`;

/** The declared comparison, value by value in hex; `mask` is reported separately. */
export function comparisonText(comparison: IntComparison): string {
  const int = (v: number | string) => hexInt(BigInt(v));
  if (typeof comparison === 'number' || typeof comparison === 'string') return `= ${int(comparison)}`;
  const parts: string[] = [];
  if (comparison.eq !== undefined) parts.push(`= ${int(comparison.eq)}`);
  if (comparison.ne !== undefined) parts.push(`!= ${int(comparison.ne)}`);
  if (comparison.min !== undefined) parts.push(`>= ${int(comparison.min)}`);
  if (comparison.max !== undefined) parts.push(`<= ${int(comparison.max)}`);
  if (comparison.in !== undefined) parts.push(`in {${comparison.in.map(int).join(', ')}}`);
  return parts.join(', ');
}

/** `u32be at 0x4 = 0x3 (>= 0x2)`; with a mask: `u32le at 0x10 = 0x10002, & 0xffff = 0x2 (= 0x2)`. */
export function reasonInt(key: string, at: number, raw: number | bigint, comparison: IntComparison, masked?: number | bigint): string {
  const mask = typeof comparison === 'object' && comparison.mask !== undefined ? comparison.mask : undefined;
  const maskPart = mask !== undefined ? `, & ${hexInt(BigInt(mask))} = ${hexInt(masked ?? 0)}` : '';
  return `${key} at ${offsetText(at)} = ${hexInt(raw)}${maskPart} (${comparisonText(comparison)})`;
}

export const reasonAny = (index: number, count: number, reasons: readonly string[]): string =>
  `alternative ${index + 1} of ${count}: ${reasons.join(' and ')}`;

export const reasonModule = (id: string, score: number): string => `probe module ${id} answered ${score}`;
