// Evaluating probe signatures on an image's bytes, with QEMU's semantics: the highest score wins,
// a later candidate must score strictly higher, raw answers 1 when nobody else scores, and a
// definite match (100) ends the evaluation since nothing can beat it. No driver is loaded to
// decide; a probe module (vmdk's text descriptor) is loaded only when its guard matched.
import type { ProbeData, ProbeTest } from '../model.js';

/** The highest score any probe can return. */
export const DEFINITE_SCORE = 100;
/** Raw's score: it wins only when nothing else scores. */
export const RAW_SCORE = 1;
/** QEMU's BLOCK_PROBE_BUF_SIZE. */
export const PROBE_BUFFER_SIZE = 512;

/** A probe after generation: one list of tests, module paths replaced by ids in the table. */
export interface IndexedProbe {
  score: number;
  tests: readonly ProbeTest[];
  /** Id of a probe module in the table's `probeModules`; its default export decides the score. */
  module?: string;
}

/** What the generator emits: plain JSON data. */
export interface ProbeIndex {
  /** Bytes needed from the start of the file. */
  headBytes: number;
  /** Bytes needed from the end of the file (for negative offsets). */
  tailBytes: number;
  /** Format drivers with probes, in tie-break order (driver name, code-unit order). */
  drivers: readonly { name: string; probes: readonly IndexedProbe[] }[];
}

export interface ProbeMatch {
  driver: string;
  score: number;
  /** Why it matched: one line per test, e.g. `u32be at 0 = 0x514649fb`. */
  because: string[];
  /** The probe module consulted, if any. */
  module?: string;
}

export interface ProbeResult {
  format: string;
  score: number;
  /** Every signature that matched, in evaluation order. */
  matched: ProbeMatch[];
  /** Bytes of the file the probe looked at (head + tail). */
  bytesRead: number;
  /** Probe modules loaded to decide. */
  modulesLoaded: string[];
}

export type ProbeModule = (data: ProbeData) => number;
export type ProbeModuleLoader = (id: string) => Promise<ProbeModule>;

/** Evaluate an index on an image's bytes. `data.head`/`data.tail` hold at least what the index asks. */
export async function probeWithIndex(index: ProbeIndex, data: ProbeData, loadModule: ProbeModuleLoader): Promise<ProbeResult> {
  const result: ProbeResult = { format: 'raw', score: RAW_SCORE, matched: [], bytesRead: data.head.length + data.tail.length, modulesLoaded: [] };
  // QEMU: an empty image is raw without asking any driver.
  if (data.size === 0) return result;
  const view = { ...data, head: data.head.subarray(0, Math.min(data.head.length, PROBE_BUFFER_SIZE)) };
  for (const driver of index.drivers) {
    let best = 0;
    for (const probe of driver.probes) {
      if (probe.score <= best) continue;
      const because: string[] = [];
      if (!probe.tests.every((test) => evaluateTest(test, view, because))) continue;
      let score = probe.score;
      if (probe.module !== undefined) {
        const decide = await loadModule(probe.module);
        result.modulesLoaded.push(probe.module);
        score = Math.min(probe.score, Math.max(0, Math.trunc(Number(decide(view)) || 0)));
        because.push(`probe module ${probe.module} answered ${score}`);
        if (score === 0) continue;
      }
      result.matched.push({ driver: driver.name, score, because, ...(probe.module ? { module: probe.module } : {}) });
      best = score;
    }
    if (best > result.score) {
      result.format = driver.name;
      result.score = best;
      if (best >= DEFINITE_SCORE) break;
    }
  }
  return result;
}

/** One test; pushes a human reason when it holds. Never throws, whatever the bytes. */
export function evaluateTest(test: ProbeTest, data: ProbeData, because: string[]): boolean {
  if ('minLength' in test) {
    if (data.head.length < test.minLength) return false;
    because.push(`at least ${test.minLength} bytes`);
    return true;
  }
  if ('suffix' in test) {
    const name = data.filename;
    if (!(name.length > test.suffix.length && name.endsWith(test.suffix))) return false;
    because.push(`file name ends in ${JSON.stringify(test.suffix)}`);
    return true;
  }
  if ('any' in test) {
    for (const alternative of test.any) {
      const list = (Array.isArray(alternative) ? alternative : [alternative]) as readonly ProbeTest[];
      const reasons: string[] = [];
      if (list.every((t) => evaluateTest(t, data, reasons))) {
        because.push(reasons.join(' and '));
        return true;
      }
    }
    return false;
  }
  const at = test.at;
  if ('prefix' in test) {
    const window = bytesAt(data, at, Math.min(test.prefix.length, available(data, at)));
    if (window === undefined) return false;
    for (let i = 0; i < window.length; i++) if (window[i] !== test.prefix.charCodeAt(i)) return false;
    because.push(`the first ${window.length} bytes at ${at} match the prefix ${describeText(test.prefix)}`);
    return true;
  }
  if ('bytes' in test || 'hex' in test || 'cstring' in test) {
    const expected = 'hex' in test ? hexBytes(test.hex) : latin1('bytes' in test ? test.bytes : `${test.cstring}\0`);
    const mask = 'mask' in test && test.mask !== undefined ? hexBytes(test.mask) : undefined;
    const window = bytesAt(data, at, expected.length);
    if (window === undefined) return false;
    for (let i = 0; i < expected.length; i++) {
      const m = mask ? mask[i]! : 0xff;
      if ((window[i]! & m) !== (expected[i]! & m)) return false;
    }
    const shown = 'cstring' in test ? `NUL-terminated ${describeText(test.cstring)}` : 'bytes' in test ? describeText(test.bytes) : test.hex;
    because.push(`${shown} at ${at}${mask ? ' (masked)' : ''}`);
    return true;
  }
  const [key, width, little] = intField(test);
  const window = bytesAt(data, at, width / 8);
  if (window === undefined) return false;
  let value = 0n;
  for (let i = 0; i < window.length; i++) {
    const byte = BigInt(window[little ? window.length - 1 - i : i]!);
    value = (value << 8n) | byte;
  }
  const comparison = (test as Record<string, unknown>)[key];
  const verdict = compareInt(value, comparison);
  if (!verdict) return false;
  because.push(`${key} at ${at} = 0x${value.toString(16)} (${verdict})`);
  return true;
}

function intField(test: ProbeTest): [string, number, boolean] {
  for (const key of ['u8', 'u16le', 'u16be', 'u32le', 'u32be', 'u64le', 'u64be']) {
    if (key in test) return [key, key === 'u8' ? 8 : Number(key.slice(1, -2)), key.endsWith('le')];
  }
  return ['u8', 8, false];
}

function toBig(value: unknown): bigint {
  return typeof value === 'bigint' ? value : BigInt(value as number | string);
}

/** Returns a description of why the comparison holds, or '' when it does not. */
function compareInt(raw: bigint, comparison: unknown): string {
  if (typeof comparison === 'number' || typeof comparison === 'string') {
    return raw === toBig(comparison) ? `= ${String(comparison)}` : '';
  }
  const c = comparison as { eq?: unknown; ne?: unknown; min?: unknown; max?: unknown; in?: unknown[]; mask?: unknown };
  const value = c.mask !== undefined ? raw & toBig(c.mask) : raw;
  const parts: string[] = [];
  if (c.mask !== undefined) parts.push(`masked with 0x${toBig(c.mask).toString(16)}`);
  if (c.eq !== undefined) {
    if (value !== toBig(c.eq)) return '';
    parts.push(`= ${String(c.eq)}`);
  }
  if (c.ne !== undefined) {
    if (value === toBig(c.ne)) return '';
    parts.push(`!= ${String(c.ne)}`);
  }
  if (c.min !== undefined) {
    if (value < toBig(c.min)) return '';
    parts.push(`>= ${String(c.min)}`);
  }
  if (c.max !== undefined) {
    if (value > toBig(c.max)) return '';
    parts.push(`<= ${String(c.max)}`);
  }
  if (c.in !== undefined) {
    if (!c.in.some((v) => toBig(v) === value)) return '';
    parts.push(`in [${c.in.map(String).join(', ')}]`);
  }
  return parts.join(', ');
}

/** Bytes the probe can see at `at` (negative: from the end), or undefined when out of range. */
function bytesAt(data: ProbeData, at: number, length: number): Uint8Array | undefined {
  if (at >= 0) {
    if (at + length > data.head.length) return undefined;
    return data.head.subarray(at, at + length);
  }
  // Negative offsets address the file's tail; the tail buffer ends at the end of the file.
  const start = data.tail.length + at;
  if (-at > data.size || start < 0 || start + length > data.tail.length) return undefined;
  return data.tail.subarray(start, start + length);
}

function available(data: ProbeData, at: number): number {
  return at >= 0 ? Math.max(0, data.head.length - at) : Math.max(0, Math.min(-at, data.tail.length));
}

function latin1(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function describeText(text: string): string {
  const shown = text.length > 24 ? `${text.slice(0, 24)}…` : text;
  return JSON.stringify(shown).replace(/[\u007f-\u00ff]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
