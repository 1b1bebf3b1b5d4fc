// The bochs driver: committed samples (v1 and v2 growing redologs) against qemu-img's conversion,
// samples rebuilt by make-bochs-cloop-dmg.mjs and compared with qemu-img live, bad input, and
// 10,000 seeded mutations.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BochsDriver } from '../../fixtures/emulator/src/drivers/bochs.js';
import { requireTool } from '../support/system.js';
import {
  checkScriptSamples,
  declaredProbe,
  expectImageError,
  expectSampleAsQemu,
  formatSuite,
  fuzz,
  openBytes,
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
  const cases: { name: string; bytes: () => Uint8Array; pattern: RegExp; qemuRefuses: boolean; onRead?: boolean }[] = [
    // QEMU reads zeros past the end and opens it; a 400-byte file holds no disk worth reading.
    { name: 'short.bochs', bytes: () => sample(V2).slice(0, 400), pattern: /too small for a Bochs header/, qemuRefuses: false },
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
      name: 'catalog-past-eof.bochs',
      bytes: () => edited(V2, (v) => v.setUint32(68, 0x7fff0000, true)),
      pattern: /catalog .* goes past the end of the file/,
      qemuRefuses: false, // QEMU reads zeros there, then catalog entries 0 point at the header
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
    {
      name: 'entry-outside.bochs',
      bytes: () =>
        edited(V2, (v) => {
          for (let i = 0; i < v.getUint32(72, true); i++) if (v.getUint32(512 + i * 4, true) !== 0xffffffff) v.setUint32(512 + i * 4, 0x10000000, true);
        }),
      pattern: /past the end of the file/,
      qemuRefuses: false,
      onRead: true,
    },
    {
      name: 'truncated.bochs',
      bytes: () => sample(V2).slice(0, sample(V2).length - 3000),
      pattern: /past the end of the file/,
      qemuRefuses: false,
      onRead: true,
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
      if (c.qemuRefuses && requireTool('qemu-img', 'checking that qemu-img refuses it too')) {
        const file = join(work, c.name);
        writeFileSync(file, bytes);
        expect(run('qemu-img', ['info', '-f', 'bochs', file]).status).not.toBe(0);
      }
    });
  }
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
