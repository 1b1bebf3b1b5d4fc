// The QED driver: committed samples against qemu-img's own conversion, live variants (cluster and
// table sizes, zero clusters, backing files of several formats, seeded writes), bad input, and a
// seeded fuzz of 10,000 mutations.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QedDriver } from '../../fixtures/emulator/src/drivers/qed.js';
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
  qemuIo,
  randomWrites,
  rejection,
  run,
  sampleTests,
} from './qcow-family-support.js';

void QedDriver;

const { expected, files, nameOf, bytesOf, patched } = loadSamples('qed');

/** Offsets of the L1 table, the first L2 table and its entries (little-endian tables). */
function tables(bytes: Uint8Array): { l1: number; l2: number; entry: (index: number) => number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const l1 = Number(view.getBigUint64(40, true));
  const l2 = Number(view.getBigUint64(l1, true));
  return { l1, l2, entry: (index) => l2 + index * 8 };
}

describe('qed probe', () => {
  it('declares QEMU 7.2 bdrv_qed_probe: sizeof(QEDHeader) = 64 bytes, little-endian magic "QED\\0"', () => {
    const { probe, matches } = declaredMatcher('qed');
    const head = bytesOf('plain.qed').slice(0, 512);
    expect(probe.score).toBe(100);
    expect(Array.from(head.subarray(0, 4))).toEqual([0x51, 0x45, 0x44, 0x00]);
    expect(matches(head)).toBe(true);
    expect(matches(head.slice(0, 64))).toBe(true);
    expect(matches(head.slice(0, 63))).toBe(false);
    const other = head.slice();
    other[3] = 1;
    expect(matches(other)).toBe(false);
  });
});

describe('qed committed samples', () => {
  it('has the samples the script makes', () => {
    expect(Object.keys(expected).sort()).toEqual(['backing-raw.qed', 'backing.qed', 'plain.qed']);
  });

  sampleTests({ expected, files, nameOf });

  it('reports cluster and table size, backing file and its format', async () => {
    const details = async (name: string) => {
      const image = await openImage(name, { files });
      await image.close();
      return image.details;
    };
    expect(await details('plain.qed')).toEqual({ 'cluster-size': 4096, 'table-size': 4 });
    expect(await details('backing.qed')).toEqual({ 'cluster-size': 4096, 'table-size': 2, 'backing-filename': 'plain.qed' });
    expect(await details('backing-raw.qed')).toMatchObject({ 'backing-filename': 'base.img', 'backing-filename-format': 'raw' });
  });

  it('zero entries hide the backing data and status reports them', async () => {
    const image = await openImage('backing.qed', { files });
    expect(await image.status!(0, 4096)).toEqual({ zero: true, length: 4096 });
    expect(await image.read(0, 4096)).toEqual(new Uint8Array(4096));
    const plain = await openImage('plain.qed', { files });
    expect((await plain.read(0, 4096)).some((byte) => byte !== 0)).toBe(true);
    await plain.close();
    await image.close();
  });

  it('reads at unaligned offsets and lengths equal slices of the whole disk', async () => {
    await expectSlicesMatchWhole(['plain.qed', 'backing.qed'], files, 63);
  });

  it('serves a whole-disk read with one source read per contiguous run', async () => {
    await expectOneSourceReadPerRun('plain.qed', files);
  });
});

const haveQemu = requireTool('qemu-img', 'the live qed comparisons') && requireTool('qemu-io', 'the live qed comparisons');

describe.skipIf(!haveQemu)('qed live variants against qemu-img', { timeout: 240_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'qed-live-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('cluster sizes 4 KiB to 1 MiB and table sizes 2 to 16', async () => {
    for (const [cluster, table, size] of [
      [4096, 2, 512 * 1024],
      [65536, 4, 3 * 1024 * 1024],
      [16384, 16, 1024 * 1024 + 512],
      [1024 * 1024, 2, 5 * 1024 * 1024],
    ] as const) {
      const raw = join(work, `d-${cluster}-${table}.raw`);
      makeDiskData(1500 + table, size, cluster, raw);
      const name = `c${cluster}-t${table}.qed`;
      run('qemu-img', ['convert', '-f', 'raw', '-O', 'qed', '-o', `cluster_size=${cluster},table_size=${table}`, raw, name], work);
      const data = await compareWithQemu(work, name);
      expect(firstDifference(data, new Uint8Array(readFileSync(raw)))).toBe(-1);
    }
  });

  it('a file that lost its last 100 bytes still holds its last cluster (QEMU rounds the size up to whole sectors): it reads as qemu-img', async () => {
    const whole = bytesOf('plain.qed');
    writeFileSync(join(work, 'short100.qed'), whole.subarray(0, whole.length - 100));
    await compareWithQemu(work, 'short100.qed');
  });

  it('a table size of 1 is refused, as QEMU 7.2 refuses it', async () => {
    run('qemu-img', ['create', '-q', '-f', 'qed', '-o', 'table_size=1', 't1.qed', '1M'], work);
    expect(() => run('qemu-img', ['info', 't1.qed'], work)).toThrow(/QED table offset is invalid/);
    expect((await rejection(openImage(join(work, 't1.qed')))).message).toMatch(/QED table offset is invalid/);
  });

  it('seeded writes (with zero writes) over backing files of each format, probed and named', async () => {
    const raw = join(work, 'base.raw');
    makeDiskData(1601, 1024 * 1024, 8192, raw);
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', '-o', 'cluster_size=4096', raw, 'base.qcow2'], work);
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'qed', raw, 'base.qed'], work);
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow', raw, 'base.qcow'], work);
    for (const [backing, format] of [['base.raw', 'raw'], ['base.qcow', 'qcow'], ['base.qcow2', 'qcow2'], ['base.qed', 'qed']] as const) {
      const name = `over-${format}.qed`;
      run('qemu-img', ['create', '-q', '-f', 'qed', '-o', 'cluster_size=4096', '-b', backing, '-F', format, name, '1536K'], work);
      const commands = randomWrites(1700 + format.length, 1536 * 1024, 4096, 40).filter((command) => !command.startsWith('discard'));
      qemuIo(work, name, commands);
      await compareWithQemu(work, name);
    }
  });
});

describe('qed bad input', () => {
  async function openError(map: Map<string, Uint8Array>, name: string): Promise<string> {
    const error = await rejection(openAndReadAll(name, { files: map, format: 'qed' }));
    expect(error.image).toBe(name);
    expect(error.message).not.toContain('\n');
    return error.problem;
  }

  it('truncated files', async () => {
    expect(await openError(patched('plain.qed', () => {}, 60), 'plain.qed')).toMatch(/too short for a QED header/);
    const half = Math.floor(bytesOf('plain.qed').length / 2);
    expect(await openError(patched('plain.qed', () => {}, half), 'plain.qed')).toMatch(/invalid/);
    // Only the last data cluster cut off: the table still fits, the cluster offset does not.
    const cut = bytesOf('plain.qed').length - 4096;
    expect(await openError(patched('plain.qed', () => {}, cut), 'plain.qed')).toMatch(/invalid host offset/);
  });

  it('header fields out of range', async () => {
    const cases: [string, (view: DataView) => void, RegExp][] = [
      ['bad magic', (v) => v.setUint32(0, 0x00444552, true), /Image not in QED format/],
      ['unknown feature', (v) => v.setBigUint64(16, 8n, true), /Unsupported QED features: 8/],
      ['cluster size 1000', (v) => v.setUint32(4, 1000, true), /QED cluster size 1000 is invalid/],
      ['cluster size 128 MiB', (v) => v.setUint32(4, 128 * 1024 * 1024, true), /QED cluster size \d+ is invalid/],
      ['table size 3', (v) => v.setUint32(8, 3, true), /QED table size 3 is invalid/],
      ['table size 32', (v) => v.setUint32(8, 32, true), /QED table size 32 is invalid/],
      ['table size 1', (v) => v.setUint32(8, 1, true), /QED table offset is invalid/],
      ['image size not in sectors', (v) => v.setBigUint64(48, 1000n, true), /QED image size 1000 is invalid/],
      ['image size past the tables', (v) => v.setBigUint64(48, 1n << 40n, true), /QED image size \d+ is invalid/],
      ['L1 table unaligned', (v) => v.setBigUint64(40, v.getBigUint64(40, true) + 8n, true), /QED table offset is invalid/],
      ['L1 table in the header', (v) => v.setBigUint64(40, 0n, true), /QED table offset is invalid/],
      ['L1 table past EOF', (v) => v.setBigUint64(40, 1n << 40n, true), /QED table offset is invalid/],
      ['L1 table overflowing 2^64', (v) => v.setBigUint64(40, 0xffff_ffff_ffff_f000n, true), /QED table offset is invalid/],
      ['backing name outside the header', (v) => (v.setBigUint64(16, 1n, true), v.setUint32(56, 4000, true), v.setUint32(60, 200, true)), /backing file name .* outside the header/],
    ];
    for (const [label, edit, message] of cases) {
      const problem = await openError(patched('plain.qed', edit), 'plain.qed').catch((error: Error) => `${label}: ${error.message}`);
      expect(problem, label).toMatch(message);
    }
  });

  it('table and cluster pointers: invalid L2 offsets and cluster offsets', async () => {
    const { l1, entry } = tables(bytesOf('plain.qed'));
    expect(await openError(patched('plain.qed', (v) => v.setBigUint64(l1, 1n << 40n, true)), 'plain.qed')).toMatch(/L2 table offset \d+ \(L1 index 0\) is invalid/);
    expect(await openError(patched('plain.qed', (v) => v.setBigUint64(l1, v.getBigUint64(l1, true) + 512n, true)), 'plain.qed')).toMatch(/L2 table offset .* is invalid/);
    let index = 0;
    const view = new DataView(bytesOf('plain.qed').buffer);
    while (view.getBigUint64(entry(index), true) <= 1n) index++;
    // Past EOF, unaligned, inside the header.
    for (const bad of [1n << 40n, view.getBigUint64(entry(index), true) + 512n, 2n]) {
      expect(await openError(patched('plain.qed', (v) => v.setBigUint64(entry(index), bad, true)), 'plain.qed')).toMatch(/has an invalid host offset/);
    }
  });

  it('an empty backing name means no backing file (as in QEMU); loops and missing files are refused', async () => {
    const empty = patched('backing.qed', (v) => v.setUint32(60, 0, true));
    const image = await openImage('backing.qed', { files: empty });
    expect(image.details?.['backing-filename']).toBeUndefined();
    await image.close();
    const loop = new Map(files).set('plain.qed', bytesOf('backing.qed'));
    expect((await rejection(openImage('backing.qed', { files: loop }))).message).toMatch(/backing chain loop: backing.qed -> plain.qed -> plain.qed/);
    const missing = new Map(files);
    missing.delete('base.img');
    expect((await rejection(openImage('backing-raw.qed', { files: missing }))).message).toMatch(/base.img: no such file/);
  });

  it('the largest image its tables allow opens without allocating for its size', async () => {
    // 4 KiB clusters and 4-cluster tables map at most 2048 * 2048 * 4 KiB = 16 GiB.
    const big = patched('plain.qed', (v) => v.setBigUint64(48, 16n << 30n, true));
    const counter = { reads: 0, bytes: 0 };
    const image = await openImage('plain.qed', { files: big, wrap: countingWrap(counter) });
    expect(image.virtualSize).toBe(16 * 2 ** 30);
    expect(await image.read(image.virtualSize - 8192, 8192)).toEqual(new Uint8Array(8192));
    const status = await image.status!(2 ** 30, 15 * 2 ** 30);
    expect(status).toEqual({ zero: true, length: 15 * 2 ** 30 });
    await image.close();
    expect(counter.bytes).toBeLessThan(1024 * 1024);
  });
});

describe('qed fuzz', () => {
  it('10,000 seeded mutations of the samples: only ImageError, never a hang', async () => {
    const hot = (_name: string, bytes: Uint8Array): [number, number][] => {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const areas: [number, number][] = [[0, Math.min(bytes.length, 128)]];
      const l1 = Number(view.getBigUint64(40, true));
      areas.push([l1, Math.min(bytes.length, l1 + 64)]);
      for (let i = 0; i < 2 && l1 + i * 8 + 8 <= bytes.length; i++) {
        const l2 = Number(view.getBigUint64(l1 + i * 8, true));
        if (l2 > 0 && l2 < bytes.length) areas.push([l2, Math.min(bytes.length, l2 + 1024)]);
      }
      return areas;
    };
    const report = await fuzz({ files, targets: Object.keys(expected).map(nameOf), iterations: 10_000, seed: 20240603, hotBytes: hot });
    expect(report.iterations).toBe(10_000);
    expect(report.readsCompleted).toBeGreaterThan(1000);
    expect(report.imageErrors).toBeGreaterThan(1000);
  }, 120_000);
});
