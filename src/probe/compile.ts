// From declared probes to the compiled index the runtime evaluates (src/runtime/probe.ts states
// the semantics). The compiler
// - puts every signature in the evaluation order (the drivers `order` lists first, as listed, then
//   the others by name in code-unit order; each driver's signatures in declaration order), hoists `minLength` and orders the other tests cheap-and-selective first;
// - files each signature under one discriminating test, chosen so that few dispatch groups cover
//   many signatures: the leading 4 (else 2, else 1) exactly known bytes of a byte string, C
//   string, cloop-style prefix or integer equality / set membership at some offset, grouped by
//   (offset, width); or a file name suffix, grouped by its length; signatures without one are
//   evaluated for every image;
// - computes the head and tail windows the core must read.
// The output is plain JSON with a total order, so the same drivers give the same bytes.
import type { DriverInfo, IntComparison, ProbeTest } from '../model.js';
import { PROBE_BUFFER_SIZE, type DispatchGroup, type IndexedProbe, type ProbeBufferMode, type ProbeIndex, type SuffixGroup } from '../runtime/probe.js';
import { intWidth, isIntKey, parseProbeInt } from './validate.js';
import { byCodeUnit } from '../by-code-unit.js';

export interface CompiledProbes {
  index: ProbeIndex;
  /** Probe module id -> path relative to the config root. */
  modules: Map<string, string>;
}

/** The driver fields the compiler reads (a DriverInfo, or a test's hand-made driver). */
export type ProbeDriver = Pick<DriverInfo, 'name' | 'probes'> & Partial<Pick<DriverInfo, 'kind' | 'state'>>;

/** Probe module path of a driver's `module` entry; the default keeps it as written. */
export type ModulePath<D extends ProbeDriver = ProbeDriver> = (driver: D, module: string) => string;

/**
 * The format drivers that take part in probing, in evaluation order: those `order` names first, in
 * its order, then the others by name (code-unit order). A tie goes to the earlier driver, so
 * `order` plays the part of QEMU's driver registration order.
 */
export function probeOrder<D extends ProbeDriver>(drivers: readonly D[], order: readonly string[] = []): D[] {
  const rank = new Map(order.map((name, i) => [name, i]));
  const rankOf = (d: D) => rank.get(d.name) ?? order.length;
  return drivers
    .filter((d) => (d.kind ?? 'format') === 'format' && d.state !== 'disabled')
    .sort((a, b) => rankOf(a) - rankOf(b) || byCodeUnit(a.name, b.name));
}

export interface CompileOptions {
  /** How a short file fills QEMU's probe buffer (default 'padded', QEMU 7.1 and later). */
  buffer?: ProbeBufferMode;
  /** Format drivers evaluated first, in this order (see probeOrder). */
  order?: readonly string[];
}

export function compileProbeIndex<D extends ProbeDriver>(drivers: readonly D[], modulePath: ModulePath<D> = (_d, m) => m, options: CompileOptions = {}): CompiledProbes {
  const buffer = options.buffer ?? 'padded';
  const modules = new Map<string, string>();
  const signatures: IndexedProbe[] = [];
  const filing: Option[][] = [];
  let headBytes = 0;
  let tailBytes = 0;
  for (const driver of probeOrder(drivers, options.order)) {
    for (const probe of driver.probes) {
      const tests: ProbeTest[] = probe.match === undefined ? [] : Array.isArray(probe.match) ? [...(probe.match as readonly ProbeTest[])] : [probe.match as ProbeTest];
      for (const test of tests) {
        const [head, tail] = window(test, buffer);
        headBytes = Math.max(headBytes, head);
        tailBytes = Math.max(tailBytes, tail);
      }
      let minLength = 0;
      tests.forEach((t) => {
        if ('minLength' in t) minLength = Math.max(minLength, t.minLength);
      });
      const check = tests
        .map((t, i) => [i, cost(t)] as const)
        .filter(([i]) => !('minLength' in tests[i]!))
        .sort((a, b) => a[1] - b[1] || a[0] - b[0])
        .map(([i]) => i);
      const signature: IndexedProbe = { driver: driver.name, score: probe.score, minLength, tests, check };
      if (probe.module !== undefined) {
        const id = modulePath(driver, probe.module);
        modules.set(id, id);
        signature.module = id;
        // A probe module sees QEMU's whole probe buffer.
        headBytes = PROBE_BUFFER_SIZE;
      }
      signatures.push(signature);
      filing.push(bestOptions(tests));
    }
  }
  const { dispatch, suffixes, always } = fileSignatures(filing);
  const index: ProbeIndex = {
    version: 2,
    buffer,
    headBytes: Math.min(headBytes, PROBE_BUFFER_SIZE),
    tailBytes,
    signatures,
    dispatch,
    suffixes,
    always,
  };
  return { index, modules };
}

/**
 * Bytes a test needs from the head and from the tail of the file. In a padded buffer QEMU's
 * buf_size is always 512, so a length test needs no bytes at all.
 */
export function window(test: ProbeTest, buffer: ProbeBufferMode): [number, number] {
  if ('minLength' in test) return [buffer === 'padded' ? 0 : Math.min(test.minLength, PROBE_BUFFER_SIZE), 0];
  if ('suffix' in test) return [0, 0];
  if ('any' in test) {
    let head = 0;
    let tail = 0;
    for (const alternative of test.any) {
      for (const t of (Array.isArray(alternative) ? alternative : [alternative]) as ProbeTest[]) {
        const [h, tl] = window(t, buffer);
        head = Math.max(head, h);
        tail = Math.max(tail, tl);
      }
    }
    return [head, tail];
  }
  const length = testLength(test);
  // Past QEMU's probe buffer a head test sees nothing, so reading further would be waste.
  return test.at >= 0 ? [Math.min(test.at + length, PROBE_BUFFER_SIZE), 0] : [0, -test.at];
}

function testLength(test: ProbeTest): number {
  if ('bytes' in test) return test.bytes.length;
  if ('hex' in test) return test.hex.length / 2;
  if ('cstring' in test) return test.cstring.length + 1;
  if ('prefix' in test) return test.prefix.length;
  const key = Object.keys(test).find(isIntKey);
  return key ? intWidth(key) / 8 : 0;
}

/** Evaluation cost class: exact byte comparisons first, the alternatives last. */
function cost(test: ProbeTest): number {
  if ('bytes' in test || 'hex' in test || 'cstring' in test) return 1;
  if ('suffix' in test) return 4;
  if ('prefix' in test) return 3;
  if ('any' in test) return 5;
  if ('minLength' in test) return 0;
  const key = Object.keys(test).find(isIntKey)!;
  return intWidth(key) === 64 ? 3 : 2;
}

// ---------------------------------------------------------------------------------------------
// Dispatch: which test files a signature, and under which keys.
// ---------------------------------------------------------------------------------------------

interface Option {
  /** 'b:AT:WIDTH' for bytes at an offset, 's:LENGTH' for a file name suffix. */
  group: string;
  at: number;
  width: number;
  /** Byte keys as hex, or suffix strings. */
  keys: string[];
  /** A prefix test may hold on data too short to hold the key. */
  partial: boolean;
  rank: number;
}

const MAX_KEYS = 64;

const toHex = (bytes: readonly number[]): string => bytes.map((b) => b.toString(16).padStart(2, '0')).join('');

/** The options of highest rank among a signature's top-level tests. */
function bestOptions(tests: readonly ProbeTest[]): Option[] {
  const all = tests.flatMap((t) => optionsOf(t));
  const best = Math.max(-1, ...all.map((o) => o.rank));
  return all.filter((o) => o.rank === best);
}

/** Every way one test can file its signature. */
function optionsOf(test: ProbeTest): Option[] {
  if ('suffix' in test) {
    return [{ group: `s:${test.suffix.length}`, at: 0, width: test.suffix.length, keys: [test.suffix], partial: false, rank: Math.min(test.suffix.length, 4) - 0.25 }];
  }
  if ('minLength' in test) return [];
  if ('any' in test) return anyOptions(test.any);
  const known = knownBytes(test);
  if (known === undefined) return [];
  const shortest = Math.min(...known.keys.map((k) => k.length));
  let width = shortest >= 4 ? 4 : shortest >= 2 ? 2 : shortest >= 1 ? 1 : 0;
  // A tail window must end inside the file.
  while (width > 0 && test.at < 0 && test.at + width > 0) width >>= 1;
  if (width === 0) return [];
  const keys = [...new Set(known.keys.map((k) => toHex(k.slice(0, width))))].sort(byCodeUnit);
  if (keys.length > MAX_KEYS) return [];
  return [{ group: `b:${test.at}:${width}`, at: test.at, width, keys, partial: known.partial, rank: width - (known.partial ? 0.5 : 0) }];
}

/** Alternatives file their signature only when each of them can, at the same offset and width. */
function anyOptions(alternatives: readonly (ProbeTest | readonly ProbeTest[])[]): Option[] {
  const perAlternative = alternatives.map((alt) => ((Array.isArray(alt) ? alt : [alt]) as readonly ProbeTest[]).flatMap((t) => optionsOf(t)));
  const result: Option[] = [];
  for (const first of perAlternative[0] ?? []) {
    const chosen: Option[] = [];
    for (const options of perAlternative) {
      const same = options.filter((o) => o.group === first.group);
      if (same.length === 0) break;
      chosen.push(same[0]!);
    }
    if (chosen.length !== perAlternative.length) continue;
    const keys = [...new Set(chosen.flatMap((o) => o.keys))].sort(byCodeUnit);
    if (keys.length > MAX_KEYS) continue;
    const partial = chosen.some((o) => o.partial);
    result.push({ ...first, keys, partial, rank: Math.min(...chosen.map((o) => o.rank)) });
  }
  return result;
}

/** The leading bytes a test fixes exactly (one list per allowed value), if any. */
function knownBytes(test: ProbeTest): { keys: number[][]; partial: boolean } | undefined {
  if ('prefix' in test) return { keys: [latin1(test.prefix)], partial: true };
  if ('cstring' in test) return { keys: [[...latin1(test.cstring), 0]], partial: false };
  if ('bytes' in test || 'hex' in test) {
    const bytes = 'bytes' in test ? latin1(test.bytes) : hexToBytes(test.hex);
    const mask = test.mask !== undefined ? hexToBytes(test.mask) : undefined;
    return { keys: [leading(bytes, mask)], partial: false };
  }
  const key = Object.keys(test).find(isIntKey);
  if (!key) return undefined;
  const comparison = (test as unknown as Record<string, IntComparison>)[key]!;
  const c = typeof comparison === 'object' ? comparison : { eq: comparison };
  const values = c.eq !== undefined ? [c.eq] : c.in;
  if (values === undefined) return undefined;
  const width = intWidth(key) / 8;
  const little = key.endsWith('le');
  const mask = c.mask !== undefined ? intBytes(parseProbeInt(c.mask)!, width, little) : undefined;
  return { keys: values.map((v) => leading(intBytes(parseProbeInt(v)!, width, little), mask)), partial: false };
}

/** The bytes before the first one the mask does not cover entirely. */
function leading(bytes: readonly number[], mask: readonly number[] | undefined): number[] {
  if (!mask) return [...bytes];
  const end = mask.findIndex((m) => m !== 0xff);
  return bytes.slice(0, end < 0 ? bytes.length : end);
}

function intBytes(value: bigint, width: number, little: boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < width; i++) out.push(Number((value >> BigInt(8 * (little ? i : width - 1 - i))) & 0xffn));
  return out;
}

const latin1 = (text: string): number[] => Array.from(text, (c) => c.charCodeAt(0) & 0xff);

function hexToBytes(hex: string): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < hex.length; i += 2) out.push(parseInt(hex.slice(i, i + 2), 16));
  return out;
}

/** Greedy cover: the group that files the most remaining signatures first, until all are filed. */
function fileSignatures(options: readonly Option[][]): { dispatch: DispatchGroup[]; suffixes: SuffixGroup[]; always: number[] } {
  const assigned = new Map<number, Option>();
  const always: number[] = [];
  options.forEach((o, id) => {
    if (o.length === 0) always.push(id);
  });
  for (;;) {
    const counts = new Map<string, number>();
    options.forEach((list, id) => {
      if (assigned.has(id)) return;
      for (const group of new Set(list.map((o) => o.group))) counts.set(group, (counts.get(group) ?? 0) + 1);
    });
    if (counts.size === 0) break;
    const [group] = [...counts].sort((a, b) => b[1] - a[1] || byCodeUnit(a[0], b[0]))[0]!;
    options.forEach((list, id) => {
      if (assigned.has(id)) return;
      const option = list.find((o) => o.group === group);
      if (option) assigned.set(id, option);
    });
  }

  const byGroup = new Map<string, { option: Option; keys: Map<string, number[]>; short: number[] }>();
  for (const [id, option] of [...assigned].sort((a, b) => a[0] - b[0])) {
    let entry = byGroup.get(option.group);
    if (!entry) byGroup.set(option.group, (entry = { option, keys: new Map(), short: [] }));
    for (const key of option.keys) {
      const ids = entry.keys.get(key) ?? [];
      if (!ids.includes(id)) ids.push(id);
      entry.keys.set(key, ids);
    }
    if (option.partial) entry.short.push(id);
  }
  const entries = (keys: Map<string, number[]>) => [...keys].sort((a, b) => byCodeUnit(a[0], b[0])).map(([k, ids]) => [k, ids] as const);
  const groups = [...byGroup.values()];
  const dispatch: DispatchGroup[] = groups
    .filter((g) => g.option.group.startsWith('b:'))
    .sort((a, b) => a.option.at - b.option.at || a.option.width - b.option.width)
    .map((g) => ({ at: g.option.at, width: g.option.width as 1 | 2 | 4, keys: entries(g.keys), short: g.short }));
  const suffixes: SuffixGroup[] = groups
    .filter((g) => g.option.group.startsWith('s:'))
    .sort((a, b) => a.option.width - b.option.width)
    .map((g) => ({ length: g.option.width, keys: entries(g.keys) }));
  return { dispatch, suffixes, always };
}
