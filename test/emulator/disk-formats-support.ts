// Shared by the vpc, vhdx, bochs, cloop and dmg tests: committed samples (gunzipped when stored
// as .gz), a direct OpenContext (these formats reference no other file), whole-disk reads,
// qemu-img as the oracle, a small interpreter for the declared probe signatures, and a seeded
// fuzzer that mutates samples through a copy-free overlay source.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { inflateSync } from 'fflate';
import { afterAll, expect } from 'vitest';
import { MemorySource } from '../../fixtures/emulator/src/block/memory-source.js';
import { openFileSource } from '../../fixtures/emulator/src/drivers/file.js';
import { ImageError, type BlockImage, type FormatDriver, type OpenContext } from '../../fixtures/emulator/src/block/types.js';
import { registeredClass, type ProbeSignature, type ProbeTest } from '../../src/runtime/index.js';
import { evaluateTest } from '../../src/runtime/probe.js';
import { emulatorDir, imagesDir } from '../support/paths.js';
import { runTool } from '../support/system.js';
import { adler32 } from '../../fixtures/emulator/src/formats/shared/adler32.js';
import { PatchedSource } from './open-harness.js';
export { firstDifference, prng, readAll, sha256 } from '../support/bytes.js';
import { firstDifference, prng, readAll, sha256 } from '../support/bytes.js';

export const samplesScripts = `${emulatorDir}/scripts/samples`;

export interface ExpectedEntry {
  format: string;
  'virtual-size': number;
  sha256: string;
  note: string;
  compression?: 'gzip';
  /** The passphrase of an encrypted sample (LUKS, qcow2 with LUKS encryption). */
  secret?: string;
}

export interface Sample {
  /** The committed file name (with .gz when compressed). */
  key: string;
  /** The image's own name (without .gz). */
  name: string;
  bytes: Uint8Array;
  expected: ExpectedEntry;
}

export function loadSamples(format: string, dir = `${imagesDir}/${format}`): Sample[] {
  const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8')) as Record<string, ExpectedEntry>;
  return Object.entries(expected).map(([key, entry]) => {
    const stored = new Uint8Array(readFileSync(`${dir}/${key}`));
    // Marked `compression: 'gzip'` by the format folders, `gzip: true` by boot/; named .gz by both.
    const gz = entry.compression === 'gzip' || key.endsWith('.gz');
    return { key, name: gz ? key.replace(/\.gz$/, '') : key, bytes: gz ? new Uint8Array(gunzipSync(stored)) : stored, expected: entry };
  });
}

/**
 * A committed sample read as qemu-img's conversion read it (expected.json): its format, virtual
 * size and the sha256 of the whole disk read in `piece`-byte pieces; `reads` seeded reads at
 * unaligned offsets (up to `maxLength` bytes) equal slices of the whole; and every range the
 * image reports as zero is zeros. Returns the open image for checks of its own.
 */
export async function expectSampleAsQemu(
  driver: FormatDriver,
  format: string,
  sample: Sample,
  check: { piece: number; seed: number; reads: number; maxLength: number },
): Promise<BlockImage> {
  const image = await openBytes(driver, sample.name, sample.bytes);
  expect(image.format).toBe(format);
  expect(image.virtualSize).toBe(sample.expected['virtual-size']);
  const whole = await readAll(image, check.piece);
  expect(sha256(whole)).toBe(sample.expected.sha256);
  const random = prng(check.seed);
  for (let i = 0; i < check.reads; i++) {
    const offset = Math.floor(random() * image.virtualSize);
    const length = 1 + Math.floor(random() * Math.min(image.virtualSize - offset, check.maxLength));
    expect(firstDifference(await image.read(offset, length), whole.subarray(offset, offset + length))).toBe(-1);
  }
  for (let at = 0; image.status && at < image.virtualSize; ) {
    const { zero, length } = await image.status(at, image.virtualSize - at);
    if (zero) expect(whole.subarray(at, at + length).every((b) => b === 0)).toBe(true);
    at += length;
  }
  return image;
}

/**
 * A format suite's committed samples, one by its image name, and a scratch folder that is deleted
 * after the suite.
 */
export function formatSuite(format: string): { samples: Sample[]; sample: (name: string) => Uint8Array; work: string } {
  const samples = loadSamples(format);
  const work = mkdtempSync(join(tmpdir(), `${format}-test-`));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const sample = (name: string) => {
    const found = samples.find((s) => s.name === name);
    if (!found) throw new Error(`no committed ${format} sample named ${name}`);
    return found.bytes;
  };
  return { samples, sample, work };
}

/** What the block layer hands a driver, for images that reference no other file. */
export function directContext(filename: string, options: Record<string, string> = {}): OpenContext {
  return {
    filename,
    options,
    secrets: {},
    openImage: async (name) => {
      throw new ImageError(filename, `unexpected reference to ${name}`);
    },
    openFile: async (name) => {
      throw new ImageError(filename, `unexpected reference to ${name}`);
    },
  };
}

export function openBytes(driver: FormatDriver, name: string, bytes: Uint8Array, options?: Record<string, string>): Promise<BlockImage> {
  return driver.open(new MemorySource(name, bytes), directContext(name, options));
}

export function run(command: string, args: string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** Runs a tool; throws with its stderr when it fails (test/support/system.ts). */
export const runOk = runTool;

/** `qemu-img info --output=json`, with `-f` when given. */
export function qemuInfo(file: string, format?: string): { format: string; 'virtual-size': number } {
  return JSON.parse(runOk('qemu-img', ['info', ...(format ? ['-f', format] : []), '--output=json', file]));
}

/** Opens a file through the real file protocol. */
export async function openPath(driver: FormatDriver, path: string, options?: Record<string, string>): Promise<BlockImage> {
  const source = await openFileSource(path);
  return driver.open(source, directContext(path, options));
}

/** Opens `file` with `driver` and checks its size and every byte against qemu-img; removes the file. */
export async function expectFileAsQemu(driver: FormatDriver, file: string, format: string): Promise<void> {
  const image = await openPath(driver, file);
  try {
    expect(image.virtualSize).toBe(qemuInfo(file, format)['virtual-size']);
    expect(await differenceFromQemu(image, file, format)).toBe(-1);
  } finally {
    await image.close();
    rmSync(file);
  }
}

/**
 * Compares the whole virtual disk with `qemu-img convert -O raw` of `file`, a piece at a time
 * (images here reach hundreds of MiB); returns the first differing offset or -1.
 */
export async function differenceFromQemu(image: BlockImage, file: string, format: string): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'qemu-compare-'));
  const out = join(work, 'out.raw');
  try {
    runOk('qemu-img', ['convert', '-f', format, '-O', 'raw', file, out]);
    const size = statSync(out).size;
    if (size !== image.virtualSize) return Math.min(size, image.virtualSize);
    const fd = openSync(out, 'r');
    try {
      const piece = 8 << 20;
      const theirs = Buffer.alloc(piece);
      for (let at = 0; at < size; at += piece) {
        const n = Math.min(piece, size - at);
        readSync(fd, theirs, 0, n, at);
        const ours = await image.read(at, n);
        if (!Buffer.from(ours.buffer, ours.byteOffset, n).equals(theirs.subarray(0, n))) return at + firstDifference(ours, theirs.subarray(0, n));
      }
      return -1;
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Builds the samples of `format` and the script's extra variants in a temporary folder with
 * make-bochs-cloop-dmg.mjs (which checks every image with qemu-img itself), then reads each with
 * `driver` and compares: sha256 and virtual size with what the script recorded from qemu-img,
 * and every byte with qemu-img's conversion where qemu-img can read the image.
 */
export async function checkScriptSamples(driver: FormatDriver, format: string): Promise<string[]> {
  const root = mkdtempSync(join(tmpdir(), `${format}-live-`));
  try {
    runOk(process.execPath, [`${samplesScripts}/make-bochs-cloop-dmg.mjs`, '--out', root, '--extra', '--only', format]);
    const checked: string[] = [];
    for (const s of loadSamples(format, join(root, format))) {
      const path = join(root, format, s.name);
      const image = await openPath(driver, path);
      try {
        expect(image.virtualSize, s.name).toBe(s.expected['virtual-size']);
        expect(image.virtualSize, s.name).toBe(qemuInfo(path, format)['virtual-size']);
        expect(sha256(await readAll(image)), s.name).toBe(s.expected.sha256);
        // qemu-img 7.2 as Debian builds it has no bzip2 support for dmg.
        if (!s.expected.note.includes('lacks dmg-bz2') && !s.name.includes('bzip2')) {
          expect(await differenceFromQemu(image, path, format), s.name).toBe(-1);
        }
      } finally {
        await image.close();
      }
      checked.push(s.name);
    }
    return checked;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Seeded disk content (scripts/samples/disk-data.mjs) written to `out`. */
export function makeDiskData(seed: number, size: number, grain: number, out: string): void {
  runOk(process.execPath, [`${samplesScripts}/disk-data.mjs`, String(seed), String(size), String(grain), out]);
}

/** The promise's rejection; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error, but the operation succeeded');
}

/** Expects an ImageError naming `image` whose message matches `pattern`. */
export async function expectImageError(promise: Promise<unknown>, image: string, pattern: RegExp): Promise<ImageError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(ImageError);
  expect((error as ImageError).image).toBe(image);
  expect(error.message.startsWith(`${image}: `)).toBe(true);
  expect(error.message).toMatch(pattern);
  expect(error.message).not.toContain('\n');
  return error as ImageError;
}

// ---------------------------------------------------------------------------------------------
// Probes: a reference reading of the subset of the probe language these drivers declare
// (src/model.ts documents the semantics), checked against qemu-img's own probing.
// ---------------------------------------------------------------------------------------------

export function declaredProbe(format: string): ProbeSignature {
  const entry = registeredClass('blockDriver', format);
  if (!entry) throw new Error(`no registered driver for ${format}`);
  return (entry.options as { probe: ProbeSignature }).probe;
}

/** The format's declared probe, and whether a file that is just `head` passes its match tests (the runtime's evaluateTest). */
export function declaredMatcher(format: string): { probe: ProbeSignature; matches: (head: Uint8Array) => boolean } {
  const probe = declaredProbe(format);
  const tests = (Array.isArray(probe.match) ? probe.match : [probe.match]) as ProbeTest[];
  const matches = (head: Uint8Array) => tests.every((test) => evaluateTest(test, { head, tail: new Uint8Array(0), size: head.length, filename: 'x' }, []));
  return { probe, matches };
}

/**
 * What QEMU 7.2's find_image_format hands the probes: always 512 bytes, the file's first bytes
 * followed by zeros when the file is shorter (blk_pread reads zeros past the end of a file).
 */
export function qemuProbeBuffer(bytes: Uint8Array): Uint8Array {
  const buffer = new Uint8Array(512);
  buffer.set(bytes.subarray(0, 512));
  return buffer;
}

/** The declared probe's score for the first 512 bytes `head` of a file called `filename`. */
export function probeScore(probe: ProbeSignature, head: Uint8Array, filename: string): number {
  const tests = (probe.match === undefined ? [] : Array.isArray(probe.match) ? probe.match : [probe.match]) as ProbeTest[];
  const latin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
  const bytesAt = (at: number, bytes: Uint8Array) => at + bytes.length <= head.length && bytes.every((b, i) => head[at + i] === b);
  const holds = (test: ProbeTest): boolean => {
    if ('minLength' in test) return head.length >= test.minLength;
    if ('suffix' in test) return filename.length > test.suffix.length && filename.endsWith(test.suffix);
    if ('bytes' in test) return bytesAt(test.at, latin1(test.bytes));
    if ('cstring' in test) return bytesAt(test.at, latin1(`${test.cstring}\0`));
    if ('prefix' in test) {
      const bytes = latin1(test.prefix);
      const n = Math.min(bytes.length, Math.max(0, head.length - test.at));
      return bytes.subarray(0, n).every((b, i) => head[test.at + i] === b);
    }
    if ('u32le' in test) {
      if (test.at + 4 > head.length) return false;
      const value = new DataView(head.buffer, head.byteOffset).getUint32(test.at, true);
      const cmp = test.u32le;
      if (typeof cmp === 'object' && cmp.in) return cmp.in.map(Number).includes(value);
      return value === Number(cmp);
    }
    throw new Error(`probe test not understood by this reference: ${JSON.stringify(test)}`);
  };
  return tests.every(holds) ? probe.score : 0;
}

// ---------------------------------------------------------------------------------------------
// Fuzzing
// ---------------------------------------------------------------------------------------------

export interface FuzzTarget {
  name: string;
  bytes: Uint8Array;
  /** Byte ranges [start, end) where most mutations land (headers, tables). */
  hot: [number, number][];
  /**
   * Recomputes checksums after a mutation so it reaches the code behind them (optional).
   * `slice` gives a mutated copy of a range, `write` changes one byte, `touched` tells whether
   * a mutation landed in a range.
   */
  fix?: (
    slice: (at: number, length: number) => Uint8Array,
    write: (at: number, value: number) => void,
    size: number,
    touched: (at: number, length: number) => boolean,
  ) => void;
}

export interface FuzzReport {
  opened: number;
  readOk: number;
  errors: Map<string, number>;
}

/**
 * `iterations` seeded mutations of the targets: 1-8 byte changes (mostly in hot ranges, as
 * random bytes, bit flips or boundary values), sometimes a truncation. Each is opened and a
 * bounded set of ranges read; anything thrown must be an ImageError.
 */
export async function fuzz(
  driver: FormatDriver,
  targets: FuzzTarget[],
  iterations: number,
  seed: number,
  /** The longest read per range (the first range and the random one). */
  maxRead = 262144,
): Promise<FuzzReport> {
  const random = prng(seed);
  const pick = (n: number) => Math.floor(random() * n);
  const report: FuzzReport = { opened: 0, readOk: 0, errors: new Map() };
  for (let i = 0; i < iterations; i++) {
    const target = targets[i % targets.length]!;
    const patches = new Map<number, number>();
    let size = target.bytes.length;
    const read = (at: number) => patches.get(at) ?? target.bytes[at]!;
    const write = (at: number, value: number) => {
      if (at >= 0 && at < target.bytes.length) patches.set(at, value & 0xff);
    };
    const changes = 1 + pick(8);
    for (let c = 0; c < changes; c++) {
      let at: number;
      if (random() < 0.85 && target.hot.length > 0) {
        const [start, end] = target.hot[pick(target.hot.length)]!;
        at = start + pick(Math.max(1, Math.min(end, target.bytes.length) - start));
      } else {
        at = pick(target.bytes.length);
      }
      const kind = pick(4);
      if (kind === 0) write(at, pick(256));
      else if (kind === 1) write(at, read(at) ^ (1 << pick(8)));
      else if (kind === 2) write(at, [0, 0xff, 0x7f, 0x80, 1][pick(5)]!);
      else for (let k = 0; k < 4; k++) write(at + k, pick(2) ? 0xff : 0); // a boundary word
    }
    const slice = (at: number, length: number) => {
      const copy = target.bytes.slice(at, at + length);
      for (const [p, value] of patches) if (p >= at && p < at + copy.length) copy[p - at] = value;
      return copy;
    };
    const touched = (at: number, length: number) => [...patches.keys()].some((p) => p >= at && p < at + length);
    if (target.fix && random() < 0.5) target.fix(slice, write, size, touched);
    if (random() < 0.08) size = pick(target.bytes.length);
    const source = new PatchedSource(target.name, target.bytes, patches, size);
    let image: BlockImage | undefined;
    try {
      image = await driver.open(source, directContext(target.name));
      report.opened++;
      const v = image.virtualSize;
      expect(Number.isSafeInteger(v) && v >= 0).toBe(true);
      const ranges: [number, number][] = [
        [0, Math.min(v, 65536, maxRead)],
        [Math.max(0, v - 4096), Math.min(v, 4096)],
      ];
      const at = pick(Math.max(1, v));
      ranges.push([at, Math.min(v - at, 1 + pick(maxRead))]);
      for (const [offset, length] of ranges) if (length > 0) await image.read(offset, length);
      if (image.status && v > 0) {
        const where = pick(v);
        await image.status(where, Math.min(v - where, 65536));
      }
      report.readOk++;
    } catch (error) {
      if (!(error instanceof ImageError)) {
        throw new Error(`mutation ${i} of ${target.name} threw a non-ImageError: ${(error as Error)?.stack ?? String(error)}`);
      }
      expect(error.message.length).toBeGreaterThan(target.name.length + 2);
      const kind = error.problem.replace(/0x[0-9a-f]+|[0-9]+/g, 'N').slice(0, 60);
      report.errors.set(kind, (report.errors.get(kind) ?? 0) + 1);
    } finally {
      await image?.close();
    }
  }
  return report;
}

/**
 * A zlib stream of one fixed-Huffman block that uses literal/length code 286: zlib refuses it
 * ("invalid literal/length code"), fflate reads it as a length. The literals are chosen so that
 * fflate makes `size` bytes, and the Adler-32 trailer is that of fflate's bytes.
 */
export function lit286Stream(size: number): Uint8Array {
  for (let n = 1; n < size; n++) {
    const bytes: number[] = [];
    let acc = 0;
    let bits = 0;
    const put = (value: number, count: number) => {
      acc |= value << bits;
      bits += count;
      for (; bits >= 8; bits -= 8, acc >>>= 8) bytes.push(acc & 0xff);
    };
    const huff = (code: number, count: number) => {
      for (let i = count - 1; i >= 0; i--) put((code >> i) & 1, 1);
    };
    const lit = (s: number) => (s < 144 ? huff(0x30 + s, 8) : s < 256 ? huff(0x190 + s - 144, 9) : s < 280 ? huff(s - 256, 7) : huff(0xc0 + s - 280, 8));
    put(1, 1); // last block
    put(1, 2); // fixed codes
    for (let i = 0; i < n; i++) lit(65 + (i % 26));
    lit(286);
    huff(0, 5); // distance 1
    lit(256);
    if (bits) bytes.push(acc & 0xff);
    let out: Uint8Array;
    try {
      out = inflateSync(Uint8Array.from(bytes));
    } catch {
      continue;
    }
    if (out.length !== size) continue;
    const a = adler32(out);
    return Uint8Array.from([0x78, 0x9c, ...bytes, a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff]);
  }
  throw new Error(`no literal count makes fflate inflate code 286 to ${size} bytes`);
}
