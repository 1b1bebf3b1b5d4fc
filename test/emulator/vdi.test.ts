// The vdi driver against qemu-img 7.2: committed samples (dynamic, static, reordered blocks with
// discarded entries), live images from qemu-img and qemu-io compared byte for byte with
// `qemu-img convert -O raw`, every header check of QEMU's vdi_open (each bad header is refused by
// both, with QEMU's messages for its limits), block maps and blocks cut short by the end of the file
// (zeros, as QEMU reads them), and a seeded fuzz.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ByteSource } from '../../fixtures/emulator/src/block/types.js';
import { requireTool } from '../support/system.js';
import { diskData, expectReadsAsReference, expectSameAsQemu, fuzz, imageError, loadSamples, openImage, qemuAccepts, readAll, run, sampleScript, sampleTests, scratchFolder } from './vmdk-family-support.js';

const samples = loadSamples('vdi');
const work = scratchFolder('vdi');
const haveQemu = requireTool('qemu-img', 'the vdi live tests') && requireTool('qemu-io', 'the vdi live tests');

describe('vdi: committed samples', () => {
  sampleTests('vdi', samples, { chunk: 333_333, maxSlice: 2_500_000, seed: (key) => key.length });

  it('reports unallocated and discarded blocks as zero, and the image type', async () => {
    const dynamic = await openImage('dynamic.vdi', { files: samples.files });
    expect(dynamic.details).toMatchObject({ 'image-type': 'dynamic', 'cluster-size': 1 << 20 });
    expect(await dynamic.status!(2 << 20, 1 << 20)).toEqual({ zero: true, length: 1 << 20 });
    // Block 3 is allocated (written with zeros): data, as QEMU reports it.
    expect(await dynamic.status!(3 << 20, 1 << 20)).toEqual({ zero: false, length: 1 << 20 });
    await dynamic.close();
    const reordered = await openImage('reordered.vdi', { files: samples.files });
    // Blocks 2 (unallocated) and 3 (discarded) in one answer.
    expect(await reordered.status!(2 << 20, 2 << 20)).toEqual({ zero: true, length: 2 << 20 });
    await reordered.close();
    const fixed = await openImage('static.vdi', { files: samples.files });
    expect(fixed.details).toMatchObject({ 'image-type': 'static' });
    await fixed.close();
  });

  it('reads a static image in one source read (adjacent blocks merged)', async () => {
    let reads = 0;
    const wrap = (source: ByteSource): ByteSource => ({
      name: source.name,
      size: source.size,
      read: (offset, length) => {
        reads++;
        return source.read(offset, length);
      },
      close: () => source.close(),
    });
    const image = await openImage('static.vdi', { files: samples.files, wrap });
    const before = reads;
    await image.read(1000, image.virtualSize - 2000);
    // The block map page is cached from the first lookup on; the data is one run.
    expect(reads - before).toBeLessThanOrEqual(2);
    await image.close();
  });
});

describe.runIf(haveQemu)('vdi: live images from qemu-img', () => {
  for (const [label, options, size] of [
    ['dynamic', [], 5 * 1024 * 1024 + 1536],
    ['static', ['-o', 'static=on'], 2 * 1024 * 1024 + 512],
    ['dynamic, not a whole block', [], 1_000_448],
  ] as const) {
    it(`${label}, ${size} bytes, converted from seeded data`, async () => {
      const raw = diskData(work(), `${label}.raw`, size % 1000, size, 262144);
      const file = join(work(), `${label.replace(/\W/g, '-')}.vdi`);
      run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vdi', ...options, raw, file]);
      await expectSameAsQemu('vdi', file, work(), 700_001);
    });
  }

  it('qemu-io writes allocate blocks out of order, straddling block edges', async () => {
    const file = join(work(), 'writes.vdi');
    run('qemu-img', ['create', '-q', '-f', 'vdi', file, '6M']);
    run('qemu-io', ['-f', 'vdi', '-c', 'write -P 0x41 5M 4096', '-c', 'write -P 0x42 1048000 2000', '-c', 'write -P 0x43 3M 1M', '-c', 'write -P 0 4M 512', file]);
    await expectSameAsQemu('vdi', file, work(), 700_001);
    sampleScript('vdi-tools.mjs', ['reorder', file, join(work(), 'writes-reordered.vdi')]);
    await expectSameAsQemu('vdi', join(work(), 'writes-reordered.vdi'), work(), 700_001);
  });

  it('a disk size that is not a multiple of 512 (VBoxManage convertfromraw) is rounded up like QEMU', async () => {
    const raw = diskData(work(), 'odd.raw', 5, 1 << 20, 65536);
    const file = join(work(), 'odd.vdi');
    run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vdi', raw, file]);
    const bytes = new Uint8Array(readFileSync(file));
    new DataView(bytes.buffer).setBigUint64(0x170, BigInt((1 << 20) - 300), true);
    writeFileSync(file, bytes);
    await expectSameAsQemu('vdi', file, work(), 700_001);
  });
});

describe('vdi: bad input', () => {
  const base = () => samples.files.get('dynamic.vdi')!.slice();
  const set32 = (at: number, value: number) => (bytes: Uint8Array) => new DataView(bytes.buffer).setUint32(at, value, true);
  const set64 = (at: number, value: bigint) => (bytes: Uint8Array) => new DataView(bytes.buffer).setBigUint64(at, value, true);

  // [name, change, message, QEMU refuses it too]
  const cases: [string, (bytes: Uint8Array) => Uint8Array | void, RegExp, boolean][] = [
    ['truncated to its header', (b) => b.slice(0, 300), /sector size 0|not a VDI image/, true],
    ['bad signature', set32(0x40, 0xbeda1080), /bad signature/, true],
    ['version 1.0', set32(0x44, 0x00010000), /version 1\.0/, true],
    ['unaligned block map', set32(0x154, 0x201), /block map offset/, true],
    ['unaligned data', set32(0x158, 0x1001), /data offset/, true],
    ['sector size 4096', set32(0x168, 4096), /sector size/, true],
    ['block size 2 MiB', set32(0x178, 2 << 20), /block size/, true],
    ['block size 0', set32(0x178, 0), /block size/, true],
    ['disk larger than its blocks', set64(0x170, 6n << 20n), /does not fit/, true],
    ['disk size beyond the maximum', set64(0x170, 1n << 60n), /: Unsupported VDI image size \(size is 0x1000000000000000, max supported is 0x1fffff8000000\)$/, true],
    // QEMU 7.2's limits: 536870784 blocks (a block map of one request, 0x7ffffe00 bytes), and disks
    // of that many 1 MiB blocks, with QEMU's messages.
    ['disk size one block above the maximum', (b) => {
      set32(0x180, 536870785)(b);
      set64(0x170, 536870785n << 20n)(b);
    }, /: Unsupported VDI image size \(size is 0x1fffff8100000, max supported is 0x1fffff8000000\)$/, true],
    ['disk size one byte above the maximum', (b) => {
      set32(0x180, 536870785)(b);
      set64(0x170, (536870784n << 20n) + 1n)(b);
    }, /: Unsupported VDI image size \(size is 0x1fffff8000001, max supported is 0x1fffff8000000\)$/, true],
    ['one block more than the maximum', set32(0x180, 536870785), /: unsupported VDI image \(too many blocks 536870785, max is 536870784\)$/, true],
    ['non-null link UUID', (b) => void b.fill(1, 0x1a8, 0x1b8), /link UUID/, true],
    ['non-null parent UUID', (b) => void b.fill(1, 0x1b8, 0x1c8), /parent UUID/, true],
    ['too many blocks', set32(0x180, 0x40000000), /: unsupported VDI image \(too many blocks 1073741824, max is 536870784\)$/, true],
    ['absurd block count and size, tiny file', (b) => {
      set32(0x180, 0x3fffffff)(b);
      set64(0x170, 0x3fffffffn << 20n)(b);
      return b.slice(0, 4096);
    }, /: Unsupported VDI image size \(size is 0x3fffffff00000, max supported is 0x1fffff8000000\)$/, true],
  ];

  for (const [name, change, message, qemuRefuses] of cases) {
    it(name, async () => {
      const bytes = base();
      const changed = change(bytes) ?? bytes;
      const files = new Map([['bad.vdi', changed]]);
      const error = await imageError(
        (async () => {
          const image = await openImage('bad.vdi', { format: 'vdi', files });
          try {
            await readAll(image);
          } finally {
            await image.close();
          }
        })(),
      );
      expect(error.message).toMatch(message);
      expect(error.message.startsWith('bad.vdi: ')).toBe(true);
      if (haveQemu && qemuRefuses) {
        writeFileSync(join(work(), 'bad.vdi'), changed);
        expect(qemuAccepts(join(work(), 'bad.vdi'), work(), 'vdi').ok).toBe(false);
      }
    });
  }
});

// QEMU reads the block map and the blocks with zeros past the end of the file (its block layer
// zero-fills reads there), even a map or a block that starts there, and qemu-img converts the image.
describe('vdi: bytes past the end of the file read as zeros, like QEMU', () => {
  const dynamic = () => samples.files.get('dynamic.vdi')!.slice();
  const fixed = () => samples.files.get('static.vdi')!.slice();
  const set32 = (at: number, value: number) => (bytes: Uint8Array) => new DataView(bytes.buffer).setUint32(at, value, true);
  const bmapOf = (bytes: Uint8Array) => new DataView(bytes.buffer).getUint32(0x154, true);

  /** The disk as QEMU reads it (vdi_co_preadv), every byte past the end of the file zero. */
  const reference = (bytes: Uint8Array): Uint8Array => {
    const view = new DataView(bytes.buffer, bytes.byteOffset, 512);
    const u32 = (at: number) => {
      let value = 0;
      for (let i = 3; i >= 0; i--) value = value * 256 + (bytes[at + i] ?? 0);
      return value;
    };
    const bmap = view.getUint32(0x154, true);
    const data = view.getUint32(0x158, true);
    const size = Math.ceil(Number(view.getBigUint64(0x170, true)) / 512) * 512;
    const block = 1 << 20;
    const out = new Uint8Array(size);
    for (let i = 0; i * block < size; i++) {
      const entry = u32(bmap + i * 4);
      if (entry >= 0xfffffffe) continue;
      const host = data + entry * block;
      const n = Math.min(block, size - i * block);
      if (host < bytes.length) out.set(bytes.subarray(host, Math.min(bytes.length, host + n)), i * block);
    }
    return out;
  };

  // [name, image, what the disk holds besides zeros (the test would prove little without data)]
  const cases: [string, () => Uint8Array, boolean][] = [
    // Block 4 is stored at 2 MiB of the data area, its data at 1536..2047; block 3, after it, is lost.
    ['a dynamic image cut inside a block, the next one wholly past the end', () => dynamic().slice(0, 1024 + (2 << 20) + 1800), true],
    ['a static image cut in the middle of a block', () => fixed().slice(0, 1024 + (1 << 20) + 300_000), true],
    ['a dynamic image cut inside its block map (entry 2 half there: 0x0000ffff)', () => dynamic().slice(0, 512 + 10), false],
    ['the block map starting past the end (every entry 0: block 0 everywhere)', () => {
      const b = dynamic();
      set32(0x154, 0x7ffffe00)(b);
      return b;
    }, true],
    ['a block entry past the end', () => {
      const b = dynamic();
      set32(bmapOf(b), 0x7fff)(b);
      return b;
    }, true],
    ['a block entry of 0xfffffffd (4 PiB into the file)', () => {
      const b = dynamic();
      set32(bmapOf(b), 0xfffffffd)(b);
      return b;
    }, true],
    ['536870784 blocks (the maximum) open', () => {
      const b = dynamic();
      set32(0x180, 536870784)(b);
      return b;
    }, true],
  ];

  for (const [name, build, hasData] of cases) {
    it(name, async () => {
      const bytes = build();
      await expectReadsAsReference('vdi', bytes, { reference: reference(bytes), hasData, piece: 333_333, ...(haveQemu ? { work: work() } : {}) });
    });
  }
});

describe('vdi: fuzz', () => {
  it('10,000+ seeded mutations of header and block map: only ImageError, bounded work', async () => {
    const only = (name: string) => new Map([[name, samples.files.get(name)!] as const]);
    const bases = ['dynamic.vdi', 'reordered.vdi', 'static.vdi'].map((main) => {
      const view = new DataView(samples.files.get(main)!.buffer);
      const bmapAt = view.getUint32(0x154, true);
      return { main, files: only(main), hot: [[0, 512], [bmapAt, bmapAt + 64]] as [number, number][] };
    });
    const stats = await fuzz('vdi', bases, 10_500, 0x766469);
    expect(stats.opened).toBeGreaterThan(1000);
    expect(stats.imageErrors).toBeGreaterThan(500);
  }, 120_000);
});
