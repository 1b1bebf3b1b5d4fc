// Validation of declared probe signatures: the scanner reports every problem as a diagnostic, so
// the compiler and the runtime evaluator can trust the shape of what they get.
import type { ConstValue, ProbeSignature } from '../model.js';

const INT_KEYS = { u8: 8, u16le: 16, u16be: 16, u32le: 32, u32be: 32, u64le: 64, u64be: 64 } as const;
export type IntKey = keyof typeof INT_KEYS;
export const intWidth = (key: IntKey): number => INT_KEYS[key];
export const isIntKey = (key: string): key is IntKey => key in INT_KEYS;

const TEST_SHAPES: Record<string, readonly string[]> = {
  bytes: ['at', 'bytes', 'mask'],
  hex: ['at', 'hex', 'mask'],
  cstring: ['at', 'cstring'],
  prefix: ['at', 'prefix'],
  suffix: ['suffix'],
  minLength: ['minLength'],
  any: ['any'],
  ...Object.fromEntries(Object.keys(INT_KEYS).map((k) => [k, ['at', k]])),
};

/** Largest offset magnitude a probe may name: probes read at most this much of each end. */
export const MAX_PROBE_OFFSET = 1 << 20;

/** QEMU's BLOCK_PROBE_BUF_SIZE (the runtime's PROBE_BUFFER_SIZE). */
const PROBE_BUFFER_BYTES = 512;

/** Returns a list of problems, each a sentence naming the path inside the probe option. */
export function validateProbes(value: ConstValue, path = 'probe'): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) return [`${path} is an empty list`];
  return list.flatMap((signature, i) => validateSignature(signature, Array.isArray(value) ? `${path}[${i}]` : path));
}

function validateSignature(value: ConstValue, path: string): string[] {
  if (!isObject(value)) return [`${path} must be an object { score, match?, module? }`];
  const problems: string[] = [];
  for (const key of Object.keys(value)) {
    if (!['score', 'match', 'module'].includes(key)) problems.push(`${path} has an unknown key '${key}'`);
  }
  const score = value.score;
  if (typeof score !== 'number' || !Number.isInteger(score) || score < 1 || score > 100) {
    problems.push(`${path}.score must be an integer from 1 to 100 (100 definite, 2 weak)`);
  }
  // Relative to the driver's file: an absolute path would make the table depend on the machine.
  if (value.module !== undefined && (typeof value.module !== 'string' || value.module === '' || value.module.startsWith('/') || /^[A-Za-z]:[\\/]|^\\/.test(value.module))) {
    problems.push(`${path}.module must be a relative path to a probe module`);
  }
  if (value.match === undefined) {
    if (value.module === undefined) problems.push(`${path} needs 'match' (or a 'module' with a guard)`);
  } else {
    const tests = Array.isArray(value.match) ? value.match : [value.match];
    tests.forEach((test, i) => problems.push(...validateTest(test, Array.isArray(value.match) ? `${path}.match[${i}]` : `${path}.match`)));
  }
  return problems;
}

function validateTest(test: ConstValue, path: string): string[] {
  if (!isObject(test)) return [`${path} must be an object such as { at: 0, bytes: 'QED\\0' }`];
  const kinds = Object.keys(test).filter((k) => k in TEST_SHAPES);
  if (kinds.length !== 1) {
    return [
      kinds.length === 0
        ? `${path} names no test (one of ${Object.keys(TEST_SHAPES).join(', ')})`
        : `${path} mixes tests ${kinds.join(' and ')}; write them as separate list items`,
    ];
  }
  const kind = kinds[0]!;
  const allowed = TEST_SHAPES[kind]!;
  const problems = Object.keys(test)
    .filter((k) => !allowed.includes(k))
    .map((k) => `${path} has an unknown key '${k}' for a '${kind}' test`);
  if (allowed.includes('at')) {
    const offset = test.at;
    if (typeof offset !== 'number' || !Number.isInteger(offset) || Math.abs(offset) > MAX_PROBE_OFFSET) {
      problems.push(`${path}.at must be an integer offset within ±${MAX_PROBE_OFFSET} (negative counts from the end)`);
    }
  }
  const value = test[kind];
  switch (kind) {
    case 'bytes':
    case 'cstring':
    case 'prefix':
    case 'suffix':
      if (typeof value !== 'string' || value.length === 0) problems.push(`${path}.${kind} must be a non-empty string`);
      else if (kind !== 'suffix' && /[^\u0000-\u00ff]/.test(value)) {
        problems.push(`${path}.${kind} must be latin1 bytes (characters \\x00-\\xff)`);
      }
      break;
    case 'hex':
      if (typeof value !== 'string' || !/^([0-9a-fA-F]{2})+$/.test(value)) problems.push(`${path}.hex must be an even number of hex digits`);
      break;
    case 'minLength':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_PROBE_OFFSET) {
        problems.push(`${path}.minLength must be an integer from 0 to ${MAX_PROBE_OFFSET}`);
      }
      break;
    case 'any':
      if (!Array.isArray(value) || value.length === 0) problems.push(`${path}.any must be a non-empty list of alternatives`);
      else {
        value.forEach((alt, i) => {
          const tests = Array.isArray(alt) ? alt : [alt];
          tests.forEach((t, j) => problems.push(...validateTest(t, Array.isArray(alt) ? `${path}.any[${i}][${j}]` : `${path}.any[${i}]`)));
        });
      }
      break;
    default:
      problems.push(...validateComparison(value, INT_KEYS[kind as IntKey], `${path}.${kind}`));
  }
  problems.push(...windowProblems(test, kind, path));
  if (test.mask !== undefined) {
    const length = kind === 'hex' ? String(test.hex).length / 2 : String(test.bytes ?? '').length;
    if (typeof test.mask !== 'string' || !/^([0-9a-fA-F]{2})+$/.test(test.mask) || test.mask.length / 2 !== length) {
      problems.push(`${path}.mask must be hex digits, one byte per byte compared (${length})`);
    }
  }
  return problems;
}

/** QEMU's probe buffer is 512 bytes: a head test past it, or a tail test past the end, never holds. */
function windowProblems(test: { readonly [key: string]: ConstValue }, kind: string, path: string): string[] {
  if (kind === 'minLength') {
    return typeof test.minLength === 'number' && test.minLength > PROBE_BUFFER_BYTES
      ? [`${path}.minLength ${test.minLength} can never hold: QEMU probes at most ${PROBE_BUFFER_BYTES} bytes`]
      : [];
  }
  const at = test.at;
  const value = test[kind];
  if (typeof at !== 'number' || !Number.isInteger(at)) return [];
  let length = 0;
  if (kind === 'bytes' || kind === 'prefix') length = typeof value === 'string' ? value.length : 0;
  else if (kind === 'cstring') length = typeof value === 'string' ? value.length + 1 : 0;
  else if (kind === 'hex') length = typeof value === 'string' ? value.length >> 1 : 0;
  else if (isIntKey(kind)) length = intWidth(kind) / 8;
  else return [];
  if (at >= 0) {
    // A prefix is compared only as far as the data goes, so it needs only its first byte inside.
    const end = kind === 'prefix' ? at + 1 : at + length;
    return end > PROBE_BUFFER_BYTES
      ? [`${path} looks at bytes up to offset ${end - 1}, past QEMU's ${PROBE_BUFFER_BYTES}-byte probe buffer (use a negative offset for the end of the file)`]
      : [];
  }
  return kind !== 'prefix' && at + length > 0 ? [`${path} reads ${length} bytes at ${at}, past the end of the file`] : [];
}

function validateComparison(value: ConstValue | undefined, bits: number, path: string): string[] {
  if (typeof value === 'number' || typeof value === 'string') return checkInt(value, bits, path);
  if (!isObject(value)) return [`${path} must be a number or { eq | ne | min | max | in | mask }`];
  const problems: string[] = [];
  const keys = Object.keys(value);
  for (const key of keys) {
    if (!['eq', 'ne', 'min', 'max', 'in', 'mask'].includes(key)) problems.push(`${path} has an unknown key '${key}'`);
  }
  if (!keys.some((k) => k !== 'mask')) problems.push(`${path} compares nothing (give eq, ne, min, max or in)`);
  for (const key of ['eq', 'ne', 'min', 'max', 'mask'] as const) {
    if (value[key] !== undefined) problems.push(...checkInt(value[key]!, bits, `${path}.${key}`));
  }
  if (value.in !== undefined) {
    if (!Array.isArray(value.in) || value.in.length === 0) problems.push(`${path}.in must be a non-empty list`);
    else value.in.forEach((v, i) => problems.push(...checkInt(v, bits, `${path}.in[${i}]`)));
  }
  return problems;
}

/** Parses a declared integer (number, or decimal/hex string for 64-bit values). */
export function parseProbeInt(value: ConstValue): bigint | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : undefined;
  if (typeof value === 'string' && /^(0x[0-9a-fA-F]+|\d+)$/.test(value)) return BigInt(value);
  return undefined;
}

function checkInt(value: ConstValue, bits: number, path: string): string[] {
  const parsed = parseProbeInt(value);
  if (parsed === undefined || parsed < 0n || parsed >= 1n << BigInt(bits)) {
    return [`${path} must be an unsigned ${bits}-bit integer (a number, or a "0x..." string above 2^53)`];
  }
  return [];
}

function isObject(value: ConstValue | undefined): value is { readonly [key: string]: ConstValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The declared probes as a list (the decorator accepts one probe or a list). */
export function probeList(value: ConstValue | undefined): ProbeSignature[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]) as unknown as ProbeSignature[];
}
