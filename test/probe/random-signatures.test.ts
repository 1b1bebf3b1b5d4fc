// Random SIGNATURE SETS, not only the emulator's: random drivers with random probes in the whole
// language (every test kind, both endiannesses, masks, negative offsets, alternatives nested in
// alternatives, suffixes, module guards with modules that answer oddly or throw, scores that tie)
// in both probe buffer modes, on random data made to match some of them. The compiled index agrees with the reference
// interpreter on every input, never throws, and compiles to the same JSON whatever the order the
// drivers come in.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IntComparison, ProbeData, ProbeSignature, ProbeTest } from '../../src/model.js';
import { compileProbeIndex, type ProbeDriver } from '../../src/probe/compile.js';
import { validateProbes } from '../../src/probe/validate.js';
import { probeWithIndex, type ProbeModule } from '../../src/runtime/probe.js';
import { expectAgreement, int, pick, rng, type Rng } from './support.js';

const ALPHABET = [0x00, 0x01, 0x02, 0x41, 0x42, 0x51, 0xff, 0x20, 0x0a];
const NAMES = ['a', 'b', 'B', 'Z', 'qcow', 'qcow2', 'é', 'a b', 'vmdk', 'x-1', '_', 'aa'];
const SUFFIXES = ['.dmg', '.x', 'g', 'abc', '.DMG'];
const FILENAMES = ['x.dmg', '.dmg', 'y.x', 'g', 'abc', 'zabc', 'plain', '', 'x.DMG', 'dmg'];
const SCORES = [1, 2, 2, 3, 50, 99, 100, 100];
const INT_KEYS = ['u8', 'u16le', 'u16be', 'u32le', 'u32be', 'u64le', 'u64be'] as const;
const BYTES_OF: Record<(typeof INT_KEYS)[number], number> = { u8: 1, u16le: 2, u16be: 2, u32le: 4, u32be: 4, u64le: 8, u64be: 8 };

/** Probe modules with every kind of answer: in range, above the declared score, NaN, negative, throwing. */
const MODULES: Record<string, ProbeModule> = {
  'm/len3': (d) => (d.head.length % 3 === 0 ? 100 : 0),
  'm/fifty': () => 50,
  'm/odd': (d) => [Number.NaN, -5, 1e9, 2.7, Infinity][(d.head[0] ?? 0) % 5] ?? 0,
  'm/throws': (d) => {
    if ((d.head[0] ?? 0) === 0) throw new Error('boom');
    return 2;
  },
  'm/tail': (d) => (d.tail.length > 0 && d.tail[d.tail.length - 1] === 0x41 ? 100 : 0),
};
const load = async (id: string): Promise<ProbeModule> => {
  const m = MODULES[id];
  if (!m) throw new Error(`no module ${id}`);
  return m;
};

function byteString(r: Rng, min: number, max: number): number[] {
  return Array.from({ length: min + int(r, max - min + 1) }, () => pick(r, ALPHABET));
}
const text = (bytes: readonly number[]) => String.fromCharCode(...bytes);
const hex = (bytes: readonly number[]) => bytes.map((b) => b.toString(16).padStart(2, '0')).join('');

function offset(r: Rng, length: number): number {
  const k = r();
  if (k < 0.6) return int(r, 24);
  if (k < 0.85) return -(length + int(r, 24));
  if (k < 0.95) return int(r, 500);
  return 512 + int(r, 4) - length; // right at the end of QEMU's buffer, sometimes past it
}

function intValue(r: Rng, bytes: number): number | string {
  const small = int(r, 4);
  if (r() < 0.6) return small;
  if (bytes === 8) return `0x${Array.from({ length: 16 }, () => '0123456789abcdef'[pick(r, [0, 1, 0xf, 0x4])]).join('')}`;
  const max = 2 ** (8 * bytes);
  return Math.floor(r() * max);
}

function comparison(r: Rng, bytes: number): IntComparison {
  if (r() < 0.35) return intValue(r, bytes);
  const c: { eq?: number | string; ne?: number | string; min?: number | string; max?: number | string; in?: (number | string)[]; mask?: number | string } = {};
  if (r() < 0.3) c.eq = intValue(r, bytes);
  if (r() < 0.3) c.ne = intValue(r, bytes);
  if (r() < 0.3) c.min = intValue(r, bytes);
  if (r() < 0.3) c.max = intValue(r, bytes);
  if (r() < 0.3) c.in = Array.from({ length: 1 + int(r, 4) }, () => intValue(r, bytes));
  if (c.eq === undefined && c.ne === undefined && c.min === undefined && c.max === undefined && c.in === undefined) c.in = [intValue(r, bytes)];
  if (r() < 0.3) c.mask = pick(r, [0xff, 0x0f, 0xff00, bytes === 8 ? '0xffffffff00000000' : 2 ** (8 * bytes) - 1]);
  return c;
}

function leafTest(r: Rng): ProbeTest {
  switch (int(r, 9)) {
    case 0:
    case 1: {
      const b = byteString(r, 1, 6);
      const t: { at: number; bytes: string; mask?: string } = { at: offset(r, b.length), bytes: text(b) };
      if (r() < 0.2) t.mask = hex(b.map(() => pick(r, [0xff, 0xff, 0x0f, 0x00, 0xf0])));
      return t;
    }
    case 2: {
      const b = byteString(r, 1, 5);
      return r() < 0.5 ? { at: offset(r, b.length), hex: hex(b) } : { at: offset(r, b.length), hex: hex(b).toUpperCase(), mask: hex(b.map(() => pick(r, [0xff, 0x7f]))) };
    }
    case 3: {
      const b = byteString(r, 1, 4).map((x) => x || 0x41);
      return { at: offset(r, b.length + 1), cstring: text(b) };
    }
    case 4: {
      const b = byteString(r, 1, 10);
      return { at: r() < 0.7 ? int(r, 8) : -int(r, 12) - 1, prefix: text(b) };
    }
    case 5:
      return { suffix: pick(r, SUFFIXES) };
    case 6:
      return { minLength: pick(r, [0, 1, 4, 8, 16, 40, 64, 100, 512, 513]) };
    default: {
      const key = pick(r, INT_KEYS);
      return { at: offset(r, BYTES_OF[key]), [key]: comparison(r, BYTES_OF[key]) } as ProbeTest;
    }
  }
}

function test(r: Rng, depth: number): ProbeTest {
  if (depth < 2 && r() < 0.15) {
    return { any: Array.from({ length: 1 + int(r, 3) }, () => (r() < 0.5 ? test(r, depth + 1) : Array.from({ length: 1 + int(r, 2) }, () => test(r, depth + 1)))) };
  }
  return leafTest(r);
}

function signature(r: Rng): ProbeSignature {
  const tests = Array.from({ length: int(r, 4) + (r() < 0.9 ? 1 : 0) }, () => test(r, 0));
  const s: { score: number; match?: ProbeTest | ProbeTest[]; module?: string } = { score: pick(r, SCORES) };
  if (tests.length > 0) s.match = tests.length === 1 && r() < 0.3 ? tests[0]! : tests;
  if (r() < 0.12 || tests.length === 0) s.module = pick(r, Object.keys(MODULES));
  return s;
}

function drivers(r: Rng): ProbeDriver[] {
  const names = [...NAMES].sort(() => r() - 0.5).slice(0, 1 + int(r, 8));
  return names.map((name) => ({
    name,
    kind: r() < 0.95 ? 'format' : 'protocol',
    state: r() < 0.95 ? 'module' : 'disabled',
    probes: Array.from({ length: 1 + int(r, 3) }, () => signature(r)),
  }));
}

/** Writes what a test looks for into `out` (best effort), so that random data often matches. */
function plant(r: Rng, t: ProbeTest, out: Uint8Array): void {
  if ('any' in t) {
    const alt = pick(r, t.any);
    for (const x of (Array.isArray(alt) ? alt : [alt]) as ProbeTest[]) plant(r, x, out);
    return;
  }
  if ('suffix' in t || 'minLength' in t) return;
  let bytes: number[];
  if ('bytes' in t) bytes = Array.from(t.bytes, (c) => c.charCodeAt(0));
  else if ('hex' in t) bytes = Array.from({ length: t.hex.length / 2 }, (_, i) => parseInt(t.hex.slice(2 * i, 2 * i + 2), 16));
  else if ('cstring' in t) bytes = [...Array.from(t.cstring, (c) => c.charCodeAt(0)), 0];
  else if ('prefix' in t) bytes = Array.from(t.prefix, (c) => c.charCodeAt(0));
  else {
    const key = INT_KEYS.find((k) => k in t)!;
    const c = (t as unknown as Record<string, IntComparison>)[key]!;
    const o = typeof c === 'object' ? c : { eq: c };
    const value = BigInt(o.eq ?? o.in?.[0] ?? o.min ?? 0);
    const n = BYTES_OF[key];
    bytes = Array.from({ length: n }, (_, i) => Number((value >> BigInt(8 * (key.endsWith('le') ? i : n - 1 - i))) & 0xffn));
  }
  const start = t.at >= 0 ? t.at : out.length + t.at;
  for (let i = 0; i < bytes.length; i++) if (start + i >= 0 && start + i < out.length) out[start + i] = bytes[i]!;
}

function data(r: Rng, set: readonly ProbeDriver[]): Uint8Array {
  const length = pick(r, [0, 1, 2, 3, 4, 8, 16, 24, 40, 64, 100, 511, 512, 513, 600, 700, int(r, 1200)]);
  const out = Uint8Array.from({ length }, () => (r() < 0.8 ? pick(r, ALPHABET) : int(r, 256)));
  const planted = int(r, 3);
  for (let i = 0; i < planted; i++) {
    const probe = pick(r, pick(r, set).probes);
    const tests = probe.match === undefined ? [] : ((Array.isArray(probe.match) ? probe.match : [probe.match]) as ProbeTest[]);
    for (const t of tests) plant(r, t, out);
  }
  return out;
}

describe('random signature sets', () => {
  it('compiled index = reference interpreter on random data (fast-check seeds)', async () => {
    let inputs = 0;
    let matches = 0;
    let definite = 0;
    let modules = 0;
    let filed = 0;
    let unfiled = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (seed) => {
        const r = rng(seed);
        const set = drivers(r);
        const buffer = r() < 0.5 ? 'padded' : 'exact';
        // Half the sets put some drivers first (a probe order, as QEMU's registration order).
        const order = r() < 0.5 ? [] : set.map((d) => d.name).filter(() => r() < 0.5).sort(() => r() - 0.5);
        const { index } = compileProbeIndex(set, undefined, { buffer, order });
        unfiled += index.always.length;
        filed += index.signatures.length - index.always.length;
        // Determinism of the compiler: any input order gives the same index.
        const shuffled = [...set].sort(() => r() - 0.5);
        expect(JSON.stringify(compileProbeIndex(shuffled, undefined, { buffer, order }).index)).toBe(JSON.stringify(index));
        for (let i = 0; i < 60; i++) {
          const bytes = data(r, set);
          const result = await expectAgreement(index, set, bytes, pick(r, FILENAMES), load, undefined, order);
          inputs++;
          if (result.matched.length > 0) matches++;
          if (result.score === 100) definite++;
          modules += result.modulesLoaded.length;
        }
      }),
      { numRuns: Number(process.env.PROBE_PROPERTY_RUNS ?? 700), seed: Number(process.env.PROBE_PROPERTY_SEED ?? 0x9e3779b9 | 0) },
    );
    console.log(`random signature sets: ${inputs} inputs, ${matches} with matches, ${definite} definite, ${modules} module answers; ${filed} signatures filed under a dispatch key, ${unfiled} always evaluated`);
    // Most random signatures have a discriminating test, so dispatch is what is being tested.
    expect(filed).toBeGreaterThan(unfiled);
    expect(matches).toBeGreaterThan(inputs / 5);
    expect(definite).toBeGreaterThan(inputs / 50);
    expect(modules).toBeGreaterThan(inputs / 50);
  }, 300_000);

  it('never throws on inconsistent probe data (head past 512, tail longer than the file, odd sizes)', async () => {
    const r = rng(77);
    for (let round = 0; round < 300; round++) {
      const set = drivers(r);
      const { index } = compileProbeIndex(set, undefined, { buffer: r() < 0.5 ? 'padded' : 'exact' });
      for (let i = 0; i < 20; i++) {
        const head = data(r, set);
        const tail = data(r, set);
        const size = pick(r, [0, -1, Number.NaN, 1, 3, head.length, tail.length, 2 ** 60, Infinity]);
        const probe: ProbeData = { head, tail, size, filename: pick(r, FILENAMES) };
        const result = await probeWithIndex(index, probe, load);
        expect(typeof result.format).toBe('string');
      }
    }
  });

  it('the random signatures are in the language (the validator accepts the in-buffer ones)', () => {
    const r = rng(5);
    let accepted = 0;
    for (let i = 0; i < 500; i++) {
      const s = signature(r);
      if (validateProbes(s as never).length === 0) accepted++;
    }
    // Most are valid; the rest look past QEMU's buffer or the end of the file, on purpose.
    expect(accepted).toBeGreaterThan(250);
  });
});
