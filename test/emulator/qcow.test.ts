// The qcow (version 1) driver: committed samples against qemu-img's own conversion, live variants
// (plain, compressed, backing files of several formats, seeded writes), bad input, and a seeded
// fuzz of 10,000 mutations.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { deflateRawSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QcowDriver } from '../../fixtures/emulator/src/drivers/qcow.js';
import { declaredMatcher } from './disk-formats-support.js';
import { requireTool } from '../support/system.js';
import {
  compareWithQemu,
  countingWrap,
  expectOneSourceReadPerRun,
  expectSlicesMatchWhole,
  firstDifference,
  fuzz,
  loadSamples,
  makeDiskData,
  openAndReadAll,
  openImage,
  prng,
  qemuIo,
  qemuRead,
  randomWrites,
  readAll,
  rejection,
  run,
  sampleTests,
  seededText,
} from './qcow-family-support.js';

void QcowDriver;

const { expected, files, nameOf, bytesOf, patched } = loadSamples('qcow');

/** Offsets of the first L2 table and of its entries. */
function firstL2(bytes: Uint8Array): { l1: number; l2: number; entry: (index: number) => number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const l1 = Number(view.getBigUint64(40));
  const l2 = Number(view.getBigUint64(l1));
  return { l1, l2, entry: (index) => l2 + index * 8 };
}

describe('qcow probe', () => {
  it('declares QEMU 7.2 qcow_probe: sizeof(QCowHeader) = 48 bytes, magic QFI\\xfb, version 1', () => {
    const { probe, matches } = declaredMatcher('qcow');
    const head = bytesOf('plain.qcow').slice(0, 512);
    expect(probe.score).toBe(100);
    expect(matches(head)).toBe(true);
    expect(matches(head.slice(0, 48))).toBe(true);
    expect(matches(head.slice(0, 47))).toBe(false);
    const v2 = head.slice();
    new DataView(v2.buffer).setUint32(4, 2);
    expect(matches(v2)).toBe(false);
  });
});

describe('qcow committed samples', () => {
  it('has the samples the script makes', () => {
    expect(Object.keys(expected).sort()).toEqual(['backing.qcow', 'compressed.qcow', 'plain.qcow']);
  });

  sampleTests({ expected, files, nameOf });

  it('reports the cluster size and the backing file', async () => {
    const image = await openImage('backing.qcow', { files });
    expect(image.details).toEqual({ 'cluster-size': 512, 'backing-filename': 'plain.qcow' });
    await image.close();
    const plain = await openImage('plain.qcow', { files });
    expect(plain.details).toEqual({ 'cluster-size': 4096 });
    await plain.close();
  });

  it('reads at unaligned offsets and lengths equal slices of the whole disk', async () => {
    await expectSlicesMatchWhole(['compressed.qcow', 'backing.qcow'], files, 62);
  });

  it('serves a whole-disk read with one source read per contiguous run', async () => {
    await expectOneSourceReadPerRun('plain.qcow', files);
  });
});

const haveQemu = requireTool('qemu-img', 'the live qcow comparisons') && requireTool('qemu-io', 'the live qcow comparisons');

describe.skipIf(!haveQemu)('qcow live variants against qemu-img', { timeout: 240_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'qcow-live-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /** qemu-img 7.2 exits 1 without a message after `convert -c -O qcow` although the image is whole. */
  function convertCompressed(raw: string, name: string): void {
    const args = ['convert', '-c', '-f', 'raw', '-O', 'qcow', raw, name];
    const result = spawnSync('qemu-img', args, { cwd: work, encoding: 'utf8' });
    if (result.status !== 0 && !(result.status === 1 && result.stderr === '')) throw new Error(`qemu-img ${args.join(' ')} (${result.status}): ${result.stderr}`);
  }

  it('plain and compressed conversions of several sizes', async () => {
    for (const [seed, size, grain] of [
      [1, 512 * 1024, 4096],
      [2, 3 * 1024 * 1024, 65536],
      [3, 1024 * 1024 + 512, 1000],
    ] as const) {
      const raw = join(work, `d${seed}.raw`);
      makeDiskData(seed + 1100, size, grain, raw);
      run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow', raw, `p${seed}.qcow`], work);
      const plain = await compareWithQemu(work, `p${seed}.qcow`);
      expect(firstDifference(plain, new Uint8Array(readFileSync(raw)))).toBe(-1);
      convertCompressed(raw, `c${seed}.qcow`);
      await compareWithQemu(work, `c${seed}.qcow`);
    }
  });

  it('seeded writes over backing files of each format (raw, qcow, qcow2, qed)', async () => {
    const raw = join(work, 'base.raw');
    makeDiskData(1201, 1024 * 1024, 8192, raw);
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', '-o', 'cluster_size=4096', raw, 'base.qcow2'], work);
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'qed', raw, 'base.qed'], work);
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow', raw, 'base.qcow'], work);
    for (const [backing, format] of [['base.raw', 'raw'], ['base.qcow', 'qcow'], ['base.qcow2', 'qcow2'], ['base.qed', 'qed']] as const) {
      const name = `over-${format}.qcow`;
      run('qemu-img', ['create', '-q', '-f', 'qcow', '-b', backing, '-F', format, name, '1536K'], work);
      qemuIo(work, name, randomWrites(1300 + format.length, 1536 * 1024, 512, 40, false));
      await compareWithQemu(work, name);
    }
  });

  it('batches compressed clusters: one source read per 63.5 KiB guest read, byte-exact', async () => {
    const raw = join(work, 'batch.raw');
    const size = 2 * 1024 * 1024;
    writeFileSync(raw, seededText(1501, size)); // every 4 KiB cluster compresses
    convertCompressed(raw, 'batch.qcow');
    const want = qemuRead(['batch.qcow'], work).bytes;
    expect(statSync(join(work, 'batch.qcow')).size).toBeLessThan(size * 0.75);
    const counter = { reads: 0, bytes: 0 };
    const image = await openImage(join(work, 'batch.qcow'), { wrap: countingWrap(counter) });
    try {
      const measured: number[] = [];
      const random = prng(1502);
      for (let i = 0; i < 12; i++) {
        const offset = i === 0 ? 5 * 4096 + 512 : Math.floor((random() * (size - 65024)) / 512) * 512;
        await image.status!(offset, 65024); // loads the tables
        const before = counter.reads;
        const data = await image.read(offset, 65024);
        measured.push(counter.reads - before);
        expect(firstDifference(data, want.subarray(offset, offset + 65024)), `at ${offset}`).toBe(-1);
      }
      expect(Math.max(...measured), `source reads per 63.5 KiB read: ${measured.join(' ')}`).toBeLessThanOrEqual(1);
      const before = counter.reads;
      expect(firstDifference(await readAll(image), want)).toBe(-1);
      expect(counter.reads - before, 'whole-disk reads in 1 MiB pieces').toBeLessThanOrEqual(2 * (size >> 20) + 2);
      for (let i = 0; i < 40; i++) {
        const offset = Math.floor(random() * (size - 1));
        const length = 1 + Math.floor(random() * Math.min(size - offset, 300_000));
        expect(firstDifference(await image.read(offset, length), want.subarray(offset, offset + length)), `at ${offset}+${length}`).toBe(-1);
      }
    } finally {
      await image.close();
    }
  });

  it('writes into a compressed image (compressed clusters rewritten in place)', async () => {
    const raw = join(work, 'rw.raw');
    makeDiskData(1401, 1024 * 1024, 4096, raw);
    convertCompressed(raw, 'rw.qcow');
    qemuIo(work, 'rw.qcow', randomWrites(1402, 1024 * 1024, 4096, 30, false));
    await compareWithQemu(work, 'rw.qcow');
  });
});

describe('qcow bad input', () => {
  async function openError(map: Map<string, Uint8Array>, name: string): Promise<string> {
    const error = await rejection(openAndReadAll(name, { files: map, format: 'qcow' }));
    expect(error.image).toBe(name);
    expect(error.message).not.toContain('\n');
    return error.problem;
  }

  it('truncated files', async () => {
    // Cut in half, the tables still read and the clusters past EOF read as zeros, as qemu-img
    // converts it; a compressed cluster past EOF cannot inflate, so that one still fails.
    const whole = await openAndReadAll('plain.qcow', { files, format: 'qcow' });
    const half = Math.floor(bytesOf('plain.qcow').length / 2);
    const cut = await openAndReadAll('plain.qcow', { files: patched('plain.qcow', () => {}, half), format: 'qcow' });
    expect(firstDifference(cut.subarray(0, 4096), whole.subarray(0, 4096))).toBe(-1);
    expect(firstDifference(cut, whole)).toBeGreaterThan(0);
    const compressedHalf = Math.floor(bytesOf('compressed.qcow').length / 2);
    expect(await openError(patched('compressed.qcow', () => {}, compressedHalf), 'compressed.qcow')).toMatch(
      /past the end of the file|inflates to less|corrupt/,
    );
  });

  it('header fields out of range', async () => {
    const cases: [string, (view: DataView) => void, RegExp][] = [
      ['bad magic', (v) => v.setUint32(0, 0), /Image not in qcow format/],
      ['version 2', (v) => v.setUint32(4, 2), /does not support qcow version 2 \(try the 'qcow2' driver instead\)/],
      ['version 9', (v) => v.setUint32(4, 9), /does not support qcow version 9$/],
      ['size 1', (v) => v.setBigUint64(24, 1n), /Image size is too small/],
      ['cluster_bits 17', (v) => v.setUint8(32, 17), /Cluster size must be between 512 and 64k/],
      ['cluster_bits 8', (v) => v.setUint8(32, 8), /Cluster size must be between 512 and 64k/],
      ['l2_bits 14', (v) => v.setUint8(33, 14), /L2 table size must be between 512 and 64k/],
      ['l2_bits 5', (v) => v.setUint8(33, 5), /L2 table size must be between 512 and 64k/],
      ['AES', (v) => v.setUint32(36, 1), /AES encryption .* not supported/],
      ['crypt method 2', (v) => v.setUint32(36, 2), /invalid encryption method in qcow header/],
      ['size near 2^64', (v) => v.setBigUint64(24, 2n ** 64n - 10n), /Image too large/],
      ['L1 table of 2^47 entries', (v) => (v.setUint8(32, 9), v.setUint8(33, 6), v.setBigUint64(24, 1n << 62n)), /Image too large/],
      ['L1 table ending past BDRV_MAX_LENGTH', (v) => v.setBigUint64(40, 2n ** 63n - 2n ** 30n - 4n), /Could not read the L1 table .*Input\/output error/],
      ['L1 offset beyond 2^63', (v) => v.setBigUint64(40, 2n ** 63n + 512n), /Could not read the L1 table .*Input\/output error/],
      ['backing file name too long', (v) => (v.setBigUint64(8, 48n), v.setUint32(16, 1024)), /Backing file name too long/],
      ['backing file name ending past BDRV_MAX_LENGTH', (v) => (v.setBigUint64(8, 2n ** 63n - 2n ** 30n), v.setUint32(16, 1)), /Could not read the backing file name/],
    ];
    for (const [label, edit, message] of cases) {
      const problem = await openError(patched('plain.qcow', edit), 'plain.qcow').catch((error: Error) => `${label}: ${error.message}`);
      expect(problem, label).toMatch(message);
    }
  });

  it('table and cluster pointers past EOF or unaligned, corrupt compressed clusters', async () => {
    const { l1, entry } = firstL2(bytesOf('plain.qcow'));
    // (Tables and data clusters past EOF but short of BDRV_MAX_LENGTH read as zeros: below.)
    expect(await openError(patched('plain.qcow', (v) => v.setBigUint64(l1, 2n ** 63n - 2n ** 30n - 4095n)), 'plain.qcow')).toMatch(/L2 table at offset \d+ cannot be read/);
    expect(await openError(patched('plain.qcow', (v) => v.setBigUint64(entry(0), v.getBigUint64(entry(0)) + 7n)), 'plain.qcow')).toMatch(/unaligned host offset/);
    expect(await openError(patched('plain.qcow', (v) => v.setBigUint64(entry(0), 0x7fff_ffff_ffff_f000n)), 'plain.qcow')).toMatch(/host offset \d+\) cannot be read/);

    const bytes = bytesOf('compressed.qcow');
    const c = firstL2(bytes);
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    let index = 0;
    while (!(view.getBigUint64(c.entry(index)) & (1n << 63n))) index++;
    const descriptor = view.getBigUint64(c.entry(index));
    const hostOffset = Number(descriptor & ((1n << 51n) - 1n)); // 4 KiB clusters: 63 - 12 offset bits
    expect(await openError(patched('compressed.qcow', (_v, b) => b.fill(0xff, hostOffset, hostOffset + 32)), 'compressed.qcow')).toMatch(
      /compressed cluster at host offset \d+ \(guest offset \d+\) is corrupt/,
    );
    // One byte inside a compressed cluster's deflate stream: zlib (and so qemu-img) finds an invalid
    // code there; an inflater without zlib's checks returned the garbage as the guest's data.
    const flipped = patched('compressed.qcow', (_v, b) => (b[11267] = 0xff));
    expect(await openError(flipped, 'compressed.qcow')).toMatch(/compressed cluster at host offset \d+ \(guest offset \d+\) is corrupt: invalid (literal\/length|distance|code)/);
    if (requireTool('qemu-img', 'the comparison with qemu-img')) {
      const file = join(mkdtempSync(join(tmpdir(), 'gm-qcow-flip-')), 'x.qcow');
      writeFileSync(file, flipped.get('compressed.qcow')!);
      const converted = spawnSync('qemu-img', ['convert', '-f', 'qcow', '-O', 'raw', file, `${file}.raw`], { encoding: 'utf8' });
      expect(converted.status, 'qemu-img refuses it too').not.toBe(0);
      expect(converted.stderr).toMatch(/Input\/output error/);
      rmSync(dirname(file), { recursive: true, force: true });
    }
    expect(await openError(patched('compressed.qcow', (v) => v.setBigUint64(c.entry(index), descriptor & ((1n << 51n) - 1n) | (1n << 63n))), 'compressed.qcow')).toMatch(
      /has size 0/,
    );
    expect(await openError(patched('compressed.qcow', (v) => v.setBigUint64(c.entry(index), (1n << 63n) | (100n << 51n) | (1n << 40n))), 'compressed.qcow')).toMatch(
      /compressed cluster .* lies past the end of the file/,
    );
  });

  it('backing loops and missing backing files', async () => {
    // backing.qcow names plain.qcow; serve backing.qcow's own bytes as plain.qcow.
    const loop = new Map(files).set('plain.qcow', bytesOf('backing.qcow'));
    expect((await rejection(openImage('backing.qcow', { files: loop }))).message).toMatch(/backing chain loop: backing.qcow -> plain.qcow -> plain.qcow/);
    const missing = new Map(files);
    missing.delete('plain.qcow');
    expect((await rejection(openImage('backing.qcow', { files: missing }))).message).toMatch(/plain.qcow: no such file/);
  });
});

describe('qcow as qemu-img reads crafted images', () => {
  const CLUSTER = 4096;

  /** A qcow header (4 KiB clusters, 512-entry L2 tables) padded to 512 bytes. */
  function header(size: bigint, l1Offset: bigint): Uint8Array {
    const bytes = new Uint8Array(512);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, 0x514649fb);
    view.setUint32(4, 1);
    view.setBigUint64(24, size);
    view.setUint8(32, 12);
    view.setUint8(33, 9);
    view.setBigUint64(40, l1Offset);
    return bytes;
  }

  function pattern(length: number, seed: number): Uint8Array {
    return Uint8Array.from({ length }, (_, i) => (i * 131 + seed * 7 + (i >> 9) * 17) & 0xff);
  }

  /** Header, L1 table at 512 (one entry: `l2Offset`), L2 table at 1024 of `entries`, then `data`. */
  function image(size: number, l1Offset: bigint, l2Offset: bigint, entries: Record<number, bigint>, data: Uint8Array): Uint8Array {
    const bytes = new Uint8Array(1024 + 4096 + data.length);
    const view = new DataView(bytes.buffer);
    bytes.set(header(BigInt(size), l1Offset));
    view.setBigUint64(512, l2Offset);
    for (const [index, entry] of Object.entries(entries)) view.setBigUint64(1024 + Number(index) * 8, entry);
    bytes.set(data, 1024 + 4096);
    return bytes;
  }

  /** qemu-img's raw conversion of `bytes` (-f qcow), or its error; undefined without qemu-img. */
  function qemuConvert(bytes: Uint8Array): { raw?: Uint8Array; error?: string } | undefined {
    if (!requireTool('qemu-img', 'the comparison with qemu-img')) return undefined;
    const dir = mkdtempSync(join(tmpdir(), 'gm-qcow-crafted-'));
    try {
      writeFileSync(join(dir, 'x.qcow'), bytes);
      const result = spawnSync('qemu-img', ['convert', '-f', 'qcow', '-O', 'raw', 'x.qcow', 'x.raw'], { cwd: dir, encoding: 'utf8' });
      return result.status === 0 ? { raw: new Uint8Array(readFileSync(join(dir, 'x.raw'))) } : { error: result.stderr };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const compressed = (offset: number, storedLength: number) => (1n << 63n) | (BigInt(storedLength) << 51n) | BigInt(offset);

  it('decides the kept compressed cluster in guest order, across reads: a stale entry fails as in qemu-img', async () => {
    // c0 compressed at X, c1 unallocated, c2 compressed at Y, c3 at X again with a 16-byte size (a
    // truncated stream). qcow_co_preadv inflates c0, then c2 (which replaces the kept cluster), so
    // c3 misses and its 16 bytes fail to inflate: EIO, however the reads are cut.
    const zx = deflateRawSync(pattern(CLUSTER, 1), { level: 9, windowBits: 12 });
    const zy = deflateRawSync(pattern(CLUSTER, 2), { level: 9, windowBits: 12 });
    const x = 1024 + 4096;
    const y = x + zx.length;
    const data = new Uint8Array(zx.length + zy.length);
    data.set(zx);
    data.set(zy, zx.length);
    const bytes = image(16 * CLUSTER, 512n, 1024n, { 0: compressed(x, zx.length), 2: compressed(y, zy.length), 3: compressed(x, 16) }, data);
    const files = new Map([['stale.qcow', bytes]]);
    const opened = await openImage('stale.qcow', { files, format: 'qcow' });
    try {
      expect(await opened.read(0, CLUSTER)).toEqual(pattern(CLUSTER, 1));
      // As qemu-img convert reads it: the unallocated c1 splits the disk into two reads.
      expect((await rejection(opened.read(2 * CLUSTER, 14 * CLUSTER))).message).toMatch(/guest offset 12288\) inflates to less than a cluster/);
    } finally {
      await opened.close();
    }
    // With no cluster between, c3 is served from the kept c0, as qcow's decompress_cluster does.
    const kept = image(16 * CLUSTER, 512n, 1024n, { 0: compressed(x, zx.length), 2: compressed(x, 16), 3: compressed(x, 0) }, data);
    const keptBytes = await openAndReadAll('kept.qcow', { files: new Map([['kept.qcow', kept]]), format: 'qcow' });
    expect(keptBytes.subarray(2 * CLUSTER, 4 * CLUSTER)).toEqual(new Uint8Array([...pattern(CLUSTER, 1), ...pattern(CLUSTER, 1)]));
    const qemu = qemuConvert(bytes);
    if (qemu) expect(qemu.error).toMatch(/error while reading at byte 12288: Input\/output error/);
    const qemuKept = qemuConvert(kept);
    if (qemuKept) expect(firstDifference(keptBytes, qemuKept.raw!)).toBe(-1);
  });

  it('zero-pads a header shorter than its 48 bytes (qemu-img -f qcow opens a 40-byte file)', async () => {
    // The L1 offset reads as 0: the L1 table is the header itself, its one entry (magic and
    // version) an L2 offset far past EOF, so every cluster reads as zeros.
    const bytes = header(1n << 20n, 0n).slice(0, 40);
    const opened = await openImage('short.qcow', { files: new Map([['short.qcow', bytes]]), format: 'qcow' });
    try {
      expect(opened.virtualSize).toBe(1048576);
      expect(firstDifference(await readAll(opened), new Uint8Array(1048576))).toBe(-1);
    } finally {
      await opened.close();
    }
    const qemu = qemuConvert(bytes);
    if (qemu) expect(firstDifference(qemu.raw!, new Uint8Array(1048576))).toBe(-1);
  });

  it('reads an L1 table, an L2 table and a data cluster past EOF as zeros, as qemu-img does', async () => {
    const data = pattern(CLUSTER, 3);
    const cases: [string, Uint8Array][] = [
      ['L1 table past EOF', image(4 * CLUSTER, 10n ** 9n, 1024n, { 1: 5120n }, data)],
      ['L2 table past EOF', image(4 * CLUSTER, 512n, 10n ** 9n, { 1: 5120n }, data)],
      ['data cluster past EOF', image(4 * CLUSTER, 512n, 1024n, { 1: 999999488n }, data)],
      ['data cluster at 2^62', image(4 * CLUSTER, 512n, 1024n, { 1: 1n << 62n }, data)],
    ];
    for (const [label, bytes] of cases) {
      const read = await openAndReadAll('past.qcow', { files: new Map([['past.qcow', bytes]]), format: 'qcow' });
      expect(read, label).toEqual(new Uint8Array(4 * CLUSTER));
      const qemu = qemuConvert(bytes);
      if (qemu) expect(qemu.raw, `${label}: qemu-img`).toEqual(read);
    }
    // Partly past EOF: the head of the cluster, then zeros.
    const partly = image(4 * CLUSTER, 512n, 1024n, { 1: 5120n }, data.subarray(0, 1000));
    const read = await openAndReadAll('partly.qcow', { files: new Map([['partly.qcow', partly]]), format: 'qcow' });
    expect(read.subarray(CLUSTER, 2 * CLUSTER)).toEqual(new Uint8Array([...data.subarray(0, 1000), ...new Uint8Array(CLUSTER - 1000)]));
  });
});

describe('qcow fuzz', () => {
  it('10,000 seeded mutations of the samples: only ImageError, never a hang', async () => {
    const hot = (_name: string, bytes: Uint8Array): [number, number][] => {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const areas: [number, number][] = [[0, Math.min(bytes.length, 128)]];
      const l1 = Number(view.getBigUint64(40));
      const l2Bytes = 8 * 2 ** view.getUint8(33);
      areas.push([l1, Math.min(bytes.length, l1 + 64)]);
      for (let i = 0; i < 4 && l1 + i * 8 + 8 <= bytes.length; i++) {
        const l2 = Number(view.getBigUint64(l1 + i * 8));
        if (l2 > 0 && l2 < bytes.length) areas.push([l2, Math.min(bytes.length, l2 + Math.min(l2Bytes, 2048))]);
      }
      return areas;
    };
    const report = await fuzz({ files, targets: Object.keys(expected).map(nameOf), iterations: 10_000, seed: 20240602, hotBytes: hot });
    expect(report.iterations).toBe(10_000);
    expect(report.readsCompleted).toBeGreaterThan(1000);
    expect(report.imageErrors).toBeGreaterThan(1000);
  }, 120_000);
});
