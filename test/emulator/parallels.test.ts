// The parallels driver against qemu-img 7.2: committed samples (qemu-img's "WithouFreSpacExt" with
// 4 KiB and 1 MiB clusters, the original "WithoutFreeSpace" layout), live images from qemu-img and
// qemu-io compared byte for byte with `qemu-img convert -O raw`, the format extension QEMU parses
// (valid ones accepted, malformed ones refused by both), bad headers and catalogs, files cut short
// (zeros past the end, as QEMU reads them), and a fuzz.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ByteSource } from '../../fixtures/emulator/src/block/types.js';
import { requireTool } from '../support/system.js';
import { diskData, expectReadsAsReference, expectSameAsQemu, fuzz, imageError, loadSamples, openImage, qemuAccepts, readAll, run, sampleScript, sampleTests, scratchFolder, sha256 } from './vmdk-family-support.js';

const samples = loadSamples('parallels');
const work = scratchFolder('parallels');
const haveQemu = requireTool('qemu-img', 'the parallels live tests') && requireTool('qemu-io', 'the parallels live tests');

describe('parallels: committed samples', () => {
  sampleTests('parallels', samples, { chunk: 5000, maxSlice: 1_500_000, seed: (key) => key.length });

  it('reads clusters stored back to back in one source read', async () => {
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
    const bytes = samples.files.get('cluster-4k.parallels')!;
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    // Runs of clusters stored back to back among the first 12 (some are unallocated).
    let runs = 0;
    for (let i = 0; i < 12; i++) {
      const entry = view.getUint32(64 + i * 4, true);
      if (entry !== 0 && (i === 0 || view.getUint32(64 + (i - 1) * 4, true) + 1 !== entry)) runs++;
    }
    expect(runs).toBeLessThan(8);
    const image = await openImage('cluster-4k.parallels', { files: samples.files, wrap });
    const before = reads;
    await image.read(100, 12 * 4096 - 200);
    // One read per run, plus the catalog page.
    expect(reads - before).toBeLessThanOrEqual(runs + 1);
    await image.close();
  });
});

describe.runIf(haveQemu)('parallels: live images from qemu-img', () => {
  for (const [cluster, size] of [
    ['512', 70_144],
    ['4k', 300_032],
    ['64k', 1_000_448],
    ['1M', 3 * 1024 * 1024 + 512],
  ] as const) {
    it(`cluster_size=${cluster}, ${size} bytes`, async () => {
      const raw = diskData(work(), `c${cluster}.raw`, size % 997, size, 8192);
      const file = join(work(), `c${cluster}.parallels`);
      run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'parallels', '-o', `cluster_size=${cluster}`, raw, file]);
      await expectSameAsQemu('parallels', file, work(), 300_007);
      sampleScript('parallels-tools.mjs', ['old-magic', file, join(work(), `c${cluster}-old.parallels`)]);
      await expectSameAsQemu('parallels', join(work(), `c${cluster}-old.parallels`), work(), 300_007);
    });
  }

  it('qemu-io writes in random order allocate clusters out of order', async () => {
    const file = join(work(), 'writes.parallels');
    run('qemu-img', ['create', '-q', '-f', 'parallels', '-o', 'cluster_size=16k', file, '1M']);
    run('qemu-io', ['-f', 'parallels', '-c', 'write -P 0x51 900000 20000', '-c', 'write -P 0x52 16000 1000', '-c', 'write -P 0x53 0 512', '-c', 'write -P 0x54 500000 70000', file]);
    await expectSameAsQemu('parallels', file, work(), 300_007);
  });
});

// ------------------------------------------------------------------------------------------------
// The format extension: a cluster at ext_off with a magic, an MD5 of the rest, and features.

const CLUSTER = 4096;

function u64(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value, true);
  return out;
}

function feature(magic: bigint, data: Uint8Array, flags = 0n): Uint8Array {
  const out = new Uint8Array(24 + Math.ceil(data.length / 8) * 8);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, magic, true);
  view.setBigUint64(8, flags, true);
  view.setUint32(16, data.length, true);
  out.set(data, 24);
  return out;
}

function bitmapFeature(sectors: number, id: number, granularitySectors: number, l1: bigint[]): Uint8Array {
  const out = new Uint8Array(32 + l1.length * 8);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(sectors), true);
  out.fill(id, 8, 24);
  view.setUint32(24, granularitySectors, true);
  view.setUint32(28, l1.length, true);
  l1.forEach((entry, i) => view.setBigUint64(32 + i * 8, entry, true));
  return out;
}

const DIRTY_BITMAP = 0x20385fae252cb34an;

/** cluster-4k.parallels with an extension cluster appended; `tweak` may spoil it after hashing. */
function withExtension(features: Uint8Array[], tweak?: (ext: Uint8Array) => void): Uint8Array {
  const image = samples.files.get('cluster-4k.parallels')!;
  const ext = new Uint8Array(CLUSTER);
  ext.set(u64(0xab234cef23dcea87n), 0);
  let at = 24;
  for (const f of [...features, feature(0n, new Uint8Array(0))]) {
    ext.set(f, at);
    at += f.length;
  }
  ext.set(createHash('md5').update(ext.subarray(24)).digest(), 8);
  tweak?.(ext);
  const out = new Uint8Array(image.length + CLUSTER);
  out.set(image);
  out.set(ext, image.length);
  new DataView(out.buffer).setBigUint64(56, BigInt(image.length / 512), true);
  return out;
}

const sectors = 81920 / 512;
const oneWordTable = [0n]; // 160 sectors at 4 KiB granularity: one 64-bit word, one cluster

describe('parallels: format extension (parsed like QEMU read-only)', () => {
  const valid: [string, () => Uint8Array][] = [
    ['no features', () => withExtension([])],
    ['a dirty bitmap', () => withExtension([feature(DIRTY_BITMAP, bitmapFeature(sectors, 1, 8, oneWordTable))])],
    ['two dirty bitmaps, one all set', () => withExtension([feature(DIRTY_BITMAP, bitmapFeature(sectors, 1, 8, oneWordTable)), feature(DIRTY_BITMAP, bitmapFeature(sectors, 2, 8, [1n]))])],
  ];
  const invalid: [string, () => Uint8Array, RegExp][] = [
    ['wrong magic', () => withExtension([], (ext) => (ext[0] = 0)), /wrong magic/],
    ['wrong checksum', () => withExtension([], (ext) => (ext[4000] = 1)), /wrong checksum/],
    ['ext_off past the end', () => {
      const bytes = withExtension([]);
      new DataView(bytes.buffer).setBigUint64(56, 1n << 30n, true);
      return bytes;
    }, /wrong magic 0x0/],
    ['unknown feature', () => withExtension([feature(0x1234n, new Uint8Array(8))]), /unknown feature/],
    ['feature flags', () => withExtension([feature(DIRTY_BITMAP, bitmapFeature(sectors, 1, 8, oneWordTable), 1n)]), /flags/],
    ['bitmap of another size', () => withExtension([feature(DIRTY_BITMAP, bitmapFeature(sectors + 1, 1, 8, oneWordTable))]), /covers 161 sectors/],
    ['bitmap granularity not a power of two', () => withExtension([feature(DIRTY_BITMAP, bitmapFeature(sectors, 1, 3, oneWordTable))]), /granularity/],
    ['bitmap table of the wrong size', () => withExtension([feature(DIRTY_BITMAP, bitmapFeature(sectors, 1, 8, [0n, 0n]))]), /expected 1/],
    ['bitmap feature too small', () => withExtension([feature(DIRTY_BITMAP, new Uint8Array(16))]), /too small/],
    ['feature larger than the cluster', () => withExtension([], (ext) => {
      new DataView(ext.buffer).setUint32(24 + 16, 5000, true);
      ext.set(createHash('md5').update(ext.subarray(24)).digest(), 8);
    }), /larger than the extension cluster/],
  ];

  for (const [name, make] of valid) {
    it(`accepted: ${name}`, async () => {
      const bytes = make();
      const image = await openImage('ext.parallels', { files: new Map([['ext.parallels', bytes]]) });
      expect(sha256(await readAll(image))).toBe(samples.expected['cluster-4k.parallels']!.sha256);
      await image.close();
      if (haveQemu) {
        writeFileSync(join(work(), 'ext.parallels'), bytes);
        expect(qemuAccepts(join(work(), 'ext.parallels'), work()).ok).toBe(true);
      }
    });
  }
  for (const [name, make, message] of invalid) {
    it(`refused: ${name}`, async () => {
      const bytes = make();
      const error = await imageError(openImage('ext.parallels', { files: new Map([['ext.parallels', bytes]]) }));
      expect(error.message).toMatch(message);
      if (haveQemu) {
        writeFileSync(join(work(), 'ext.parallels'), bytes);
        const qemu = qemuAccepts(join(work(), 'ext.parallels'), work());
        expect(qemu.ok, 'qemu-img refuses it too').toBe(false);
      }
    });
  }
});

describe('parallels: bad input', () => {
  const base = () => samples.files.get('cluster-4k.parallels')!.slice();
  const set32 = (at: number, value: number) => (bytes: Uint8Array) => new DataView(bytes.buffer).setUint32(at, value, true);
  const set64 = (at: number, value: bigint) => (bytes: Uint8Array) => new DataView(bytes.buffer).setBigUint64(at, value, true);

  // [name, change, message, QEMU refuses it too]
  const cases: [string, (bytes: Uint8Array) => Uint8Array | void, RegExp, boolean][] = [
    ['version 3', set32(16, 3), /version is not 2/, true],
    ['bad magic', (b) => void b.fill(0x41, 2, 16), /bad magic/, true],
    ['zero sectors per track', set32(28, 0), /zero sectors per track/, true],
    ['clusters too big', set32(28, 0x7fffffff / 512), /too big/, true],
    ['catalog too large', set32(32, 0x20000000), /catalog .* too large/, true],
    ['absurd disk size', set64(36, 1n << 60n), /too big/, false],
  ];

  for (const [name, change, message, qemuRefuses] of cases) {
    it(name, async () => {
      const bytes = base();
      const changed = change(bytes) ?? bytes;
      const error = await imageError(
        (async () => {
          const image = await openImage('bad.parallels', { format: 'parallels', files: new Map([['bad.parallels', changed]]) });
          try {
            await readAll(image);
          } finally {
            await image.close();
          }
        })(),
      );
      expect(error.message).toMatch(message);
      expect(error.message.startsWith('bad.parallels: ')).toBe(true);
      if (haveQemu && qemuRefuses) {
        writeFileSync(join(work(), 'bad.parallels'), changed);
        expect(qemuAccepts(join(work(), 'bad.parallels'), work(), 'parallels').ok).toBe(false);
      }
    });
  }

  it('a 2^52-byte disk with one catalog entry opens and reads without allocating for its size', async () => {
    const bytes = base();
    set64(36, 1n << 43n)(bytes);
    const image = await openImage('big.parallels', { files: new Map([['big.parallels', bytes]]) });
    expect(image.virtualSize).toBe(2 ** 52);
    expect((await image.read(2 ** 51, 1 << 20)).every((b) => b === 0)).toBe(true);
    expect(await image.status!(1 << 20, 2 ** 52 - (1 << 20))).toEqual({ zero: true, length: 2 ** 52 - (1 << 20) });
    await image.close();
  });
});

// QEMU reads the header, the catalog and the clusters with zeros past the end of the file (its
// block layer zero-fills reads there), even a cluster that starts there, and qemu-img converts it.
describe('parallels: bytes past the end of the file read as zeros, like QEMU', () => {
  const base = () => samples.files.get('cluster-4k.parallels')!.slice();
  const set32 = (at: number, value: number) => (bytes: Uint8Array) => new DataView(bytes.buffer).setUint32(at, value, true);
  const set64 = (at: number, value: bigint) => (bytes: Uint8Array) => new DataView(bytes.buffer).setBigUint64(at, value, true);

  /** The disk as QEMU reads it (parallels_co_readv), every byte past the end of the file zero. */
  const reference = (bytes: Uint8Array): Uint8Array => {
    const u32 = (at: number) => {
      let value = 0;
      for (let i = 3; i >= 0; i--) value = value * 256 + (bytes[at + i] ?? 0);
      return value;
    };
    const extended = String.fromCharCode(...bytes.subarray(0, 16)) === 'WithouFreSpacExt';
    const tracks = u32(28);
    const cluster = tracks * 512;
    const size = (u32(36) + (extended ? u32(40) * 2 ** 32 : 0)) * 512;
    const reachable = Math.min(u32(32), Math.ceil(size / cluster));
    const out = new Uint8Array(size);
    for (let i = 0; i < reachable; i++) {
      const host = u32(64 + i * 4) * (extended ? tracks : 1) * 512;
      if (host === 0 || host >= bytes.length) continue;
      out.set(bytes.subarray(host, Math.min(bytes.length, host + Math.min(cluster, size - i * cluster))), i * cluster);
    }
    return out;
  };

  // [name, image, whether the disk holds anything but zeros]
  const cases: [string, () => Uint8Array, boolean][] = [
    ['a file cut inside its last data cluster', () => base().slice(0, 53248 - 3000), true],
    ['a file cut inside the catalog (entry 1 half there)', () => base().slice(0, 70), false],
    ['a file cut inside the header (nb_sectors half there)', () => base().slice(0, 40), false],
    ['a catalog entry past the end', () => {
      const b = base();
      set32(64, 0x7ffff)(b);
      return b;
    }, true],
    ['a catalog entry far past the end', () => {
      const b = base();
      set32(64, 0xffffffff)(b);
      return b;
    }, true],
    ['a catalog entry beyond 2^53 bytes (4 MiB clusters)', () => {
      const b = base();
      // One cluster of 8192 sectors covers the 80 KiB disk; entry 0xffffffff is 2^54 bytes in.
      set32(28, 8192)(b);
      set64(36, 160n)(b);
      set32(64, 0xffffffff)(b);
      return b;
    }, false],
  ];

  for (const [name, build, hasData] of cases) {
    it(name, async () => {
      const bytes = build();
      await expectReadsAsReference('parallels', bytes, { reference: reference(bytes), hasData, piece: 5000, ...(haveQemu ? { work: work() } : {}) });
    });
  }
});

describe('parallels: fuzz', () => {
  it('10,000+ seeded mutations of header and catalog: only ImageError, bounded work', async () => {
    const only = (name: string) => new Map([[name, samples.files.get(name)!] as const]);
    const ext = withExtension([feature(DIRTY_BITMAP, bitmapFeature(sectors, 1, 8, oneWordTable))]);
    const bases = [
      { main: 'cluster-4k.parallels', files: only('cluster-4k.parallels'), hot: [[0, 200]] as [number, number][] },
      { main: 'old-magic.parallels', files: only('old-magic.parallels'), hot: [[0, 200]] as [number, number][] },
      { main: 'cluster-1m.parallels', files: only('cluster-1m.parallels'), hot: [[0, 80]] as [number, number][] },
      { main: 'ext.parallels', files: new Map([['ext.parallels', ext]]), hot: [[0, 64], [ext.length - CLUSTER, ext.length - CLUSTER + 128]] as [number, number][] },
    ];
    const stats = await fuzz('parallels', bases, 10_500, 0x70726c);
    expect(stats.opened).toBeGreaterThan(1000);
    expect(stats.imageErrors).toBeGreaterThan(500);
  }, 120_000);
});

