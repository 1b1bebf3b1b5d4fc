// The reference interpreter: the probe semantics of src/runtime/probe.ts as the plainest loop
// over the declared probes (not over the compiled index), for property tests and the benchmark.
// It walks every signature in order, re-reads every field from the bytes with BigInt and shares
// nothing with the compiled path but the wording of the explanations.
import type { IntComparison, ProbeData, ProbeTest } from '../model.js';
import {
  DEFINITE_SCORE,
  PROBE_BUFFER_SIZE,
  RAW_SCORE,
  type ProbeBufferMode,
  type ProbeMatch,
  type ProbeModuleLoader,
  type ProbeResult,
} from '../runtime/probe.js';
import {
  reasonAny,
  reasonBytes,
  reasonInt,
  reasonMinLength,
  reasonModule,
  reasonPrefix,
  reasonSuffix,
} from '../runtime/probe-reasons.js';
import { probeOrder, type ModulePath, type ProbeDriver } from './compile.js';

interface Data {
  head: Uint8Array;
  tail: Uint8Array;
  size: number;
  filename: string;
  bufferSize: number;
}

/** Evaluate every declared signature of `drivers` on `data`, QEMU's way. */
export async function referenceProbe<D extends ProbeDriver>(
  drivers: readonly D[],
  input: ProbeData,
  loadModule: ProbeModuleLoader,
  modulePath: ModulePath<D> = (_d, m) => m,
  options: { buffer?: ProbeBufferMode; order?: readonly string[] } = {},
): Promise<ProbeResult> {
  const buffer = options.buffer ?? 'padded';
  const size = typeof input.size === 'number' && input.size > 0 ? input.size : 0;
  // QEMU's probe buffer: its first 512 bytes; in QEMU 7.1+ zero-filled to 512 past the end.
  const head = new Uint8Array(buffer === 'padded' ? PROBE_BUFFER_SIZE : Math.min(input.head.length, PROBE_BUFFER_SIZE));
  head.set(input.head.subarray(0, head.length));
  const data: Data = {
    head,
    tail: input.tail,
    size,
    filename: typeof input.filename === 'string' ? input.filename : '',
    bufferSize: buffer === 'padded' ? PROBE_BUFFER_SIZE : Math.min(size, PROBE_BUFFER_SIZE),
  };
  const result: ProbeResult = { format: 'raw', score: RAW_SCORE, matched: [], bytesRead: 0, modulesLoaded: [] };
  if (size === 0) return result;
  const windows = referenceWindows(drivers, buffer);
  result.bytesRead = Math.min(Math.min(input.head.length, PROBE_BUFFER_SIZE, windows.headBytes) + Math.min(data.tail.length, windows.tailBytes), size);

  for (const driver of probeOrder(drivers, options.order)) {
    for (const probe of driver.probes) {
      const tests = probe.match === undefined ? [] : ((Array.isArray(probe.match) ? probe.match : [probe.match]) as readonly ProbeTest[]);
      const because: string[] = [];
      let all = true;
      for (const test of tests) {
        const reason = evaluate(test, data);
        if (reason === undefined) {
          all = false;
          break;
        }
        because.push(reason);
      }
      if (!all) continue;
      let score = probe.score;
      let module: string | undefined;
      if (probe.module !== undefined) {
        module = modulePath(driver, probe.module);
        const decide = await loadModule(module);
        result.modulesLoaded.push(module);
        let answer = 0;
        try {
          answer = Number(decide({ head: data.head, tail: new Uint8Array(0), size: data.size, filename: data.filename }));
        } catch {
          answer = 0;
        }
        score = Number.isNaN(answer) || !Number.isFinite(answer) ? 0 : Math.min(probe.score, Math.max(0, Math.trunc(answer)));
        if (score === 0) continue;
        because.push(reasonModule(module, score));
      }
      const match: ProbeMatch = { driver: driver.name, score, because };
      if (module !== undefined) match.module = module;
      result.matched.push(match);
      if (score > result.score) {
        result.format = driver.name;
        result.score = score;
      }
      if (score >= DEFINITE_SCORE) return result;
    }
  }
  return result;
}

/** The head and tail bytes the declared probes can look at. */
export function referenceWindows(drivers: readonly ProbeDriver[], buffer: ProbeBufferMode = 'padded'): { headBytes: number; tailBytes: number } {
  let head = 0;
  let tail = 0;
  const visit = (test: ProbeTest): void => {
    if ('any' in test) {
      for (const alt of test.any) for (const t of (Array.isArray(alt) ? alt : [alt]) as ProbeTest[]) visit(t);
      return;
    }
    if ('suffix' in test) return;
    if ('minLength' in test) {
      // Padded, QEMU's buf_size is 512 whatever the file's size: nothing to read for it.
      if (buffer === 'exact') head = Math.max(head, test.minLength);
      return;
    }
    const length =
      'bytes' in test ? test.bytes.length : 'hex' in test ? test.hex.length / 2 : 'cstring' in test ? test.cstring.length + 1 : 'prefix' in test ? test.prefix.length : intKey(test)[1];
    if (test.at >= 0) head = Math.max(head, test.at + length);
    else tail = Math.max(tail, -test.at);
  };
  for (const driver of drivers) {
    if ((driver.kind ?? 'format') !== 'format' || driver.state === 'disabled') continue;
    for (const probe of driver.probes) {
      if (probe.module !== undefined) head = Math.max(head, PROBE_BUFFER_SIZE);
      const tests = probe.match === undefined ? [] : ((Array.isArray(probe.match) ? probe.match : [probe.match]) as readonly ProbeTest[]);
      tests.forEach(visit);
    }
  }
  return { headBytes: Math.min(head, PROBE_BUFFER_SIZE), tailBytes: tail };
}

/** The reason the test holds, or undefined when it does not. */
function evaluate(test: ProbeTest, data: Data): string | undefined {
  if ('minLength' in test) return data.head.length >= test.minLength ? reasonMinLength(test.minLength, data.bufferSize) : undefined;
  if ('suffix' in test) {
    const name = data.filename;
    return name.length > test.suffix.length && name.slice(name.length - test.suffix.length) === test.suffix ? reasonSuffix(test.suffix) : undefined;
  }
  if ('any' in test) {
    for (let i = 0; i < test.any.length; i++) {
      const alt = test.any[i]!;
      const list = (Array.isArray(alt) ? alt : [alt]) as readonly ProbeTest[];
      const reasons: string[] = [];
      for (const t of list) {
        const r = evaluate(t, data);
        if (r === undefined) break;
        reasons.push(r);
      }
      if (reasons.length === list.length) return reasonAny(i, test.any.length, reasons);
    }
    return undefined;
  }
  if ('prefix' in test) {
    // Only as far as the data goes; the data must reach the offset.
    const available = fileBytes(data, test.at, Infinity);
    if (available === undefined) return undefined;
    const n = Math.min(available.length, test.prefix.length);
    for (let i = 0; i < n; i++) if (available[i] !== test.prefix.charCodeAt(i)) return undefined;
    return reasonPrefix(test.prefix, test.at, n);
  }
  if ('bytes' in test || 'hex' in test || 'cstring' in test) {
    const expected =
      'hex' in test
        ? Array.from({ length: test.hex.length / 2 }, (_, i) => parseInt(test.hex.slice(2 * i, 2 * i + 2), 16))
        : Array.from('bytes' in test ? test.bytes : `${test.cstring}\0`, (c) => c.charCodeAt(0));
    const maskText = 'mask' in test ? test.mask : undefined;
    const mask = maskText !== undefined ? Array.from({ length: maskText.length / 2 }, (_, i) => parseInt(maskText.slice(2 * i, 2 * i + 2), 16)) : undefined;
    const window = fileBytes(data, test.at, expected.length);
    if (window === undefined || window.length < expected.length) return undefined;
    for (let i = 0; i < expected.length; i++) {
      const m = mask ? mask[i]! : 0xff;
      if ((window[i]! & m) !== (expected[i]! & m)) return undefined;
    }
    const kind = 'bytes' in test ? 'bytes' : 'hex' in test ? 'hex' : 'cstring';
    const declared = 'bytes' in test ? test.bytes : 'hex' in test ? test.hex : test.cstring;
    return reasonBytes(kind, declared, test.at, maskText, mask ? window : undefined);
  }
  const [key, width, little] = intKey(test);
  const window = fileBytes(data, test.at, width);
  if (window === undefined || window.length < width) return undefined;
  let raw = 0n;
  for (let i = 0; i < width; i++) raw = raw * 256n + BigInt(window[little ? width - 1 - i : i]!);
  const comparison = (test as unknown as Record<string, IntComparison>)[key]!;
  const c = typeof comparison === 'object' ? comparison : { eq: comparison };
  const value = c.mask !== undefined ? raw & BigInt(c.mask) : raw;
  if (c.eq !== undefined && value !== BigInt(c.eq)) return undefined;
  if (c.ne !== undefined && value === BigInt(c.ne)) return undefined;
  if (c.min !== undefined && value < BigInt(c.min)) return undefined;
  if (c.max !== undefined && value > BigInt(c.max)) return undefined;
  if (c.in !== undefined && !c.in.some((v) => BigInt(v) === value)) return undefined;
  return reasonInt(key, test.at, raw, comparison, c.mask !== undefined ? value : undefined);
}

function intKey(test: ProbeTest): [string, number, boolean] {
  for (const key of ['u8', 'u16le', 'u16be', 'u32le', 'u32be', 'u64le', 'u64be']) {
    if (key in test) return [key, key === 'u8' ? 1 : Number(key.slice(1, -2)) / 8, key.endsWith('le')];
  }
  return ['u8', 1, false];
}

/**
 * The bytes of the file from offset `at` (negative: from the end), at most `length` of them, as
 * far as the probe data holds them; undefined when the data does not reach `at`. Tail windows
 * never run past the end of the file, so a window longer than the distance to the end is cut.
 */
function fileBytes(data: Data, at: number, length: number): Uint8Array | undefined {
  if (at >= 0) {
    if (at > data.head.length) return undefined;
    return data.head.subarray(at, Math.min(data.head.length, at + length));
  }
  const back = -at;
  if (back > data.size || back > data.tail.length) return undefined;
  const start = data.tail.length - back;
  return data.tail.subarray(start, Math.min(data.tail.length, start + length));
}
