// The vhdx driver: committed samples (dynamic, fixed, 4096-byte sectors) against qemu-img's
// conversion, live qemu-img variants (block sizes 1 to 256 MiB, fixed, log sizes) compared byte
// for byte, bad input (including a log that needs replay), and 10,000 seeded mutations.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemorySource } from '../../fixtures/emulator/src/block/memory-source.js';
import { VhdxDriver } from '../../fixtures/emulator/src/drivers/vhdx.js';
import { crc32cWithZeroField } from '../../fixtures/emulator/src/formats/vhdx/crc32c.js';
import { openVhdx } from '../../fixtures/emulator/src/formats/vhdx/vhdx-image.js';
import { requireTool } from '../support/system.js';
import {
  declaredProbe,
  expectFileAsQemu,
  expectImageError,
  expectSampleAsQemu,
  formatSuite,
  fuzz,
  makeDiskData,
  openBytes,
  probeScore,
  qemuInfo,
  readAll,
  run,
  runOk,
  sha256,
} from './disk-formats-support.js';

const driver = new VhdxDriver();
const { samples, sample, work } = formatSuite('vhdx');

const KiB = 1024;
const MiB = 1024 * 1024;
const H1 = 64 * KiB;
const H2 = 128 * KiB;
const RT = 192 * KiB;
const GUIDS = {
  bat: '6677c22d23f600429d64115e9bfd4a08',
  metadata: '06a27c8b90479a4bb8fe575f050f886e',
  fileParameters: '3767a1ca36fa434db3b633f0aa44e76b',
  virtualDiskSize: '2442a52f1bcd7648b2115dbed83bf4b8',
  logicalSectorSize: '1dbf41816fa90947ba47f233a8faab5f',
};
const hex = (b: Uint8Array, at: number, n: number) => Buffer.from(b.subarray(at, at + n)).toString('hex');

/** Where things are in a VHDX file: region offsets and metadata items (from the region table). */
function layout(bytes: Uint8Array) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const regions = new Map<string, { offset: number; length: number; entry: number }>();
  for (let i = 0; i < v.getUint32(RT + 8, true); i++) {
    const at = RT + 16 + i * 32;
    regions.set(hex(bytes, at, 16), { offset: Number(v.getBigUint64(at + 16, true)), length: v.getUint32(at + 24, true), entry: at });
  }
  const md = regions.get(GUIDS.metadata)!.offset;
  const items = new Map<string, { entry: number; item: number }>();
  for (let i = 0; i < v.getUint16(md + 10, true); i++) {
    const at = md + 32 + i * 32;
    items.set(hex(bytes, at, 16), { entry: at, item: md + v.getUint32(at + 16, true) });
  }
  const current = v.getBigUint64(H1 + 8, true) >= v.getBigUint64(H2 + 8, true) ? H1 : H2;
  return { v, bat: regions.get(GUIDS.bat)!, md, items, current, regions };
}

function fixChecksums(bytes: Uint8Array): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const [at, size] of [
    [H1, 4096],
    [H2, 4096],
    [RT, 64 * KiB],
  ] as const) {
    v.setUint32(at + 4, crc32cWithZeroField(bytes.subarray(at, at + size), 4), true);
  }
}

/** A copy of a sample with `edit` applied and the header and region table checksums redone. */
function edited(name: string, edit: (l: ReturnType<typeof layout>, bytes: Uint8Array) => void, length?: number): Uint8Array {
  const bytes = sample(name).slice(0, length);
  edit(layout(bytes), bytes);
  fixChecksums(bytes);
  return bytes;
}

describe('vhdx probe', () => {
  const probe = declaredProbe('vhdx');
  it('scores 100 for "vhdxfile" at 0 (at least 8 bytes); qemu-img agrees', () => {
    const head = sample('dynamic.vhdx').slice(0, 512);
    expect(probeScore(probe, head, 'x')).toBe(100);
    expect(probeScore(probe, head.slice(0, 8), 'x')).toBe(100);
    expect(probeScore(probe, head.slice(0, 7), 'x')).toBe(0);
    if (!requireTool('qemu-img', 'the probe comparison')) return;
    const file = join(work, 'probe.vhdx');
    writeFileSync(file, sample('dynamic.vhdx'));
    expect(qemuInfo(file).format).toBe('vhdx');
  });
});

describe('vhdx committed samples', () => {
  it('has the samples the script makes', () => {
    expect(samples.map((s) => s.key).sort()).toEqual(['dynamic.vhdx.gz', 'fixed.vhdx.gz', 'sector4k.vhdx.gz']);
  });

  for (const s of samples) {
    it(`${s.key}: ${s.expected.note}`, async () => {
      await (await expectSampleAsQemu(driver, 'vhdx', s, { piece: 300_000, seed: 11, reads: 60, maxLength: 3 * MiB })).close();
    });
  }

  it('reports subformat, block size and sector sizes', async () => {
    expect((await openBytes(driver, 'd.vhdx', sample('dynamic.vhdx'))).details).toMatchObject({ subformat: 'dynamic', 'cluster-size': MiB, 'logical-sector-size': 512 });
    expect((await openBytes(driver, 'f.vhdx', sample('fixed.vhdx'))).details).toMatchObject({ subformat: 'fixed' });
    expect((await openBytes(driver, 's.vhdx', sample('sector4k.vhdx'))).details).toMatchObject({ 'logical-sector-size': 4096 });
  });

  it('qemu-img 7.2 refuses the 4096-byte-sector sample that this driver reads', () => {
    if (!requireTool('qemu-img', 'the 4096-byte sector check')) return;
    const file = join(work, 'sector4k.vhdx');
    writeFileSync(file, sample('sector4k.vhdx'));
    const result = run('qemu-img', ['info', file]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/not supported/i);
  });

  it('falls back to the other header copy when the current one is damaged', async () => {
    const whole = sha256(await readAll(await openBytes(driver, 'a.vhdx', sample('dynamic.vhdx'))));
    for (const header of [H1, H2]) {
      const bytes = sample('dynamic.vhdx').slice();
      bytes[header + 20]! ^= 0xff; // inside the CRC-protected header: that copy is now invalid
      expect(sha256(await readAll(await openBytes(driver, 'b.vhdx', bytes)))).toBe(whole);
    }
  });
});

describe('vhdx against qemu-img (live)', () => {
  const variants: { name: string; size: number; options: string; grain: number }[] = [
    { name: 'b1m.vhdx', size: 9 * MiB + 64 * KiB, options: 'block_size=1M', grain: MiB },
    { name: 'b8m-odd.vhdx', size: 20 * MiB + 512, options: 'block_size=8M', grain: 8 * MiB },
    { name: 'b32m.vhdx', size: 70 * MiB, options: 'block_size=32M,log_size=2M', grain: 32 * MiB },
    { name: 'b256m.vhdx', size: 257 * MiB, options: 'block_size=256M', grain: 256 * MiB },
    { name: 'fixed-2m.vhdx', size: 5 * MiB + 4096, options: 'subformat=fixed,block_size=2M', grain: 2 * MiB },
    { name: 'fixed-noz.vhdx', size: 3 * MiB, options: 'subformat=fixed,block_state_zero=off', grain: MiB },
    { name: 'default.vhdx', size: 40 * MiB, options: '', grain: 32 * MiB },
  ];
  for (const v of variants) {
    it(`${v.name}: ${v.options || 'defaults'}, ${v.size} bytes`, async () => {
      if (!requireTool('qemu-img', 'the live vhdx comparison')) return;
      const raw = join(work, `${v.name}.raw`);
      const file = join(work, v.name);
      makeDiskData(v.size % 997, v.size, v.grain, raw);
      runOk('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', ...(v.options ? ['-o', v.options] : []), raw, file]);
      rmSync(raw);
      await expectFileAsQemu(driver, file, 'vhdx');
    });
  }

  it('a log GUID without valid log entries opens, as in qemu-img', async () => {
    const bytes = edited('dynamic.vhdx', (l, b) => b.fill(0x5a, l.current + 48, l.current + 64));
    const image = await openBytes(driver, 'g.vhdx', bytes);
    expect(image.virtualSize).toBe(9 * MiB + 64 * KiB);
    if (!requireTool('qemu-img', 'the log comparison')) return;
    const file = join(work, 'guid.vhdx');
    writeFileSync(file, bytes);
    expect(run('qemu-img', ['info', '-f', 'vhdx', file]).status).toBe(0);
  });
});

/** A valid one-entry log (no descriptors) with the header's log GUID set to match. */
function withDirtyLog(): Uint8Array {
  return edited('dynamic.vhdx', (l, b) => {
    const guid = Uint8Array.from({ length: 16 }, (_, i) => 0x10 + i);
    b.set(guid, l.current + 48);
    const logOffset = Number(l.v.getBigUint64(l.current + 72, true));
    const entry = b.subarray(logOffset, logOffset + 4096);
    entry.fill(0);
    const ev = new DataView(entry.buffer, entry.byteOffset, 4096);
    ev.setUint32(0, 0x65676f6c, true); // "loge"
    ev.setUint32(8, 4096, true); // entry length
    ev.setBigUint64(16, 7n, true); // sequence
    ev.setUint32(24, 0, true); // descriptors
    entry.set(guid, 32);
    ev.setBigUint64(48, BigInt(b.length), true);
    ev.setBigUint64(56, BigInt(b.length), true);
    ev.setUint32(4, crc32cWithZeroField(entry, 4), true);
  });
}

/**
 * A copy of the dynamic sample whose header has a log GUID and whose log holds `entries`, each a
 * log entry header at a log offset (length, sequence, descriptor count; the checksum right or
 * wrong). The entry's sectors past its header are zeros.
 */
function withLogEntries(entries: { at: number; length: number; sequence: bigint; goodCrc: boolean }[]): Uint8Array {
  return edited('dynamic.vhdx', (l, b) => {
    const guid = Uint8Array.from({ length: 16 }, (_, i) => 0x10 + i);
    b.set(guid, l.current + 48);
    const logOffset = Number(l.v.getBigUint64(l.current + 72, true));
    for (const e of entries) {
      const entry = b.subarray(logOffset + e.at, logOffset + e.at + e.length);
      entry.fill(0);
      const ev = new DataView(entry.buffer, entry.byteOffset, e.length);
      ev.setUint32(0, 0x65676f6c, true); // "loge"
      ev.setUint32(8, e.length, true);
      ev.setBigUint64(16, e.sequence, true);
      entry.set(guid, 32);
      const crc = crc32cWithZeroField(entry, 4);
      ev.setUint32(4, e.goodCrc ? crc : crc ^ 1, true);
    }
  });
}

describe('vhdx log search (QEMU 7.2 vhdx_log_search)', () => {
  it('skips the whole span of an entry whose header is valid but checksum is not: a valid entry inside it is never seen', async () => {
    const inner = { at: 4096, length: 4096, sequence: 10n, goodCrc: true };
    const skip = withLogEntries([{ at: 0, length: 8192, sequence: 5n, goodCrc: false }, inner]);
    const image = await openBytes(driver, 'skip.vhdx', skip);
    expect(image.virtualSize).toBe(9 * MiB + 64 * KiB);
    // The same valid entry with nothing before it is found, and the image refused.
    const alone = withLogEntries([inner]);
    await expectImageError(openBytes(driver, 'alone.vhdx', alone), 'alone.vhdx', /log holds changes that need to be replayed \(entry at log offset 4096\)/);
    if (!requireTool('qemu-img', 'the log search comparison')) return;
    for (const [name, bytes, opens] of [['skip.vhdx', skip, true], ['alone.vhdx', alone, false]] as const) {
      const file = join(work, name);
      writeFileSync(file, bytes);
      const result = run('qemu-img', ['info', '-f', 'vhdx', file]);
      expect(result.status === 0, `${name}: ${result.stderr}`).toBe(opens);
      if (!opens) expect(result.stderr).toMatch(/contains a log that needs to be replayed/);
      rmSync(file);
    }
  });

  it('reads each log sector about once, even when every sector starts a long entry with a bad checksum', async () => {
    const sampleLog = layout(sample('dynamic.vhdx'));
    const logLength = sampleLog.v.getUint32(sampleLog.current + 68, true);
    const sectors = logLength / 4096;
    // Every sector claims the rest of the log but one sector: QEMU checks the entry at 0, moves
    // past its span to the last sector, checks that one, wraps and is done.
    const bytes = withLogEntries(Array.from({ length: sectors }, (_, i) => ({ at: i * 4096, length: 4096, sequence: 1n, goodCrc: false })));
    const lv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const logOffset = Number(sampleLog.v.getBigUint64(sampleLog.current + 72, true));
    for (let i = 0; i < sectors; i++) lv.setUint32(logOffset + i * 4096 + 8, logLength - 4096, true);
    let reads = 0;
    let logReads = 0;
    const memory = new MemorySource('long.vhdx', bytes);
    const counting = {
      name: memory.name,
      size: memory.size,
      read(offset: number, length: number) {
        reads++;
        if (offset >= logOffset && offset < logOffset + logLength) logReads++;
        return memory.read(offset, length);
      },
      close: () => memory.close(),
    };
    const image = await openVhdx('long.vhdx', counting);
    expect(image.virtualSize).toBe(9 * MiB + 64 * KiB);
    // Checking every sector as an entry would read the log ~sectors^2/2 times (32,000 reads for
    // a 1 MiB log); the search reads it in a few runs.
    expect(sectors).toBeGreaterThanOrEqual(256);
    expect(logReads).toBeLessThanOrEqual(8);
    expect(reads).toBeLessThan(100);
    await image.close();
    if (!requireTool('qemu-img', 'the log search comparison')) return;
    const file = join(work, 'long.vhdx');
    writeFileSync(file, bytes);
    expect(run('qemu-img', ['info', '-f', 'vhdx', file]).status).toBe(0);
    rmSync(file);
  });
});

describe('vhdx log entries that run around the whole log', () => {
  const logLength = (() => {
    const l = layout(sample('dynamic.vhdx'));
    return l.v.getUint32(l.current + 68, true);
  })();
  // The entries end one sector before the log does: the search steps over that sector (no entry
  // there) and is back at index 0, where its pass began.
  const cases = [
    { what: 'one entry', entries: [{ at: 0, length: logLength - 4096, sequence: 5n, goodCrc: true }] },
    {
      what: 'a chain of two',
      entries: [
        { at: 0, length: logLength / 2, sequence: 5n, goodCrc: true },
        { at: logLength / 2, length: logLength / 2 - 4096, sequence: 6n, goodCrc: true },
      ],
    },
  ];
  for (const { what, entries } of cases) {
    it(`${what}: refused, where qemu-img searches the log forever`, async () => {
      const bytes = withLogEntries(entries);
      await expectImageError(openBytes(driver, 'around.vhdx', bytes), 'around.vhdx', /VHDX log entries from log offset 0 run around the whole log/);
      if (!requireTool('qemu-img', 'the endless log search')) return;
      const file = join(work, 'around.vhdx');
      writeFileSync(file, bytes);
      // Still searching after two seconds (it never stops); an image it opens takes milliseconds.
      const result = spawnSync('qemu-img', ['info', '-f', 'vhdx', file], { encoding: 'utf8', timeout: 2000, killSignal: 'SIGKILL' });
      expect(result.signal).toBe('SIGKILL');
      rmSync(file);
    });
  }
});

describe('vhdx file size as QEMU sees it (whole 512-byte sectors)', () => {
  it('a file that lost its last 100 bytes still holds its last block: it opens and reads as qemu-img converts it', async () => {
    if (!requireTool('qemu-img', 'the truncated-file comparison')) return;
    const raw = join(work, 'short.raw');
    const full = join(work, 'short-full.vhdx');
    const file = join(work, 'short100.vhdx');
    makeDiskData(77, 3 * MiB, MiB, raw);
    runOk('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', '-o', 'block_size=1M', raw, full]);
    const bytes = new Uint8Array(readFileSync(full));
    writeFileSync(file, bytes.subarray(0, bytes.length - 100));
    rmSync(raw);
    rmSync(full);
    await expectFileAsQemu(driver, file, 'vhdx');
  });
});

describe('vhdx bad input', () => {
  const D = 'dynamic.vhdx';
  const cases: { name: string; bytes: () => Uint8Array; pattern: RegExp; qemu?: RegExp | 'refuses' }[] = [
    { name: 'plain.vhdx', bytes: () => new Uint8Array(300 * KiB), pattern: /not a VHDX image/, qemu: 'refuses' },
    {
      name: 'headers.vhdx',
      bytes: () => {
        const b = sample(D).slice();
        b[H1 + 30]! ^= 1;
        b[H2 + 30]! ^= 1;
        return b;
      },
      pattern: /no valid VHDX header/,
      qemu: 'refuses',
    },
    {
      name: 'same-seq.vhdx',
      bytes: () => edited(D, (l, b) => {
        const other = l.current === H1 ? H2 : H1;
        l.v.setBigUint64(other + 8, l.v.getBigUint64(l.current + 8, true), true);
        b[other + 20]! ^= 1; // different data-write GUID
      }),
      pattern: /both VHDX headers have sequence number/,
      qemu: 'refuses',
    },
    {
      name: 'region-crc.vhdx',
      bytes: () => {
        const b = sample(D).slice();
        b[RT + 40]! ^= 1;
        return b;
      },
      pattern: /region table checksum mismatch/,
      qemu: 'refuses',
    },
    {
      name: 'region-overlap.vhdx',
      bytes: () => edited(D, (l) => l.v.setBigUint64(l.bat.entry + 16, BigInt(l.md), true)),
      pattern: /overlaps the/,
      qemu: 'refuses',
    },
    {
      name: 'no-size-item.vhdx',
      bytes: () =>
        edited(D, (l, b) => {
          const entry = l.items.get(GUIDS.virtualDiskSize)!.entry;
          b[entry]! ^= 0xff; // an unknown item now, and not a required one
          l.v.setUint32(entry + 24, 0, true);
        }),
      pattern: /lacks required item\(s\): virtualDiskSize/,
      qemu: 'refuses',
    },
    {
      name: 'block-3m.vhdx',
      bytes: () => edited(D, (l) => l.v.setUint32(l.items.get(GUIDS.fileParameters)!.item, 3 * MiB, true)),
      pattern: /block size 3145728 is not a power of two/,
      qemu: 'refuses',
    },
    {
      name: 'block-512m.vhdx',
      bytes: () => edited(D, (l) => l.v.setUint32(l.items.get(GUIDS.fileParameters)!.item, 512 * MiB, true)),
      pattern: /block size 536870912 is out of range/,
      qemu: 'refuses',
    },
    {
      name: 'sector-1024.vhdx',
      bytes: () => edited(D, (l) => l.v.setUint32(l.items.get(GUIDS.logicalSectorSize)!.item, 1024, true)),
      pattern: /logical sector size 1024 is not supported/,
      qemu: 'refuses',
    },
    {
      name: 'parent.vhdx',
      bytes: () => edited(D, (l) => l.v.setUint32(l.items.get(GUIDS.fileParameters)!.item + 4, 2, true)),
      pattern: /has a parent, but there is no parent locator/,
      qemu: 'refuses',
    },
    {
      name: 'huge-size.vhdx',
      bytes: () => edited(D, (l) => l.v.setBigUint64(l.items.get(GUIDS.virtualDiskSize)!.item, 1n << 60n, true)),
      pattern: /too large/,
      qemu: 'refuses',
    },
    {
      name: 'big-size.vhdx',
      bytes: () => edited(D, (l) => l.v.setBigUint64(l.items.get(GUIDS.virtualDiskSize)!.item, 1n << 42n, true)),
      pattern: /BAT region \(1048576 bytes\) is too small for 4195327 entries/,
      qemu: 'refuses',
    },
    {
      name: 'truncated.vhdx',
      bytes: () => {
        // Cut 100 bytes into the last payload block in the file.
        const { v, bat } = layout(sample(D));
        let last = 0;
        for (let i = 0; i < 10; i++) {
          const entry = v.getBigUint64(bat.offset + i * 8, true);
          if ((entry & 7n) === 6n) last = Math.max(last, Number(entry & ~0xfffffn));
        }
        return sample(D).slice(0, last + 100);
      },
      pattern: /BAT entry \d+ ends at offset \d+, past the end of the file .*truncated/,
      qemu: 'refuses',
    },
    {
      name: 'entry-outside.vhdx',
      bytes: () => edited(D, (l) => l.v.setBigUint64(l.bat.offset, (1n << 40n) | 6n, true)),
      pattern: /BAT entry 0 points to offset 1099511627776, past the end of the file/,
      qemu: 'refuses',
    },
    {
      name: 'entry-on-metadata.vhdx',
      bytes: () => edited(D, (l) => l.v.setBigUint64(l.bat.offset, BigInt(l.md) | 6n, true)),
      pattern: /BAT entry 0 .* overlaps the metadata region/,
      qemu: 'refuses',
    },
    {
      name: 'dirty-log.vhdx',
      bytes: withDirtyLog,
      pattern: /log holds changes that need to be replayed/,
      qemu: /contains a log that needs to be replayed/,
    },
  ];

  for (const c of cases) {
    it(`${c.name}: ${c.pattern}`, async () => {
      const bytes = c.bytes();
      await expectImageError(openBytes(driver, c.name, bytes), c.name, c.pattern);
      if (c.qemu && requireTool('qemu-img', 'checking that qemu-img refuses it too')) {
        const file = join(work, c.name);
        writeFileSync(file, bytes);
        const result = run('qemu-img', ['info', '-f', 'vhdx', file]);
        expect(result.status, result.stdout).not.toBe(0);
        if (c.qemu instanceof RegExp) expect(result.stderr).toMatch(c.qemu);
        rmSync(file);
      }
    });
  }

  it('reading a partially present or invalid block is an error', async () => {
    for (const [state, pattern] of [
      [7, /block 0 is partially present/],
      [4, /block 0 has an invalid BAT state 4/],
    ] as const) {
      const bytes = edited(D, (l) => l.v.setBigUint64(l.bat.offset, BigInt(state), true));
      const image = await openBytes(driver, 's.vhdx', bytes);
      await expectImageError(image.read(0, 4096), 's.vhdx', pattern);
    }
  });
});

describe('vhdx fuzz', () => {
  it('10,000 seeded mutations give only ImageErrors', async () => {
    const targets = samples.map((s) => {
      const l = layout(s.bytes);
      const log = Number(l.v.getBigUint64(l.current + 72, true));
      return {
        name: s.name,
        bytes: s.bytes,
        hot: [
          [H1, H1 + 80],
          [H2, H2 + 80],
          [RT, RT + 16 + 2 * 32],
          [l.md, l.md + 32 + 5 * 32],
          [l.md + 64 * KiB, l.md + 64 * KiB + 48],
          [l.bat.offset, l.bat.offset + 64],
          [log, log + 64],
        ] as [number, number][],
        fix: (
          slice: (at: number, length: number) => Uint8Array,
          write: (at: number, value: number) => void,
          _size: number,
          touched: (at: number, length: number) => boolean,
        ) => {
          for (const [at, size] of [
            [H1, 4096],
            [H2, 4096],
            [RT, 64 * KiB],
          ] as const) {
            if (!touched(at, size)) continue;
            const crc = crc32cWithZeroField(slice(at, size), 4);
            for (let k = 0; k < 4; k++) write(at + 4 + k, crc >>> (8 * k));
          }
        },
      };
    });
    const report = await fuzz(driver, targets, 10_000, 4242);
    if (process.env.FUZZ_REPORT) console.log(report);
    expect(report.opened).toBeGreaterThan(1000);
    expect(report.errors.size).toBeGreaterThan(8);
  });
});
