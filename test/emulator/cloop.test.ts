// The cloop driver: the committed sample against qemu-img's conversion, samples rebuilt by
// make-bochs-cloop-dmg.mjs and compared with qemu-img live, bad input (absurd block counts and
// sizes, broken zlib), and 10,000 seeded mutations.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CloopDriver } from '../../fixtures/emulator/src/drivers/cloop.js';
import { requireTool } from '../support/system.js';
import {
  checkScriptSamples,
  declaredProbe,
  expectImageError,
  expectSampleAsQemu,
  formatSuite,
  fuzz,
  lit286Stream,
  openBytes,
  probeScore,
  qemuInfo,
  qemuProbeBuffer,
  readAll,
  run,
  sha256,
} from './disk-formats-support.js';

const driver = new CloopDriver();
const suite = formatSuite('cloop');
const { samples, work } = suite;
const S = 'v2-8k.cloop';
const sample = () => suite.sample(S);
const MAGIC = '#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n';

/** A cloop image of the given blocks (already compressed) with their offsets. */
function build(blockSize: number, blocks: Uint8Array[], count = blocks.length): Uint8Array {
  const tableEnd = 136 + 8 * (blocks.length + 1);
  const total = tableEnd + blocks.reduce((n, b) => n + b.length, 0);
  const bytes = new Uint8Array(total);
  const v = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode(MAGIC));
  v.setUint32(128, blockSize);
  v.setUint32(132, count);
  let at = tableEnd;
  blocks.forEach((b, i) => {
    v.setBigUint64(136 + 8 * i, BigInt(at));
    bytes.set(b, at);
    at += b.length;
  });
  v.setBigUint64(136 + 8 * blocks.length, BigInt(at));
  return bytes;
}

describe('cloop probe', () => {
  const probe = declaredProbe('cloop');
  it('matches QEMU: the V2.0 preamble, compared as far as the data goes, score 2', () => {
    const head = sample().slice(0, 512);
    expect(probeScore(probe, head, 'x')).toBe(2);
    expect(probeScore(probe, head.slice(0, 40), 'x')).toBe(2);
    const other = head.slice();
    other[30] = 0x21;
    expect(probeScore(probe, other, 'x')).toBe(0);
    if (!requireTool('qemu-img', 'the probe comparison')) return;
    for (const [name, bytes] of [
      ['full.img', sample()],
      ['prefix.img', head.slice(0, 40)],
      ['other.img', other],
    ] as const) {
      const file = join(work, name);
      writeFileSync(file, bytes);
      // QEMU pads a short file's probe buffer with zeros: a 40-byte prefix no longer matches.
      expect(qemuInfo(file).format, name).toBe(probeScore(probe, qemuProbeBuffer(bytes), name) === 2 ? 'cloop' : 'raw');
    }
  });
});

describe('cloop committed sample', () => {
  it('has the sample the script makes', () => {
    expect(samples.map((s) => s.key)).toEqual([S]);
  });

  it(`${S}: reads as qemu-img reads it`, async () => {
    const image = await expectSampleAsQemu(driver, 'cloop', samples[0]!, { piece: 5000, seed: 5, reads: 200, maxLength: 30_000 });
    expect(image.details).toMatchObject({ 'block-size': 8192, blocks: 12 });
  });
});

describe('cloop against qemu-img (live)', () => {
  it('rebuilds the sample and extra variants with the script; each reads as qemu-img reads it', async () => {
    if (!requireTool('qemu-img', 'the live cloop comparison') || !requireTool('bzip2', 'the sample script')) return;
    const checked = await checkScriptSamples(driver, 'cloop');
    expect(checked.sort()).toEqual(['extra-v2-512.cloop', 'extra-v2-64k.cloop', 'v2-8k.cloop']);
  });
});

describe('cloop bad input', () => {
  const block = new Uint8Array(4096).fill(0x61);
  const z = new Uint8Array(deflateSync(block));
  const edited = (edit: (v: DataView, b: Uint8Array) => void) => {
    const bytes = sample().slice();
    edit(new DataView(bytes.buffer), bytes);
    return bytes;
  };
  const cases: { name: string; bytes: () => Uint8Array; pattern: RegExp; onRead?: boolean; qemu: 'open' | 'read' | 'none' }[] = [
    // QEMU reads the header past the end of the file as zeros: a block size of zero.
    { name: 'short.cloop', bytes: () => sample().slice(0, 100), pattern: /block size is zero/, qemu: 'open' },
    { name: 'count-2^32.cloop', bytes: () => edited((v) => v.setUint32(132, 0xffffffff)), pattern: /block count 4294967295 is too large/, qemu: 'open' },
    {
      name: 'count-big.cloop',
      bytes: () => edited((v) => v.setUint32(132, 100_000_000)),
      pattern: /block count 100000000 needs too many offsets/,
      qemu: 'open',
    },
    {
      name: 'count-past-eof.cloop',
      bytes: () => edited((v) => v.setUint32(132, 1_000_000)),
      // The table runs on into the compressed data, then zeros past the end of the file.
      pattern: /compressed block 12 is \d+ bytes: the image is corrupt/,
      qemu: 'open',
    },
    { name: 'block-zero.cloop', bytes: () => edited((v) => v.setUint32(128, 0)), pattern: /block size is zero/, qemu: 'open' },
    { name: 'block-513.cloop', bytes: () => edited((v) => v.setUint32(128, 1000)), pattern: /block size 1000 is not a multiple of 512/, qemu: 'open' },
    { name: 'block-128m.cloop', bytes: () => edited((v) => v.setUint32(128, 128 << 20)), pattern: /larger than 64 MiB/, qemu: 'open' },
    {
      name: 'not-monotonic.cloop',
      bytes: () => edited((v) => v.setBigUint64(136 + 8 * 3, 10n)),
      pattern: /offsets not monotonically increasing at index 3/,
      qemu: 'open',
    },
    {
      name: 'block-too-long.cloop',
      bytes: () => edited((v) => v.setBigUint64(136 + 8 * 12, 1n << 40n)),
      pattern: /compressed block 11 is \d+ bytes: the image is corrupt/,
      qemu: 'open',
    },
    {
      name: 'data-past-eof.cloop',
      bytes: () =>
        edited((v) => {
          v.setBigUint64(136 + 8 * 11, BigInt(sample().length + 100_000));
          v.setBigUint64(136 + 8 * 12, BigInt(sample().length + 200_000));
        }),
      pattern: /compressed block 11 .* past the end of the file/,
      onRead: true,
      qemu: 'read',
    },
    {
      name: 'garbage.cloop',
      bytes: () => build(4096, [z, new Uint8Array(300).fill(0x17)]),
      pattern: /block 1: invalid zlib data/,
      onRead: true,
      qemu: 'read',
    },
    {
      // 8 KiB of data in a 4 KiB block: zlib stops with Z_BUF_ERROR, QEMU fails the read.
      name: 'too-much.cloop',
      bytes: () => build(4096, [z, new Uint8Array(deflateSync(new Uint8Array(8192)))]),
      pattern: /block 1: zlib data inflates to more than 4096 bytes/,
      onRead: true,
      qemu: 'read',
    },
    {
      name: 'too-little.cloop',
      bytes: () => build(4096, [z, new Uint8Array(deflateSync(new Uint8Array(1000)))]),
      pattern: /block 1: zlib data inflates to 1000 bytes instead of 4096/,
      onRead: true,
      qemu: 'read',
    },
    {
      name: 'bad-adler.cloop',
      bytes: () => {
        const bad = z.slice();
        bad[bad.length - 1]! ^= 0x55;
        return build(4096, [z, bad]);
      },
      pattern: /block 1: zlib data fails its Adler-32 check/,
      onRead: true,
      qemu: 'read',
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.pattern}`, async () => {
      const bytes = c.bytes();
      if (c.onRead) {
        const image = await openBytes(driver, c.name, bytes);
        await expectImageError(readAll(image), c.name, c.pattern);
      } else {
        await expectImageError(openBytes(driver, c.name, bytes), c.name, c.pattern);
      }
      if (c.qemu !== 'none' && requireTool('qemu-img', 'checking that qemu-img refuses it too')) {
        const file = join(work, c.name);
        writeFileSync(file, bytes);
        const args = c.qemu === 'open' ? ['info', '-f', 'cloop', file] : ['convert', '-f', 'cloop', '-O', 'raw', file, `${file}.raw`];
        expect(run('qemu-img', args).status).not.toBe(0);
      }
    });
  }
});

describe('cloop, a block whose recorded end is past the end of the file', () => {
  it('reads as qemu-img reads it: zeros past the end, the zlib stream inside still inflates', async () => {
    const bytes = sample().slice();
    new DataView(bytes.buffer).setBigUint64(136 + 8 * 12, BigInt(bytes.length + 100_000));
    const whole = await readAll(await openBytes(driver, 'over.cloop', bytes));
    expect(sha256(whole)).toBe(samples[0]!.expected.sha256);
    if (!requireTool('qemu-img', 'the comparison')) return;
    const file = join(work, 'over.cloop');
    writeFileSync(file, bytes);
    expect(run('qemu-img', ['convert', '-f', 'cloop', '-O', 'raw', file, `${file}.raw`]).status).toBe(0);
  });
});

describe('cloop fuzz', () => {
  it('10,000 seeded mutations give only ImageErrors', async () => {
    const s = samples[0]!;
    const v = new DataView(s.bytes.buffer, s.bytes.byteOffset);
    const tableEnd = 136 + 8 * (v.getUint32(132) + 1);
    const targets = [
      {
        name: s.name,
        bytes: s.bytes,
        hot: [
          [128, tableEnd],
          [tableEnd, tableEnd + 64],
        ] as [number, number][],
      },
    ];
    const report = await fuzz(driver, targets, 10_000, 99);
    if (process.env.FUZZ_REPORT) console.log(report);
    expect(report.opened).toBeGreaterThan(1000);
    expect(report.errors.size).toBeGreaterThan(4);
  });
});

describe('cloop: read exactly as QEMU reads', () => {
  const text = new TextEncoder().encode('cloop block data '.repeat(300)).slice(0, 4096);
  const z = new Uint8Array(deflateSync(text));
  const qemuConvert = (name: string, bytes: Uint8Array): number => {
    const file = join(work, name);
    writeFileSync(file, bytes);
    return run('qemu-img', ['convert', '-f', 'cloop', '-O', 'raw', file, `${file}.raw`]).status;
  };

  it('checks the Adler-32 trailer where the zlib stream ends, not anywhere after it', async () => {
    // A wrong trailer, then the right checksum: zlib reads only the first ("incorrect data check").
    const wrong = new Uint8Array(z.length + 4);
    wrong.set(z);
    wrong.set([0xde, 0xad, 0xbe, 0xef], z.length - 4);
    wrong.set(z.subarray(z.length - 4), z.length);
    const bytes = build(4096, [z, wrong]);
    const image = await openBytes(driver, 'adler-trailing.cloop', bytes);
    expect(await image.read(0, 4096)).toEqual(text);
    await expectImageError(image.read(4096, 4096), 'adler-trailing.cloop', /block 1: zlib data fails its Adler-32 check/);
    if (!requireTool('qemu-img', 'the comparison')) return;
    expect(qemuConvert('adler-trailing.cloop', bytes)).not.toBe(0);
  });

  it('refuses deflate data zlib refuses: literal/length code 286', async () => {
    const bytes = build(512, [lit286Stream(512)]);
    const image = await openBytes(driver, 'lit286.cloop', bytes);
    await expectImageError(readAll(image), 'lit286.cloop', /block 0: invalid zlib data \(invalid literal\/length code\)/);
    if (!requireTool('qemu-img', 'the comparison')) return;
    expect(qemuConvert('lit286.cloop', bytes)).not.toBe(0);
  });

  it('computes the size in sectors with 32-bit arithmetic, as cloop.c does', async () => {
    // 32769 blocks of 64 MiB: 2^32 + 2^17 sectors, which wrap to 2^17 (one block, the only one
    // that holds data; the others are empty and never read).
    const blockSize = 64 << 20;
    const data = new Uint8Array(blockSize);
    for (let i = 0; i < blockSize; i += 4096) data.set(text.subarray(0, 64), i + ((i >> 12) % 4000));
    const first = new Uint8Array(deflateSync(data, { level: 1 }));
    const bytes = build(blockSize, [first, ...Array.from({ length: 32768 }, () => new Uint8Array(0))]);
    const image = await openBytes(driver, 'size-wrap.cloop', bytes);
    expect(image.virtualSize).toBe(67108864);
    expect(image.details).toMatchObject({ blocks: 32769 });
    expect(sha256(await image.read(0, blockSize))).toBe(sha256(data));
    if (!requireTool('qemu-img', 'the comparison')) return;
    const file = join(work, 'size-wrap.cloop');
    writeFileSync(file, bytes);
    expect(qemuInfo(file, 'cloop')['virtual-size']).toBe(67108864);
    expect(qemuConvert('size-wrap.cloop', bytes)).toBe(0);
  });

  it('reads an offset table that runs past the end of the file as zeros', async () => {
    const header = (blocks: number, first: bigint) => {
      const bytes = new Uint8Array(144);
      bytes.set(new TextEncoder().encode(MAGIC));
      const v = new DataView(bytes.buffer);
      v.setUint32(128, 4096);
      v.setUint32(132, blocks);
      v.setBigUint64(136, first);
      return bytes;
    };
    // Offsets 0, then zeros: three empty blocks, which open but do not inflate.
    const empty = header(3, 0n);
    const image = await openBytes(driver, 'table-past-eof.cloop', empty);
    expect(image.virtualSize).toBe(12288);
    await expectImageError(readAll(image), 'table-past-eof.cloop', /block 0: zlib data ends early/);
    // An offset that is not zero, then zeros: no longer increasing.
    const decreasing = header(3, 200n);
    await expectImageError(openBytes(driver, 'table-decreasing.cloop', decreasing), 'table-decreasing.cloop', /offsets not monotonically increasing at index 1/);
    if (!requireTool('qemu-img', 'the comparison')) return;
    const file = join(work, 'table-past-eof.cloop');
    writeFileSync(file, empty);
    expect(qemuInfo(file, 'cloop')['virtual-size']).toBe(12288);
    expect(qemuConvert('table-past-eof.cloop', empty)).not.toBe(0);
    const other = join(work, 'table-decreasing.cloop');
    writeFileSync(other, decreasing);
    expect(run('qemu-img', ['info', '-f', 'cloop', other]).status).not.toBe(0);
  });
});
