// The vpc (VHD) driver: committed samples against qemu-img's conversion, live qemu-img variants
// (dynamic, fixed, force_size) compared byte for byte, bad input, and 10,000 seeded mutations.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VpcDriver } from '../../fixtures/emulator/src/drivers/vpc.js';
import { requireTool } from '../support/system.js';
import {
  declaredProbe,
  differenceFromQemu,
  expectImageError,
  expectSampleAsQemu,
  formatSuite,
  fuzz,
  makeDiskData,
  openBytes,
  openPath,
  probeScore,
  qemuInfo,
  run,
  runOk,
} from './disk-formats-support.js';

const driver = new VpcDriver();
const { samples, sample, work } = formatSuite('vpc');

/** Rewrites the footer checksum of the 512 bytes at `at`. */
function fixFooter(bytes: Uint8Array, at: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  view.setUint32(at + 64, 0);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += bytes[at + i]!;
  view.setUint32(at + 64, ~sum >>> 0);
}

/** A copy of a dynamic sample with `edit` applied to both footers (checksums fixed) and the rest. */
function edited(name: string, edit: (view: DataView, bytes: Uint8Array) => void, length?: number): Uint8Array {
  const bytes = sample(name).slice(0, length);
  edit(new DataView(bytes.buffer), bytes);
  fixFooter(bytes, 0);
  if (bytes.length >= 512) fixFooter(bytes, bytes.length - 512);
  return bytes;
}

describe('vpc probe', () => {
  const probe = declaredProbe('vpc');

  it('scores 100 for "conectix" at 0 (at least 8 bytes), 0 otherwise', () => {
    const head = sample('dynamic-4k.vhd').slice(0, 512);
    expect(probeScore(probe, head, 'x')).toBe(100);
    expect(probeScore(probe, head.slice(0, 8), 'x')).toBe(100);
    expect(probeScore(probe, head.slice(0, 7), 'x')).toBe(0);
    expect(probeScore(probe, sample('fixed.vpc').slice(0, 512), 'x')).toBe(0);
  });

  it('agrees with qemu-img: dynamic VHDs probe as vpc, a fixed VHD as raw', () => {
    if (!requireTool('qemu-img', 'the probe comparison')) return;
    for (const s of samples) {
      const file = join(work, s.name);
      writeFileSync(file, s.bytes);
      const qemu = qemuInfo(file).format;
      expect(qemu, s.name).toBe(probeScore(probe, s.bytes.slice(0, 512), s.name) === 100 ? 'vpc' : 'raw');
    }
  });
});

describe('vpc committed samples', () => {
  it('has the samples the script makes', () => {
    expect(samples.map((s) => s.key).sort()).toEqual(['dynamic-4k.vhd', 'dynamic-qem2-16k.vhd', 'fixed.vpc']);
  });

  for (const s of samples) {
    it(`${s.key}: ${s.expected.note}`, async () => {
      const image = await expectSampleAsQemu(driver, 'vpc', s, { piece: 10_000, seed: 7, reads: 100, maxLength: 40_000 });
      await image.close();
    });
  }

  it('reports the subformat, creator and block size', async () => {
    expect((await openBytes(driver, 'a.vhd', sample('dynamic-4k.vhd'))).details).toMatchObject({
      subformat: 'dynamic',
      'creator-app': 'qemu',
      'cluster-size': 4096,
    });
    expect((await openBytes(driver, 'b.vhd', sample('dynamic-qem2-16k.vhd'))).details).toMatchObject({ 'creator-app': 'qem2' });
    expect((await openBytes(driver, 'c.vpc', sample('fixed.vpc'))).details).toMatchObject({ subformat: 'fixed' });
  });

  it('honours QEMU\'s force_size_calc option', async () => {
    // qem2 stores the maximal geometry: by CHS the disk is 65535*16*255 sectors.
    const chs = await openBytes(driver, 'q.vhd', sample('dynamic-qem2-16k.vhd'), { force_size_calc: 'chs' });
    expect(chs.virtualSize).toBe(samples.find((s) => s.name === 'dynamic-qem2-16k.vhd')!.expected['virtual-size']);
    const bySize = await openBytes(driver, 'q.vhd', sample('dynamic-4k.vhd'), { force_size_calc: 'current_size' });
    expect(bySize.virtualSize).toBe(Number(new DataView(sample('dynamic-4k.vhd').buffer).getBigUint64(48)));
    await expectImageError(openBytes(driver, 'q.vhd', sample('dynamic-4k.vhd'), { force_size_calc: 'lba' }), 'q.vhd', /size calculation mode/);
  });
});

describe('vpc against qemu-img (live)', () => {
  const variants: { name: string; size: number; create: string[]; note: string; writes?: [number, number][] }[] = [
    { name: 'dyn-5m.vhd', size: 5 * 1048576, create: [], note: 'dynamic, CHS-rounded size' },
    { name: 'dyn-odd.vhd', size: 7 * 1048576 + 123 * 512, create: [], note: 'dynamic, partial last block' },
    { name: 'qem2.vhd', size: 6 * 1048576 + 4096, create: ['-o', 'force_size=on'], note: 'force_size: current_size' },
    { name: 'fixed.vhd', size: 3 * 1048576, create: ['-o', 'subformat=fixed'], note: 'fixed' },
    {
      name: 'sparse-66m.vhd',
      size: 66 * 1048576,
      create: [],
      note: 'dynamic, writes only at block edges far apart',
      writes: [
        [2 * 1048576 - 700, 1400],
        [64 * 1048576 - 100, 5000],
        [66 * 1048576 - 512, 512],
      ],
    },
  ];

  for (const v of variants) {
    it(`${v.name}: ${v.note}`, async () => {
      if (!requireTool('qemu-img', 'the live vpc comparison')) return;
      const file = join(work, v.name);
      if (v.writes) {
        runOk('qemu-img', ['create', '-q', '-f', 'vpc', ...v.create, file, String(v.size)]);
        for (const [at, length] of v.writes) runOk('qemu-io', ['-f', 'vpc', '-c', `write -P ${1 + (at % 250)} ${at} ${length}`, file]);
      } else {
        const raw = join(work, `${v.name}.raw`);
        makeDiskData(v.size % 1000, v.size, 2 * 1048576, raw);
        runOk('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', ...v.create, raw, file]);
      }
      const image = await openPath(driver, file);
      try {
        expect(image.virtualSize).toBe(qemuInfo(file, 'vpc')['virtual-size']);
        expect(await differenceFromQemu(image, file, 'vpc')).toBe(-1);
      } finally {
        await image.close();
      }
    });
  }

  it('force_size_calc=chs gives qemu-img\'s size for a qem2 image', () => {
    if (!requireTool('qemu-img', 'the live vpc comparison')) return;
    const file = join(work, 'qem2-opt.vhd');
    runOk('qemu-img', ['create', '-q', '-f', 'vpc', '-o', 'force_size=on', file, '5000K']);
    const info = JSON.parse(runOk('qemu-img', ['info', '--output=json', '--image-opts', `driver=vpc,force_size_calc=chs,file.filename=${file}`]));
    return openBytes(driver, 'q.vhd', new Uint8Array(readFileSync(file)), { force_size_calc: 'chs' }).then((image) =>
      expect(image.virtualSize).toBe(info['virtual-size']),
    );
  });
});

describe('vpc file size as QEMU sees it (whole 512-byte sectors)', () => {
  it('a fixed VHD with 100 stray bytes before its footer has no footer in its last whole sector: refused, as qemu-img -f vpc refuses it', async () => {
    const fixed = sample('fixed.vpc');
    const bytes = new Uint8Array(fixed.length + 100);
    bytes.set(fixed.subarray(0, fixed.length - 512));
    bytes.fill(1, fixed.length - 512, fixed.length - 412);
    bytes.set(fixed.subarray(fixed.length - 512), fixed.length - 412);
    await expectImageError(openBytes(driver, 'odd.vhd', bytes), 'odd.vhd', /no 'conectix' footer/);
    if (!requireTool('qemu-img', 'checking that qemu-img refuses it too')) return;
    const file = join(work, 'odd.vhd');
    writeFileSync(file, bytes);
    const result = run('qemu-img', ['info', '-f', 'vpc', file]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/invalid VPC image/);
  });

  it('a dynamic VHD without its footer copy and its last 100 bytes opens and reads as qemu-img converts it', async () => {
    const whole = sample('dynamic-4k.vhd');
    const bytes = whole.slice(0, whole.length - 512 - 100);
    const image = await openBytes(driver, 'short.vhd', bytes);
    try {
      if (!requireTool('qemu-img', 'the truncated-file comparison')) return;
      const file = join(work, 'short.vhd');
      writeFileSync(file, bytes);
      expect(image.virtualSize).toBe(qemuInfo(file, 'vpc')['virtual-size']);
      expect(await differenceFromQemu(image, file, 'vpc')).toBe(-1);
    } finally {
      await image.close();
    }
  });
});

describe('vpc bad input', () => {
  const D = 'dynamic-4k.vhd';
  const cases: { name: string; bytes: () => Uint8Array; pattern: RegExp; qemuRefuses: boolean }[] = [
    // QEMU sees a 300-byte file as one 512-byte sector (the footer copy, zero-padded); the dynamic
    // header it points at reads as zeros, which qemu-img refuses as "Invalid header magic".
    { name: 'tiny.vhd', bytes: () => sample(D).slice(0, 300), pattern: /dynamic disk header offset 512 is past the end of the file \(512 bytes\)/, qemuRefuses: true },
    { name: 'nocookie.vhd', bytes: () => new Uint8Array(4096).fill(7), pattern: /not a VHD image/, qemuRefuses: true },
    {
      name: 'checksum.vhd',
      bytes: () => {
        const b = sample(D).slice();
        b[40]! ^= 1;
        return b;
      },
      pattern: /checksum mismatch/,
      qemuRefuses: true,
    },
    {
      // Cut inside the last block: the footer copy at the start still opens it.
      name: 'truncated.vhd',
      bytes: () => edited(D, () => {}, sample(D).length - 3000),
      pattern: /past the end of the file .*truncated/,
      qemuRefuses: true,
    },
    {
      name: 'bat-past-eof.vhd',
      bytes: () => edited(D, (v) => v.setBigUint64(512 + 16, 1n << 40n)),
      pattern: /block table .* past the end of the file/,
      qemuRefuses: true,
    },
    {
      name: 'header-past-eof.vhd',
      bytes: () => edited(D, (v) => v.setBigUint64(16, 0xffffffffffff0000n)),
      pattern: /dynamic disk header offset .* past the end/,
      qemuRefuses: true,
    },
    {
      name: 'huge-table.vhd',
      bytes: () => edited(D, (v) => v.setUint32(512 + 28, 0x80000000)),
      pattern: /block table of 2147483648 entries is too large/,
      qemuRefuses: true,
    },
    {
      name: 'small-table.vhd',
      bytes: () => edited(D, (v) => v.setUint32(512 + 28, 3)),
      pattern: /too small for a disk/,
      qemuRefuses: true,
    },
    {
      name: 'block-size.vhd',
      bytes: () => edited(D, (v) => v.setUint32(512 + 32, 3000)),
      pattern: /invalid block size 3000/,
      qemuRefuses: true,
    },
    {
      name: 'entry-outside.vhd',
      bytes: () =>
        edited(D, (v) => {
          const bat = Number(v.getBigUint64(512 + 16));
          v.setUint32(bat, 0x7fffffff);
        }),
      pattern: /block 0 .* past the end of the file/,
      qemuRefuses: true,
    },
    {
      name: 'too-big.vhd',
      bytes: () =>
        edited('dynamic-qem2-16k.vhd', (v) => {
          v.setBigUint64(48, 1n << 45n);
        }),
      pattern: /too large \(QEMU's limit is 2040 GiB\)/,
      qemuRefuses: true,
    },
    {
      // Only the end footer, claiming a dynamic disk: QEMU 7.2 would divide by a zero block size.
      name: 'end-footer-dynamic.vpc',
      bytes: () => {
        const b = sample('fixed.vpc').slice();
        new DataView(b.buffer).setUint32(b.length - 512 + 60, 3);
        fixFooter(b, b.length - 512);
        return b;
      },
      pattern: /type 3/,
      qemuRefuses: false,
    },
  ];

  for (const c of cases) {
    it(`${c.name}: ${c.pattern}`, async () => {
      const bytes = c.bytes();
      await expectImageError(openBytes(driver, c.name, bytes), c.name, c.pattern);
      if (c.qemuRefuses && requireTool('qemu-img', 'checking that qemu-img refuses it too')) {
        const file = join(work, c.name);
        writeFileSync(file, bytes);
        expect(run('qemu-img', ['info', '-f', 'vpc', file]).status).not.toBe(0);
      }
    });
  }
});

describe('vpc fuzz', () => {
  it('10,000 seeded mutations give only ImageErrors', async () => {
    const targets = samples.map((s) => {
      const view = new DataView(s.bytes.buffer, s.bytes.byteOffset);
      const dynamic = s.name !== 'fixed.vpc';
      const bat = dynamic ? Number(view.getBigUint64(512 + 16)) : 0;
      const batBytes = dynamic ? view.getUint32(512 + 28) * 4 : 0;
      return {
        name: s.name,
        bytes: s.bytes,
        hot: [
          [0, 1536],
          [bat, bat + batBytes],
          [s.bytes.length - 512, s.bytes.length],
        ] as [number, number][],
        fix: (slice: (at: number, length: number) => Uint8Array, write: (at: number, value: number) => void, size: number) => {
          for (const at of [0, size - 512]) {
            const footer = slice(at, 512);
            let sum = 0;
            for (let i = 0; i < 512; i++) if (i < 64 || i >= 68) sum += footer[i] ?? 0;
            const checksum = ~sum >>> 0;
            for (let k = 0; k < 4; k++) write(at + 64 + k, checksum >>> (24 - 8 * k));
          }
        },
      };
    });
    const report = await fuzz(driver, targets, 10_000, 2024);
    if (process.env.FUZZ_REPORT) console.log(report);
    // The mutations reach past the checks: many images still open and read.
    expect(report.opened).toBeGreaterThan(1000);
    expect(report.errors.size).toBeGreaterThan(5);
  });
});
