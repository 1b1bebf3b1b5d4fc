// The bochs driver: committed samples (v1 and v2 growing redologs) against qemu-img's conversion,
// samples rebuilt by make-bochs-cloop-dmg.mjs and compared with qemu-img live, bad input, and
// 10,000 seeded mutations.
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BochsDriver } from '../../fixtures/emulator/src/drivers/bochs.js';
import { requireTool } from '../support/system.js';
import {
  checkScriptSamples,
  declaredProbe,
  differenceFromQemu,
  expectImageError,
  expectSampleAsQemu,
  formatSuite,
  fuzz,
  openBytes,
  openPath,
  probeScore,
  qemuInfo,
  qemuProbeBuffer,
  readAll,
  run,
} from './disk-formats-support.js';

const driver = new BochsDriver();
const { samples, sample, work } = formatSuite('bochs');

function edited(name: string, edit: (view: DataView, bytes: Uint8Array) => void, length?: number): Uint8Array {
  const bytes = sample(name).slice(0, length);
  edit(new DataView(bytes.buffer), bytes);
  return bytes;
}

describe('bochs probe', () => {
  const probe = declaredProbe('bochs');
  it('matches QEMU: magic, "Redolog", "Growing" as C strings, version 1 or 2, 512 bytes of data', () => {
    const head = sample('growing-v2.bochs').slice(0, 512);
    expect(probeScore(probe, head, 'x')).toBe(100);
    expect(probeScore(probe, sample('growing-v1.bochs').slice(0, 512), 'x')).toBe(100);
    expect(probeScore(probe, head.slice(0, 511), 'x')).toBe(0);
    const undoable = head.slice();
    undoable.set(new TextEncoder().encode('Undoable\0'), 48);
    expect(probeScore(probe, undoable, 'x')).toBe(0);
    const v3 = head.slice();
    new DataView(v3.buffer).setUint32(64, 0x30000, true);
    expect(probeScore(probe, v3, 'x')).toBe(0);
    const unterminated = head.slice();
    unterminated[32 + 7] = 0x21; // "Redolog!"
    expect(probeScore(probe, unterminated, 'x')).toBe(0);
    if (!requireTool('qemu-img', 'the probe comparison')) return;
    for (const [name, bytes] of [
      ['v2.img', sample('growing-v2.bochs')],
      ['short.img', sample('growing-v2.bochs').slice(0, 511)],
      ['undoable.img', undoable],
      ['v3.img', v3],
    ] as const) {
      const file = join(work, name);
      writeFileSync(file, bytes);
      // QEMU pads a short file's probe buffer with zeros: the 511-byte header still probes as bochs.
      expect(qemuInfo(file).format, name).toBe(probeScore(probe, qemuProbeBuffer(bytes), name) === 100 ? 'bochs' : 'raw');
    }
  });
});

describe('bochs committed samples', () => {
  it('has the samples the script makes', () => {
    expect(samples.map((s) => s.key).sort()).toEqual(['growing-v1.bochs', 'growing-v2.bochs']);
  });

  for (const s of samples) {
    it(`${s.key}: ${s.expected.note}`, async () => {
      await (await expectSampleAsQemu(driver, 'bochs', s, { piece: 7000, seed: 3, reads: 200, maxLength: 20_000 })).close();
    });
  }
});

describe('bochs against qemu-img (live)', () => {
  it('rebuilds the samples and extra variants with the script; each reads as qemu-img reads it', async () => {
    if (!requireTool('qemu-img', 'the live bochs comparison') || !requireTool('bzip2', 'the sample script')) return;
    const checked = await checkScriptSamples(driver, 'bochs');
    expect(checked.sort()).toEqual(['extra-growing-32k.bochs', 'growing-v1.bochs', 'growing-v2.bochs']);
  });
});

describe('bochs bad input', () => {
  const V2 = 'growing-v2.bochs';
  const cases: { name: string; bytes: () => Uint8Array; pattern: RegExp; qemuRefuses: boolean }[] = [
    {
      name: 'type.bochs',
      bytes: () => edited(V2, (_, b) => b.set(new TextEncoder().encode('Volatile\0'), 48)),
      pattern: /not a Bochs growing redolog/,
      qemuRefuses: true,
    },
    {
      name: 'huge-catalog.bochs',
      bytes: () => edited(V2, (v) => v.setUint32(72, 0x80000000, true)),
      pattern: /catalog of 2147483648 entries is too large/,
      qemuRefuses: true,
    },
    {
      name: 'extent-size.bochs',
      bytes: () => edited(V2, (v) => v.setUint32(80, 3000, true)),
      pattern: /extent size 3000 is not a power of two/,
      qemuRefuses: true,
    },
    {
      name: 'extent-huge.bochs',
      bytes: () => edited(V2, (v) => v.setUint32(80, 1 << 30, true)),
      pattern: /extent size 1073741824 is too large/,
      qemuRefuses: true,
    },
    {
      name: 'disk-too-big.bochs',
      bytes: () => edited(V2, (v) => v.setBigUint64(88, 1n << 40n, true)),
      pattern: /catalog of \d+ entries is too small for a disk of 1099511627776 bytes/,
      qemuRefuses: true,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.pattern}`, async () => {
      const bytes = c.bytes();
      await expectImageError(openBytes(driver, c.name, bytes), c.name, c.pattern);
      if (c.qemuRefuses && requireTool('qemu-img', 'checking that qemu-img refuses it too')) {
        const file = join(work, c.name);
        writeFileSync(file, bytes);
        expect(run('qemu-img', ['info', '-f', 'bochs', file]).status).not.toBe(0);
      }
    });
  }
});

// Builders for hand-made growing redologs (the layout of scratch's mkbochs.py): a v2 header of
// `catalog` entries at offset 512, then whatever the case appends.
function bochsHeader(catalog: number, bitmap: number, extent: number, disk: number): Uint8Array {
  const header = new Uint8Array(512);
  const text = new TextEncoder();
  header.set(text.encode('Bochs Virtual HD Image'), 0);
  header.set(text.encode('Redolog'), 32);
  header.set(text.encode('Growing'), 48);
  const view = new DataView(header.buffer);
  for (const [at, value] of [[64, 0x20000], [68, 512], [72, catalog], [76, bitmap], [80, extent]] as const) view.setUint32(at, value, true);
  view.setBigUint64(88, BigInt(disk), true);
  return header;
}

function u32s(...values: number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  values.forEach((value, i) => new DataView(bytes.buffer).setUint32(i * 4, value, true));
  return bytes;
}

function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 131 + seed * 7 + (i >> 9) * 17) & 0xff);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A bitmap sector with its first byte `first` (sectors 0-7 of the extent). */
function bitmapSector(first: number): Uint8Array {
  const sector = new Uint8Array(512);
  sector[0] = first;
  return sector;
}

describe('bochs reads zeros past the end of the file, as QEMU does', () => {
  const V2 = 'growing-v2.bochs';
  // QEMU reads the file through the block layer, which serves zeros past EOF: nothing here is an
  // error for qemu-img info or convert. `expected` is the disk when it follows from the layout.
  const cases: { name: string; bytes: () => Uint8Array; size: number; expected?: () => Uint8Array }[] = [
    // The 512-byte header struct is read zero-padded: 300 bytes still hold every field.
    { name: 'short-header.bochs', bytes: () => bochsHeader(1, 512, 4096, 4096).slice(0, 300), size: 4096, expected: () => new Uint8Array(4096) },
    {
      // Extent 0's bitmap is in the file, its sectors' data runs 3 KiB past the end.
      name: 'data-past-eof.bochs',
      bytes: () => concat(bochsHeader(1, 512, 4096, 4096), u32s(0), bitmapSector(0xff), pattern(1024, 1)),
      size: 4096,
      expected: () => concat(pattern(1024, 1), new Uint8Array(3072)),
    },
    {
      // 1024 catalog entries, 10 in the file: the rest read as slot 0, whose bitmap is past EOF.
      name: 'catalog-past-eof.bochs',
      bytes: () => concat(bochsHeader(1024, 512, 4096, 1024 * 4096), u32s(...Array<number>(10).fill(0xffffffff))),
      size: 1024 * 4096,
      expected: () => new Uint8Array(1024 * 4096),
    },
    {
      // Extent 1 is in slot 1000, far past EOF: its bitmap reads as zeros, so does its data.
      name: 'slot-past-eof.bochs',
      bytes: () => concat(bochsHeader(2, 512, 4096, 8192), u32s(0, 1000), bitmapSector(0xff), pattern(4096, 1)),
      size: 8192,
      expected: () => concat(pattern(4096, 1), new Uint8Array(4096)),
    },
    { name: 'short.bochs', bytes: () => sample(V2).slice(0, 400), size: qemuSize(V2), expected: () => new Uint8Array(qemuSize(V2)) },
    // The catalog is read at 0x7fff0000: entries 0, extents in slot 0, bitmaps past EOF.
    { name: 'catalog-offset.bochs', bytes: () => edited(V2, (v) => v.setUint32(68, 0x7fff0000, true)), size: qemuSize(V2), expected: () => new Uint8Array(qemuSize(V2)) },
    {
      name: 'entry-outside.bochs',
      bytes: () =>
        edited(V2, (v) => {
          for (let i = 0; i < v.getUint32(72, true); i++) if (v.getUint32(512 + i * 4, true) !== 0xffffffff) v.setUint32(512 + i * 4, 0x10000000, true);
        }),
      size: qemuSize(V2),
      expected: () => new Uint8Array(qemuSize(V2)),
    },
    { name: 'truncated.bochs', bytes: () => sample(V2).slice(0, sample(V2).length - 3000), size: qemuSize(V2) },
  ];
  function qemuSize(name: string): number {
    return Number(new DataView(sample(name).buffer, sample(name).byteOffset).getBigUint64(88, true));
  }
  for (const c of cases) {
    it(`${c.name} opens and reads as qemu-img reads it`, async () => {
      const bytes = c.bytes();
      const image = await openBytes(driver, c.name, bytes);
      expect(image.virtualSize).toBe(c.size);
      const all = await readAll(image);
      if (c.expected) expect(Buffer.compare(all, c.expected())).toBe(0);
      if (!requireTool('qemu-img', 'the comparison with qemu-img')) return;
      const file = join(work, c.name);
      writeFileSync(file, bytes);
      expect(qemuInfo(file)).toMatchObject({ format: 'bochs', 'virtual-size': c.size });
      expect(await differenceFromQemu(image, file, 'bochs')).toBe(-1);
    });
  }

  it('wrap.bochs: 512 * slot * (extent_blocks + bitmap_blocks) wraps modulo 2^64 to 65536, and QEMU reads there', async () => {
    // bitmap 0 gives bitmap_blocks = 1 + (0 - 1) / 512 = 2^23 in 32 bits; extent 64 KiB gives
    // extent_blocks 128: 512 * (2^32 - 2^16 + 1) * (2^23 + 128) = 2^64 + 2^16. The extent's bitmap is
    // at data_offset + 65536, its data 2^32 bytes (2^23 bitmap sectors) further: a 4 GiB sparse file.
    const extent = 65536;
    const slot = 2 ** 32 - 2 ** 16 + 1;
    const header = bochsHeader(1, 0, extent, extent);
    const bitmapOffset = 512 + 4 + 65536;
    const dataOffset = bitmapOffset + 512 * 2 ** 23;
    const file = join(work, 'wrap.bochs');
    const fd = openSync(file, 'w');
    try {
      writeSync(fd, concat(header, u32s(slot)), 0, 516, 0);
      writeSync(fd, new Uint8Array(16).fill(0xff), 0, 16, bitmapOffset);
      writeSync(fd, pattern(extent, 7), 0, extent, dataOffset);
    } finally {
      closeSync(fd);
    }
    const image = await openPath(driver, file);
    try {
      expect(image.virtualSize).toBe(extent);
      expect(Buffer.compare(await readAll(image), pattern(extent, 7))).toBe(0);
      if (!requireTool('qemu-img', 'the comparison with qemu-img')) return;
      expect(qemuInfo(file)).toMatchObject({ format: 'bochs', 'virtual-size': extent });
      expect(await differenceFromQemu(image, file, 'bochs')).toBe(-1);
    } finally {
      await image.close();
    }
  });

  it('a bitmap at an offset QEMU refuses (negative as int64) fails the read, as qemu-img convert fails', async () => {
    // bitmap_blocks 2^23, extent_blocks 1: slot 2^31 puts the bitmap at 516 + 2^63 + 2^40.
    const bytes = concat(bochsHeader(1, 0, 512, 512), u32s(2 ** 31));
    const image = await openBytes(driver, 'negative.bochs', bytes);
    expect(image.virtualSize).toBe(512);
    await expectImageError(readAll(image), 'negative.bochs', /beyond the largest offset QEMU reads/);
    if (!requireTool('qemu-img', 'the comparison with qemu-img')) return;
    const file = join(work, 'negative.bochs');
    writeFileSync(file, bytes);
    expect(qemuInfo(file)).toMatchObject({ format: 'bochs', 'virtual-size': 512 });
    const convert = run('qemu-img', ['convert', '-f', 'bochs', '-O', 'raw', file, join(work, 'negative.raw')]);
    expect(convert.status).not.toBe(0);
    expect(convert.stderr).toMatch(/error while reading/);
  });
});

describe('bochs fuzz', () => {
  it('10,000 seeded mutations give only ImageErrors', async () => {
    const targets = samples.map((s) => {
      const view = new DataView(s.bytes.buffer, s.bytes.byteOffset);
      const catalogEnd = 512 + view.getUint32(72, true) * 4;
      return {
        name: s.name,
        bytes: s.bytes,
        // The header fields (not the magic, which only ends the story), the catalog, the bitmaps.
        hot: [
          [64, 100],
          [512, catalogEnd],
          [catalogEnd, catalogEnd + 2048],
        ] as [number, number][],
      };
    });
    const report = await fuzz(driver, targets, 10_000, 77);
    if (process.env.FUZZ_REPORT) console.log(report);
    expect(report.opened).toBeGreaterThan(1000);
    expect(report.errors.size).toBeGreaterThan(4);
  });
});
