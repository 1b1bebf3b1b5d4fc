// Shared by the vmdk, vdi and parallels suites. Opening images without the generated driver table:
// a small stand-in for the block layer's OpenContext that resolves extent and parent names
// relative to the referencing image (refusing names that leave its folder, as the block layer
// does), probes with the drivers' own declared signatures (compiled like the generator does, the
// vmdk descriptor module included), refuses loops, and falls back to raw. Sample folders load into
// memory (gzip-stored samples decompressed), so one context serves sample tests and fuzzers. Plus
// the committed-sample tests every suite runs, a scratch folder for live images, qemu-img
// helpers, seeded randomness and the fuzz loop.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, normalize, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ImageError, type BlockImage, type ByteSource, type FormatDriver, type OpenContext } from '../../fixtures/emulator/src/block/types.js';
import { openSource, PatchedSource, RawImage } from './open-harness.js';
import { ParallelsDriver } from '../../fixtures/emulator/src/drivers/parallels.js';
import { VdiDriver } from '../../fixtures/emulator/src/drivers/vdi.js';
import { VmdkDriver } from '../../fixtures/emulator/src/drivers/vmdk.js';
import probeVmdkDescriptor from '../../fixtures/emulator/src/probes/vmdk-descriptor.js';
import type { DriverInfo, ProbeSignature } from '../../src/model.js';
import { compileProbeIndex } from '../../src/probe/compile.js';
import { registeredClass } from '../../src/runtime/index.js';
import { probeDataFromBytes, probeWithIndex, type ProbeResult } from '../../src/runtime/probe.js';
import { emulatorDir, imagesDir } from '../support/paths.js';
import { runTool } from '../support/system.js';
export { prng, readAll, sha256 } from '../support/bytes.js';
import { prng, readAll, sha256 } from '../support/bytes.js';

export type Format = 'vmdk' | 'vdi' | 'parallels';

const DRIVERS: Record<Format, () => FormatDriver> = {
  vmdk: () => new VmdkDriver(),
  vdi: () => new VdiDriver(),
  parallels: () => new ParallelsDriver(),
};

/** The three drivers' probes exactly as declared in their decorators, compiled into an index. */
const index = compileProbeIndex(
  (Object.keys(DRIVERS) as Format[]).map((name): DriverInfo => {
    const options = registeredClass('blockDriver', name)!.options as { probe: ProbeSignature | ProbeSignature[] };
    return {
      registry: 'blockDriver',
      name,
      kind: 'format',
      state: 'builtin',
      file: `fixtures/emulator/src/drivers/${name}.ts`,
      exportName: `${name}Driver`,
      prefixes: [],
      openOptions: [],
      probes: Array.isArray(options.probe) ? options.probe : [options.probe],
      options: {},
      location: { file: `fixtures/emulator/src/drivers/${name}.ts`, line: 1, column: 1 },
    };
  }),
  (_driver, module) => module,
).index;

/** How the declared probes (and the vmdk descriptor module) classify these bytes. */
export function probe(bytes: Uint8Array, filename = 'image'): Promise<ProbeResult> {
  return probeWithIndex(index, probeDataFromBytes(index, bytes, filename), async (id) => {
    if (id !== '../probes/vmdk-descriptor.ts') throw new Error(`unexpected probe module ${id}`);
    return probeVmdkDescriptor;
  });
}

export interface OpenSettings {
  format?: Format;
  /** Names resolved to bytes (or byte sources) instead of files: samples in memory, fuzzing. */
  files?: ReadonlyMap<string, Uint8Array | (() => ByteSource)>;
  allowUnsafePaths?: boolean;
  /** Wraps every source opened (to count reads). */
  wrap?: (source: ByteSource) => ByteSource;
}


/** `name` as referenced from `from`: relative to its folder, never outside it unless allowed. */
export function resolveReference(from: string, name: string, allowUnsafe = false): string {
  const target = isAbsolute(name) ? normalize(name) : join(dirname(from), name);
  const rel = relative(dirname(from), target);
  if (!allowUnsafe && (isAbsolute(name) || rel === '..' || rel.startsWith(`..${'/'}`) || isAbsolute(rel))) {
    throw new ImageError(from, `refusing to open ${JSON.stringify(name)}: it is outside the image's folder`);
  }
  return target;
}

/** Open `filename` (a path, or a key of `settings.files`) with its extents and parents. */
export async function openImage(filename: string, settings: OpenSettings = {}, chain: readonly string[] = []): Promise<BlockImage> {
  if (chain.includes(filename)) throw new ImageError(chain[0]!, `backing chain loop: ${[...chain, filename].join(' -> ')}`);
  if (chain.length >= 16) throw new ImageError(chain[0]!, 'backing chain too deep');
  const source = await openSource(filename, settings);
  try {
    let format: string | undefined = settings.format;
    if (format === undefined) format = (await probe(await source.read(0, Math.min(512, source.size)), filename)).format;
    if (format === 'raw') return new RawImage(source);
    const make = DRIVERS[format as Format];
    if (!make) throw new ImageError(filename, `unknown format '${format}'`);
    const resolve = (name: string) => resolveReference(filename, name, settings.allowUnsafePaths);
    const ctx: OpenContext = {
      filename,
      options: {},
      secrets: {},
      allowUnsafePaths: settings.allowUnsafePaths ?? false,
      openImage: (name, backingFormat) =>
        openImage(resolve(name), { ...settings, format: backingFormat as Format | undefined }, [...chain, filename]),
      openFile: (name) => openSource(resolve(name), settings),
    };
    return await make().open(source, ctx);
  } catch (error) {
    await source.close();
    throw error;
  }
}

export interface SampleEntry {
  format: string;
  'virtual-size': number;
  sha256: string;
  note: string;
  compression?: 'gzip';
}

/** A committed sample folder: expected.json, and every file in memory (gzip ones unpacked). */
export function loadSamples(format: Format): { expected: Record<string, SampleEntry>; files: Map<string, Uint8Array>; nameOf: (key: string) => string } {
  const dir = join(imagesDir, format);
  const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Record<string, SampleEntry>;
  const files = new Map<string, Uint8Array>();
  for (const file of readdirSync(dir)) {
    if (file === 'expected.json') continue;
    const bytes = new Uint8Array(readFileSync(join(dir, file)));
    if (file.endsWith('.gz')) files.set(file.slice(0, -3), new Uint8Array(gunzipSync(bytes)));
    else files.set(file, bytes);
  }
  return { expected, files, nameOf: (key) => (expected[key]?.compression === 'gzip' ? key.slice(0, -3) : key) };
}

type Samples = ReturnType<typeof loadSamples>;

/**
 * One test per committed sample: probed as `format` by the declared signatures, opened with the
 * recorded format and virtual size, read whole (in `chunk`-byte pieces) to the recorded sha256;
 * 40 seeded slices of up to `maxSlice` bytes equal the same bytes of the whole; every range
 * status() calls zero reads as zeros, and its answers cover the disk.
 */
export function sampleTests(format: Format, samples: Samples, check: { chunk: number; maxSlice: number; seed: (key: string) => number }): void {
  for (const [key, entry] of Object.entries(samples.expected)) {
    it(`${key}: probed as ${format}, reads to qemu-img's sha256 and virtual size`, async () => {
      const name = samples.nameOf(key);
      expect((await probe(samples.files.get(name)!, name)).format).toBe(format);
      const image = await openImage(name, { files: samples.files });
      try {
        expect(image.format).toBe(entry.format);
        expect(image.virtualSize).toBe(entry['virtual-size']);
        const whole = await readAll(image, check.chunk);
        expect(sha256(whole)).toBe(entry.sha256);
        const random = prng(check.seed(key));
        for (let i = 0; i < 40; i++) {
          const start = Math.floor(random() * image.virtualSize);
          const length = Math.min(image.virtualSize - start, 1 + Math.floor(random() * check.maxSlice));
          expect(sha256(await image.read(start, length))).toBe(sha256(whole.subarray(start, start + length)));
        }
        for (let at = 0; at < image.virtualSize; ) {
          const answer = await image.status!(at, image.virtualSize - at);
          expect(answer.length).toBeGreaterThan(0);
          if (answer.zero) expect(whole.subarray(at, at + answer.length).every((b) => b === 0)).toBe(true);
          at += answer.length;
        }
      } finally {
        await image.close();
      }
    });
  }
}

/** A folder for a suite's live images, made before its tests and removed after them. */
export function scratchFolder(format: Format): () => string {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), `gen-modules-${format}-`));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return () => dir;
}

/** Runs one of the emulator's sample scripts (fixtures/emulator/scripts/samples). */
export function sampleScript(script: string, args: string[]): void {
  const result = spawnSync(process.execPath, [join(emulatorDir, 'scripts/samples', script), ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${script} ${args.join(' ')}: ${result.stderr}`);
}

/** Seeded disk content (disk-data.mjs) in `work/name`; returns its path. */
export function diskData(work: string, name: string, seed: number, size: number, grain: number): string {
  const path = join(work, name);
  sampleScript('disk-data.mjs', [String(seed), String(size), String(grain), path]);
  return path;
}

/** The driver reads `file` (in `chunk`-byte pieces) to the bytes of qemu-img convert, with qemu-img's format and virtual size. */
export async function expectSameAsQemu(format: Format, file: string, work: string, chunk: number, settings: OpenSettings = {}): Promise<void> {
  const qemu = qemuRead(file, work);
  expect(qemu.format).toBe(format);
  const image = await openImage(file, settings);
  try {
    expect(image.format).toBe(format);
    expect(image.virtualSize).toBe(qemu.virtualSize);
    const ours = await readAll(image, chunk);
    expect(ours.length).toBe(qemu.raw.length);
    expect(sha256(ours)).toBe(sha256(qemu.raw));
  } finally {
    await image.close();
  }
}

/** qemu-img's view of an image: info (virtual size, format) and the raw bytes of convert. */
export function qemuRead(file: string, work: string, format?: string): { format: string; virtualSize: number; raw: Uint8Array } {
  const fmt = format ? ['-f', format] : [];
  const info = spawnSync('qemu-img', ['info', ...fmt, '--output=json', file], { encoding: 'utf8' });
  if (info.status !== 0) throw new Error(`qemu-img info ${file}: ${info.stderr}`);
  const parsed = JSON.parse(info.stdout) as { format: string; 'virtual-size': number };
  const out = join(work, `qemu-${Math.random().toString(36).slice(2)}.raw`);
  const convert = spawnSync('qemu-img', ['convert', ...fmt, '-O', 'raw', file, out], { encoding: 'utf8' });
  if (convert.status !== 0) throw new Error(`qemu-img convert ${file}: ${convert.stderr}`);
  const raw = new Uint8Array(readFileSync(out));
  return { format: parsed.format, virtualSize: parsed['virtual-size'], raw };
}

/**
 * Opens `bytes` as `format`, reads the whole disk in `piece`-byte reads and checks it against the
 * test's own `reference` reader (and whether it holds data at all), then against qemu-img's
 * conversion of the same bytes when `work` (a scratch folder) is given.
 */
export async function expectReadsAsReference(format: Format, bytes: Uint8Array, expected: { reference: Uint8Array; hasData: boolean; piece: number; work?: string }): Promise<void> {
  const name = `short.${format}`;
  const image = await openImage(name, { format, files: new Map([[name, bytes]]) });
  let ours: Uint8Array;
  try {
    ours = await readAll(image, expected.piece);
  } finally {
    await image.close();
  }
  expect(ours.some((b) => b !== 0)).toBe(expected.hasData);
  expect(ours.length).toBe(expected.reference.length);
  expect(Buffer.from(ours).equals(Buffer.from(expected.reference))).toBe(true);
  if (expected.work !== undefined) {
    const file = join(expected.work, name);
    writeFileSync(file, bytes);
    const qemu = qemuRead(file, expected.work, format);
    expect(qemu.virtualSize).toBe(ours.length);
    expect(Buffer.from(qemu.raw).equals(Buffer.from(ours))).toBe(true);
  }
}

/** Runs a tool; throws with its stderr when it fails (test/support/system.ts). */
export const run = runTool;

/** Whether qemu-img can read the image at all (convert succeeds). */
export function qemuAccepts(file: string, work: string, format?: string): { ok: true } | { ok: false; message: string } {
  const fmt = format ? ['-f', format] : [];
  const result = spawnSync('qemu-img', ['convert', ...fmt, '-O', 'raw', file, join(work, 'accept.raw')], { encoding: 'utf8' });
  return result.status === 0 ? { ok: true } : { ok: false, message: result.stderr.trim() };
}

/** The rejection of `promise`, which must be an ImageError. */
export async function imageError(promise: Promise<unknown>): Promise<ImageError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ImageError) return error;
    throw new Error(`expected an ImageError, got ${String((error as Error)?.stack ?? error)}`);
  }
  throw new Error('expected an ImageError, but it succeeded');
}

/** Open and read everything (in odd-sized pieces); resolves with the bytes or rejects. */
export async function openAndReadAll(filename: string, settings: OpenSettings): Promise<Uint8Array> {
  const image = await openImage(filename, settings);
  try {
    return await readAll(image, 100_003);
  } finally {
    await image.close();
  }
}

export interface FuzzBase {
  /** The file to open; `files` holds it and whatever it references. */
  main: string;
  files: ReadonlyMap<string, Uint8Array>;
  /** Byte ranges of `target` where mutations land most of the time (headers, tables). */
  hot: readonly [number, number][];
  /** The file mutated (default: main). */
  target?: string;
}

export interface FuzzStats {
  iterations: number;
  opened: number;
  imageErrors: number;
  readBytes: number;
}

/**
 * Seeded mutations of `bases`: flipped bits, random bytes, 32/64-bit edge values and text
 * delimiters (mostly in the hot ranges), plus truncations. Each mutant is opened and read in a
 * few bounded ranges, and status() is asked. Any error other than a well-formed one-line
 * ImageError fails (rethrown with the seed and iteration).
 */
export async function fuzz(format: Format | undefined, bases: readonly FuzzBase[], iterations: number, seed: number): Promise<FuzzStats> {
  const random = prng(seed);
  const int = (n: number) => Math.floor(random() * n);
  const stats: FuzzStats = { iterations, opened: 0, imageErrors: 0, readBytes: 0 };
  const edges = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x200, 0xfff, 0x1000, 0xfffe, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
  for (let i = 0; i < iterations; i++) {
    const base = bases[int(bases.length)]!;
    const target = base.target ?? base.main;
    const original = base.files.get(target)!;
    const patches = new Map<number, number>();
    const byteAt = (at: number) => patches.get(at) ?? original[at]!;
    let size = original.length;
    const mutations = 1 + int(4);
    for (let m = 0; m < mutations; m++) {
      const [from, to] = random() < 0.85 && base.hot.length > 0 ? base.hot[int(base.hot.length)]! : [0, size];
      const at = Math.min(size - 1, from + int(Math.max(1, Math.min(to, size) - from)));
      if (at < 0) break;
      const kind = int(10);
      if (kind < 3) patches.set(at, byteAt(at) ^ (1 << int(8)));
      else if (kind < 5) patches.set(at, int(256));
      else if (kind < 8) {
        const aligned = at - (at % 4);
        const value = edges[int(edges.length)]!;
        for (let b = 0; b < 4 && aligned + b < size; b++) patches.set(aligned + b, (value >>> (8 * b)) & 0xff);
        if (kind === 7) for (let b = 4; b < 8 && aligned + b < size; b++) patches.set(aligned + b, random() < 0.5 ? 0 : 0xff);
      } else if (kind === 8) {
        size = int(size + 1);
      } else {
        patches.set(at, [0x0a, 0x0d, 0x20, 0x22, 0x23, 0x00, 0x30, 0x39][int(8)]!);
      }
    }
    const files = new Map<string, Uint8Array | (() => ByteSource)>(base.files);
    const finalSize = size;
    files.set(target, () => new PatchedSource(target, original, patches, finalSize));
    try {
      const image = await openImage(base.main, { ...(format ? { format } : {}), files });
      stats.opened++;
      try {
        const virtual = image.virtualSize;
        if (!Number.isSafeInteger(virtual) || virtual < 0) throw new Error(`virtual size ${virtual}`);
        // Three reads in one 64 KiB window: a cluster or two of work per mutant.
        const window = int(Math.min(virtual, 1 << 30));
        for (let r = 0; r < 3 && virtual > 0; r++) {
          const start = Math.min(virtual - 1, window + int(64 * 1024));
          const length = Math.min(virtual - start, 1 + int(16 * 1024));
          const data = await image.read(start, length);
          if (data.length !== length) throw new Error(`read ${data.length} bytes, asked ${length}`);
          stats.readBytes += length;
        }
        if (image.status && virtual > 0) {
          const start = int(Math.min(virtual, 1 << 30));
          await image.status(start, Math.min(virtual - start, 1 << 20));
        }
      } finally {
        await image.close();
      }
    } catch (error) {
      if (error instanceof ImageError) {
        stats.imageErrors++;
        if (!error.message.startsWith(`${error.image}: `) || error.problem.length === 0 || error.message.includes('\n')) {
          throw new Error(`fuzz seed ${seed} iteration ${i}: badly formed ImageError ${JSON.stringify(error.message)}`);
        }
        continue;
      }
      throw new Error(`fuzz seed ${seed} iteration ${i} (${base.main}): ${String((error as Error)?.stack ?? error)}`);
    }
  }
  return stats;
}
