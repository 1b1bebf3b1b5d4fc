// Shared by the qcow, qcow2 and qed suites. Opening images without the generated driver table: a
// small stand-in for the block layer's OpenContext that resolves names relative to the referencing
// image, probes the three formats by QEMU's rules (raw otherwise), refuses loops, and opens raw
// files directly. Sample folders load into memory (gzip-stored samples decompressed), so the same
// context serves the sample tests and the fuzzers. Plus the helpers the suites share: qemu-img
// conversion, seeded randomness, the fuzz loop.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { expect, it } from 'vitest';
import { ImageError, type BlockImage, type ByteSource, type FormatDriver, type OpenContext } from '../../fixtures/emulator/src/block/types.js';
import { openSource, RawImage } from './open-harness.js';
import { QcowDriver } from '../../fixtures/emulator/src/drivers/qcow.js';
import { Qcow2Driver } from '../../fixtures/emulator/src/drivers/qcow2.js';
import { QedDriver } from '../../fixtures/emulator/src/drivers/qed.js';
import { emulatorDir, imagesDir } from '../support/paths.js';
import { runTool } from '../support/system.js';
export { firstDifference, prng, readAll, sha256 } from '../support/bytes.js';
import { firstDifference, prng, readAll, sha256 } from '../support/bytes.js';

export interface OpenSettings {
  format?: string;
  options?: Record<string, string>;
  secrets?: Record<string, string>;
  /** Names resolved to bytes instead of files (samples in memory, fuzzing, hand-made images). */
  files?: ReadonlyMap<string, Uint8Array>;
  /** Wraps every source opened (to count reads). */
  wrap?: (source: ByteSource) => ByteSource;
  writable?: boolean;
  /** Open only to describe, as qemu-img info does (an encrypted image is then not unlocked). */
  describeOnly?: boolean;
}

const DRIVERS: Record<string, () => FormatDriver> = {
  qcow: () => new QcowDriver(),
  qcow2: () => new Qcow2Driver(),
  qed: () => new QedDriver(),
};

/** The qcow family's probes (QEMU's rules) with raw as the fallback. */
export function probeFormat(head: Uint8Array): string {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length >= 48 && view.getUint32(0) === 0x514649fb && view.getUint32(4) === 1) return 'qcow';
  if (head.length >= 112 && view.getUint32(0) === 0x514649fb && view.getUint32(4) >= 2) return 'qcow2';
  if (head.length >= 64 && view.getUint32(0, true) === 0x00444551) return 'qed';
  return 'raw';
}


/** Open `filename` (a path, or a key of `settings.files`) and its backing chain. */
export async function openImage(filename: string, settings: OpenSettings = {}, chain: readonly string[] = []): Promise<BlockImage> {
  if (chain.includes(filename)) throw new ImageError(chain[0]!, `backing chain loop: ${[...chain, filename].join(' -> ')}`);
  if (chain.length >= 16) throw new ImageError(chain[0]!, 'backing chain too deep');
  const source = await openSource(filename, settings);
  try {
    const format = settings.format ?? probeFormat(await source.read(0, Math.min(512, source.size)));
    if (format === 'raw') return new RawImage(source);
    const make = DRIVERS[format];
    if (!make) throw new ImageError(filename, `unknown format '${format}'`);
    const resolve = (name: string) => (settings.files ? name : join(dirname(filename), name));
    const ctx: OpenContext = {
      filename,
      options: settings.options ?? {},
      secrets: settings.secrets ?? {},
      writable: settings.writable ?? false,
      describeOnly: settings.describeOnly ?? false,
      // Backing files get neither the user's format nor the encryption options, as in QEMU.
      openImage: (name, backingFormat) =>
        openImage(resolve(name), { files: settings.files, wrap: settings.wrap, format: backingFormat }, [...chain, filename]),
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
  compression?: string;
}

/** A committed sample folder: expected.json and every file by name (gzip-stored ones unpacked). */
export function loadSamples(format: string) {
  const dir = join(imagesDir, format);
  const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Record<string, SampleEntry>;
  const files = new Map<string, Uint8Array>();
  for (const name of readdirSync(dir).sort()) {
    if (name === 'expected.json') continue;
    const bytes = new Uint8Array(readFileSync(join(dir, name)));
    if (name.endsWith('.gz')) files.set(name.slice(0, -3), new Uint8Array(gunzipSync(bytes)));
    else files.set(name, bytes);
  }
  const nameOf = (key: string) => (expected[key]?.compression === 'gzip' ? key.slice(0, -3) : key);
  const bytesOf = (name: string): Uint8Array => {
    const bytes = files.get(name);
    if (!bytes) throw new Error(`no sample ${name}`);
    return bytes;
  };
  /** The sample files with `name` replaced by an edited copy (cut to `length` first, if given). */
  const patched = (name: string, edit: (view: DataView, bytes: Uint8Array) => void, length?: number): Map<string, Uint8Array> => {
    const copy = bytesOf(name).slice(0, length);
    edit(new DataView(copy.buffer), copy);
    return new Map(files).set(name, copy);
  };
  return { expected, files, nameOf, bytesOf, patched };
}

/**
 * One test per committed sample: opened from memory with the recorded format and virtual size,
 * read whole (in 100,000-byte pieces) to the recorded sha256, and block status consistent with
 * the bytes (checkStatus).
 */
export function sampleTests(samples: Pick<ReturnType<typeof loadSamples>, 'expected' | 'files' | 'nameOf'>): void {
  for (const [key, entry] of Object.entries(samples.expected)) {
    it(`${key}: ${entry.note}`, async () => {
      const image = await openImage(samples.nameOf(key), { files: samples.files });
      try {
        expect(image.format).toBe(entry.format);
        expect(image.virtualSize).toBe(entry['virtual-size']);
        const data = await readAll(image, 100_000);
        expect(sha256(data)).toBe(entry.sha256);
        await checkStatus(image, data, 65_536);
      } finally {
        await image.close();
      }
    });
  }
}

/** The ImageError a promise rejects with; fails on success or any other error. */
export async function rejection(promise: Promise<unknown>): Promise<ImageError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ImageError) return error;
    throw error;
  }
  throw new Error('expected an ImageError, but the call succeeded');
}

/** Open and read everything; the ImageError that results, if any. */
export async function openAndReadAll(name: string, settings: OpenSettings): Promise<Uint8Array> {
  const image = await openImage(name, settings);
  try {
    return await readAll(image);
  } finally {
    await image.close();
  }
}

/** Runs a tool; throws with its stderr when it fails (test/support/system.ts). */
export const run = runTool;

/**
 * What qemu-img reads: `qemu-img convert -O raw` output and `qemu-img info`'s virtual size.
 * `source` is the image argument(s): a file name, or `--object ... --image-opts ...`.
 */
export function qemuRead(source: string[], cwd: string): { bytes: Uint8Array; virtualSize: number } {
  const out = join(cwd, `qemu-read-${process.pid}.raw`);
  try {
    run('qemu-img', ['convert', ...source, '-O', 'raw', out], cwd);
    const bytes = new Uint8Array(readFileSync(out));
    const info = JSON.parse(run('qemu-img', ['info', '--output=json', ...source], cwd)) as { 'virtual-size': number };
    return { bytes, virtualSize: info['virtual-size'] };
  } finally {
    rmSync(out, { force: true });
  }
}

export interface FuzzReport {
  iterations: number;
  opened: number;
  imageErrors: number;
  readsCompleted: number;
}

/**
 * Seeded mutation fuzzing of one sample among `files`: flip bytes (mostly in the first `hotBytes`,
 * where headers and tables live, sometimes anywhere), sometimes truncate; open and read a bounded
 * set of ranges plus status calls. Anything but an ImageError is rethrown with the seed and the
 * mutation, so a failure can be replayed.
 */
export async function fuzz(options: {
  files: Map<string, Uint8Array>;
  targets: readonly string[];
  iterations: number;
  seed: number;
  hotBytes?: (name: string, bytes: Uint8Array) => readonly [number, number][];
}): Promise<FuzzReport> {
  const random = prng(options.seed);
  const pick = (n: number) => Math.floor(random() * n);
  const report: FuzzReport = { iterations: 0, opened: 0, imageErrors: 0, readsCompleted: 0 };
  for (let i = 0; i < options.iterations; i++) {
    const name = options.targets[pick(options.targets.length)]!;
    const original = options.files.get(name)!;
    const hot = options.hotBytes?.(name, original) ?? [[0, Math.min(original.length, 4096)]];
    // Mutate in place and restore afterwards: some samples are megabytes.
    const changed: [number, number][] = [];
    const flips = 1 + pick(8);
    for (let f = 0; f < flips; f++) {
      let at: number;
      if (random() < 0.85) {
        const [start, end] = hot[pick(hot.length)]!;
        at = start + pick(Math.max(1, end - start));
      } else {
        at = pick(original.length);
      }
      if (at >= original.length) continue;
      changed.push([at, original[at]!]);
      const mode = pick(4);
      original[at] = mode === 0 ? 0 : mode === 1 ? 0xff : mode === 2 ? original[at]! ^ (1 << pick(8)) : pick(256);
    }
    const truncateTo = random() < 0.1 ? pick(original.length) : original.length;
    const files = new Map(options.files);
    files.set(name, truncateTo < original.length ? original.subarray(0, truncateTo) : original);
    const describe = () => `seed ${options.seed} iteration ${i}: ${name}, bytes ${JSON.stringify(changed.map(([at]) => at))}, length ${truncateTo}`;
    try {
      const image = await openImage(name, { files });
      report.opened++;
      try {
        const size = image.virtualSize;
        for (let r = 0; r < 3 && size > 0; r++) {
          // Mostly where the data is (the first MiB of these samples), sometimes anywhere.
          const offset = pick(Math.min(size, random() < 0.8 ? 1 << 20 : Number.MAX_SAFE_INTEGER));
          const length = 1 + pick(Math.min(size - offset, 32768));
          const data = await image.read(offset, length);
          if (data.length !== length) throw new Error(`read returned ${data.length} bytes, asked ${length}`);
          const status = image.status ? await image.status(offset, length) : { length };
          if (!(status.length >= 1 && status.length <= length)) throw new Error(`status answered ${status.length} bytes of ${length}`);
          report.readsCompleted++;
        }
      } finally {
        await image.close();
      }
    } catch (error) {
      if (!(error instanceof ImageError)) {
        throw new Error(`${describe()}: ${error instanceof Error ? `${error.name}: ${error.message}\n${error.stack}` : String(error)}`);
      }
      if (!/\S/.test(error.problem) || error.message.includes('\n')) throw new Error(`${describe()}: unclear message ${JSON.stringify(error.message)}`);
      report.imageErrors++;
    } finally {
      for (let c = changed.length - 1; c >= 0; c--) original[changed[c]![0]] = changed[c]![1];
    }
    report.iterations++;
  }
  return report;
}

/**
 * Walk `status` over the whole image: every run it calls zero must read as zeros in `data`.
 * Returns the number of zero bytes it reported.
 */
export async function checkStatus(image: BlockImage, data: Uint8Array, chunk = 1 << 20): Promise<number> {
  let zeroBytes = 0;
  for (let at = 0; at < image.virtualSize; ) {
    const length = Math.min(chunk, image.virtualSize - at);
    const status = await image.status!(at, length);
    if (!(status.length >= 1 && status.length <= length)) throw new Error(`status at ${at} answered ${status.length} of ${length} bytes`);
    if (status.zero) {
      const run = data.subarray(at, at + status.length);
      const nonZero = run.findIndex((byte) => byte !== 0);
      if (nonZero >= 0) throw new Error(`status called ${status.length} bytes at ${at} zero, but byte ${at + nonZero} is not`);
      zeroBytes += status.length;
    }
    at += status.length;
  }
  return zeroBytes;
}

/** A source that counts its reads. */
export function countingWrap(counter: { reads: number; bytes: number }): (source: ByteSource) => ByteSource {
  return (source) => ({
    name: source.name,
    get size() {
      return source.size;
    },
    read(offset, length) {
      counter.reads++;
      counter.bytes += length;
      return source.read(offset, length);
    },
    close: () => source.close(),
  });
}

/** Seeded disk content from the shared sample generator (random blocks, zero runs, text, edges). */
export function makeDiskData(seed: number, size: number, grain: number, path: string): void {
  run(process.execPath, [join(emulatorDir, 'scripts/samples/disk-data.mjs'), String(seed), String(size), String(grain), path]);
}

/**
 * Our driver against `qemu-img convert -O raw` and `qemu-img info`, byte for byte, plus the status
 * walk. `name` is in `work`; `qemuSource` is what qemu-img gets (default: the name).
 */
export async function compareWithQemu(work: string, name: string, settings: OpenSettings = {}, qemuSource: string[] = [name]): Promise<Uint8Array> {
  const want = qemuRead(qemuSource, work);
  const image = await openImage(join(work, name), settings);
  try {
    expect(image.virtualSize, `${name} virtual size`).toBe(want.virtualSize);
    const data = await readAll(image);
    expect(firstDifference(data, want.bytes), `${name}: first byte that differs from qemu-img`).toBe(-1);
    await checkStatus(image, data);
    return data;
  } finally {
    await image.close();
  }
}

/** All commands in one qemu-io run (one process, one unlock for LUKS). */
export function qemuIo(work: string, image: string, commands: string[], extra: string[] = []): void {
  run('qemu-io', [...extra, ...commands.flatMap((command) => ['-c', command]), image], work);
}

/**
 * Seeded qemu-io writes straddling `grain` edges: patterns, and with `zeroes` also `write -z`,
 * `write -z -u` and `discard` (sector aligned).
 */
export function randomWrites(seed: number, size: number, grain: number, count: number, zeroes = true): string[] {
  const random = prng(seed);
  const commands: string[] = [];
  for (let i = 0; i < count; i++) {
    const edge = Math.floor(random() * (size / grain)) * grain;
    const offset = Math.max(0, Math.min(size - 1, edge - Math.floor(random() * grain * 0.7)));
    const length = Math.max(1, Math.min(size - offset, 1 + Math.floor(random() * grain * 2.5)));
    const kind = random();
    const aligned = Math.floor(offset / 512) * 512;
    const alignedLength = Math.max(512, Math.floor(length / 512) * 512);
    if (!zeroes || kind < 0.55) commands.push(`write -P ${1 + Math.floor(random() * 254)} ${offset} ${length}`);
    else if (kind < 0.75) commands.push(`write -z ${offset} ${length}`);
    else if (kind < 0.9) commands.push(`write -z -u ${aligned} ${Math.min(alignedLength, size - aligned)}`);
    else commands.push(`discard ${aligned} ${Math.min(alignedLength, size - aligned)}`);
  }
  return commands;
}

/**
 * 150 seeded reads per image at unaligned offsets and lengths (up to 70 KB) equal the same slices
 * of one whole-disk read: block boundaries, partial clusters and backing fall-through line up.
 */
export async function expectSlicesMatchWhole(names: readonly string[], files: Map<string, Uint8Array>, seed: number): Promise<void> {
  const random = prng(seed);
  for (const name of names) {
    const image = await openImage(name, { files });
    const whole = await readAll(image);
    for (let i = 0; i < 150; i++) {
      const offset = Math.floor(random() * image.virtualSize);
      const length = 1 + Math.floor(random() * Math.min(image.virtualSize - offset, 70_000));
      expect(firstDifference(await image.read(offset, length), whole.subarray(offset, offset + length)), `${name} at ${offset}+${length}`).toBe(-1);
    }
    await image.close();
  }
}

/**
 * A whole-disk read of `name` costs one source read per contiguous allocated run, plus at most
 * `tableReads` reads of table slices. Returns the disk's bytes.
 */
export async function expectOneSourceReadPerRun(name: string, files: Map<string, Uint8Array>, tableReads = 2): Promise<Uint8Array> {
  const counter = { reads: 0, bytes: 0 };
  const image = await openImage(name, { files, wrap: countingWrap(counter) });
  const opened = counter.reads;
  const data = await image.read(0, image.virtualSize);
  const whole = counter.reads - opened;
  // Runs of allocated data, by status: each needs one read at most.
  let runs = 0;
  for (let at = 0; at < image.virtualSize; ) {
    const status = await image.status!(at, image.virtualSize - at);
    if (!status.zero) runs++;
    at += status.length;
  }
  expect(whole, name).toBeLessThanOrEqual(runs + tableReads);
  expect(whole, name).toBeLessThan(image.virtualSize / 4096);
  await image.close();
  return data;
}

/** Seeded words: text that deflates to about 60%, so qemu-img compresses every cluster. */
export function seededText(seed: number, size: number): Uint8Array {
  const words = 'qcow cluster compressed deflate sector guest host offset table batch read image'.split(' ');
  const random = prng(seed);
  const out = new Uint8Array(size);
  for (let at = 0; at < size; ) {
    const word = random() < 0.5 ? random().toString(36).slice(2, 8) : words[Math.floor(random() * words.length)]!;
    for (let i = 0; i <= word.length && at < size; i++) out[at++] = i < word.length ? word.charCodeAt(i) : 32;
  }
  return out;
}
