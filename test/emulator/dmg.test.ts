// The dmg driver: committed samples (plist and resource-fork images; zlib, bzip2, raw, zero,
// ignore, comment and terminator chunks) against qemu-img's conversion, samples rebuilt by
// make-bochs-cloop-dmg.mjs and compared with qemu-img live, bad input (absurd chunk sizes, a
// bzip2 bomb, lzfse, gaps), and 10,000 seeded mutations.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { inflateSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { DmgDriver } from '../../fixtures/emulator/src/drivers/dmg.js';
import { adler32, hasAdler32Trailer } from '../../fixtures/emulator/src/formats/shared/adler32.js';
import { glibBase64Decode } from '../../fixtures/emulator/src/formats/dmg/glib-base64.js';
import { requireTool } from '../support/system.js';
import {
  checkScriptSamples,
  declaredProbe,
  expectImageError,
  expectSampleAsQemu,
  firstDifference,
  formatSuite,
  fuzz,
  lit286Stream,
  openBytes,
  probeScore,
  qemuInfo,
  readAll,
  run,
} from './disk-formats-support.js';

const driver = new DmgDriver();
const { samples, sample, work } = formatSuite('dmg');

const UDZE = 0;
const UDRW = 1;
const UDZO = 0x80000005;
const UDBZ = 0x80000006;
const ULFO = 0x80000007;
const UDLE = 0xffffffff;

interface Chunk {
  type: number;
  sector: number;
  count: number;
  data: Uint8Array;
  /** Overrides of the stored length (absurd values). */
  length?: bigint;
  offset?: bigint;
}

/** A one-partition dmg with a resource fork holding one mish block of `chunks`. */
function buildDmg(chunks: Chunk[], totalSectors: number | bigint): Uint8Array {
  const fork: Uint8Array[] = [];
  let at = 0;
  const mish = new Uint8Array(204 + 40 * (chunks.length + 1));
  const mv = new DataView(mish.buffer);
  mish.set(new TextEncoder().encode('mish'));
  mv.setBigUint64(16, BigInt(totalSectors));
  chunks.forEach((c, i) => {
    const e = 204 + 40 * i;
    mv.setUint32(e, c.type);
    mv.setBigUint64(e + 8, BigInt(c.sector));
    mv.setBigUint64(e + 16, BigInt(c.count));
    mv.setBigUint64(e + 24, c.offset ?? BigInt(at));
    mv.setBigUint64(e + 32, c.length ?? BigInt(c.data.length));
    fork.push(c.data);
    at += c.data.length;
  });
  mv.setUint32(204 + 40 * chunks.length, UDLE);
  const record = new Uint8Array(4 + mish.length);
  new DataView(record.buffer).setUint32(0, mish.length);
  record.set(mish, 4);
  const rsrc = new Uint8Array(256 + record.length);
  const rv = new DataView(rsrc.buffer);
  rv.setUint32(0, 256);
  rv.setUint32(8, record.length);
  rsrc.set(record, 256);
  const koly = new Uint8Array(512);
  const kv = new DataView(koly.buffer);
  koly.set(new TextEncoder().encode('koly'));
  kv.setBigUint64(0x28, BigInt(at));
  kv.setBigUint64(0x30, BigInt(rsrc.length));
  kv.setBigUint64(0x1ec, BigInt(totalSectors));
  const out = new Uint8Array(at + rsrc.length + 512);
  let p = 0;
  for (const f of fork) {
    out.set(f, p);
    p += f.length;
  }
  out.set(rsrc, p);
  out.set(koly, p + rsrc.length);
  return out;
}

const text = new TextEncoder().encode('dmg chunk data '.repeat(600)).slice(0, 8192);
const zlib = (data: Uint8Array) => new Uint8Array(deflateSync(data));
function bzip2(data: Uint8Array): Uint8Array {
  const result = spawnSync('bzip2', ['-9', '-c'], { input: data, maxBuffer: 1 << 30 });
  if (result.status !== 0) throw new Error('bzip2 failed');
  return new Uint8Array(result.stdout);
}

describe('dmg probe', () => {
  const probe = declaredProbe('dmg');
  it('matches QEMU: only a name ending in ".dmg" (longer than that), score 2', () => {
    const head = sample('zlib-raw-zero.dmg').slice(0, 512);
    expect(probeScore(probe, head, 'disk.dmg')).toBe(2);
    expect(probeScore(probe, new Uint8Array(0), 'x.dmg')).toBe(2);
    expect(probeScore(probe, head, '.dmg')).toBe(0);
    expect(probeScore(probe, head, 'disk.DMG')).toBe(0);
    expect(probeScore(probe, head, 'disk.img')).toBe(0);
    if (!requireTool('qemu-img', 'the probe comparison')) return;
    for (const name of ['a.dmg', 'a.DMG', 'a.img']) {
      const file = join(work, name);
      writeFileSync(file, sample('zlib-raw-zero.dmg'));
      expect(qemuInfo(file).format, name).toBe(probeScore(probe, head, name) === 2 ? 'dmg' : 'raw');
    }
  });
});

describe('dmg committed samples', () => {
  it('has the samples the script makes', () => {
    expect(samples.map((s) => s.key).sort()).toEqual(['bzip2.dmg', 'rsrc-fork.dmg', 'zlib-raw-zero.dmg']);
  });

  for (const s of samples) {
    it(`${s.key}: ${s.expected.note}`, async () => {
      await (await expectSampleAsQemu(driver, 'dmg', s, { piece: 3000, seed: 9, reads: 150, maxLength: 30_000 })).close();
    });
  }

  it('reports the chunk table and chunk types', async () => {
    expect((await openBytes(driver, 'a.dmg', sample('zlib-raw-zero.dmg'))).details).toMatchObject({ 'chunk-table': 'plist' });
    expect((await openBytes(driver, 'b.dmg', sample('rsrc-fork.dmg'))).details).toMatchObject({ 'chunk-table': 'resource fork' });
    const details = (await openBytes(driver, 'c.dmg', sample('bzip2.dmg'))).details!;
    expect(details['chunks-bzip2']).toBeGreaterThan(0);
    expect(details['chunks-zlib']).toBeGreaterThan(0);
  });
});

describe('dmg against qemu-img (live)', () => {
  it('rebuilds the samples and extra variants with the script; each reads as qemu-img reads it', async () => {
    if (!requireTool('qemu-img', 'the live dmg comparison') || !requireTool('bzip2', 'the sample script')) return;
    const checked = await checkScriptSamples(driver, 'dmg');
    expect(checked.sort()).toEqual(['bzip2.dmg', 'extra-1m-chunks.dmg', 'extra-rsrc-bzip2.dmg', 'rsrc-fork.dmg', 'zlib-raw-zero.dmg']);
  });

  it('a hand-built resource-fork image reads as qemu-img reads it', async () => {
    const bytes = buildDmg(
      [
        { type: UDZO, sector: 0, count: 16, data: zlib(text) },
        { type: UDZE, sector: 16, count: 1000, data: new Uint8Array(0) },
        { type: UDRW, sector: 1016, count: 8, data: text.slice(0, 4096) },
      ],
      1024,
    );
    const image = await openBytes(driver, 'hand.dmg', bytes);
    const whole = await readAll(image);
    expect(firstDifference(whole.subarray(0, 8192), text)).toBe(-1);
    expect(whole.subarray(8192, 1016 * 512).every((b) => b === 0)).toBe(true);
    if (!requireTool('qemu-img', 'the comparison')) return;
    const file = join(work, 'hand.dmg');
    writeFileSync(file, bytes);
    const converted = join(work, 'hand.raw');
    expect(run('qemu-img', ['convert', '-f', 'dmg', '-O', 'raw', file, converted]).status).toBe(0);
    expect(firstDifference(whole, new Uint8Array(readFileSync(converted)))).toBe(-1);
  });
});

describe('dmg base64 as glib decodes it', () => {
  it('skips non-alphabet characters, handles padding and a partial tail', () => {
    const decode = (s: string) => Buffer.from(glibBase64Decode(s)).toString('latin1');
    expect(decode('aGVsbG8=')).toBe('hello');
    expect(decode('\t\taGVs\n bG8=\n')).toBe('hello');
    expect(decode('aGVsbA==')).toBe('hell');
    expect(decode('aGVsbG8')).toBe('hel'); // a trailing group of 3 is dropped
    expect(decode('!!!')).toBe('');
  });
});

describe('dmg bad input', () => {
  const ok = (type: number, count: number, data: Uint8Array): Chunk => ({ type, sector: 0, count, data });
  const cases: { name: string; bytes: () => Uint8Array; pattern: RegExp; onRead?: boolean; qemu: 'open' | 'read' | 'none' }[] = [
    // QEMU rounds the size up to 512 (bdrv_getlength): 300 bytes are long enough, but hold no koly.
    { name: 'tiny.dmg', bytes: () => new Uint8Array(300), pattern: /could not locate the UDIF trailer/, qemu: 'open' },
    { name: 'empty.dmg', bytes: () => new Uint8Array(0), pattern: /at least 512 bytes/, qemu: 'open' },
    { name: 'nokoly.dmg', bytes: () => new Uint8Array(4096).fill(3), pattern: /could not locate the UDIF trailer/, qemu: 'open' },
    {
      name: 'truncated.dmg',
      bytes: () => sample('zlib-raw-zero.dmg').slice(0, 40_000),
      pattern: /could not locate the UDIF trailer/,
      qemu: 'open',
    },
    {
      // A chunk claiming 4 GiB of decompressed data.
      name: 'huge-sectors.dmg',
      bytes: () => buildDmg([ok(UDZO, 8388608, zlib(text))], 8388608),
      pattern: /chunk 0 has 8388608 sectors, more than the maximum of 131072/,
      qemu: 'open',
    },
    {
      name: 'huge-length.dmg',
      bytes: () => buildDmg([{ ...ok(UDRW, 16, text), length: 1n << 40n }], 16),
      pattern: /chunk 0 is 1099511627776 bytes long, more than the maximum/,
      qemu: 'open',
    },
    {
      name: 'offset-outside.dmg',
      bytes: () => buildDmg([{ ...ok(UDZO, 16, zlib(text)), offset: 1n << 40n }], 16),
      pattern: /chunk 0 .* past the end of the file/,
      onRead: true,
      qemu: 'read',
    },
    {
      name: 'size-mismatch.dmg',
      bytes: () => buildDmg([ok(UDZO, 8, zlib(text))], 8),
      pattern: /chunk 0: zlib data inflates to more than 4096 bytes/,
      onRead: true,
      qemu: 'read',
    },
    {
      name: 'garbage-zlib.dmg',
      bytes: () => buildDmg([ok(UDZO, 16, new Uint8Array(100).fill(9))], 16),
      pattern: /chunk 0: invalid zlib data/,
      onRead: true,
      qemu: 'read',
    },
    {
      name: 'lzfse.dmg',
      bytes: () => buildDmg([ok(ULFO, 16, new Uint8Array(100))], 16),
      pattern: /lzfse-compressed .* not supported/,
      onRead: true,
      qemu: 'read',
    },
    {
      name: 'gap.dmg',
      bytes: () => buildDmg([ok(UDZE, 16, new Uint8Array(0)), { ...ok(UDZE, 16, new Uint8Array(0)), sector: 32 }], 48),
      pattern: /sector 16 is not covered by any chunk/,
      onRead: true,
      qemu: 'read',
    },
    {
      name: 'past-chunks.dmg',
      bytes: () => buildDmg([ok(UDZE, 16, new Uint8Array(0))], 1n << 40n),
      pattern: /sector 16 is not covered by any chunk/,
      onRead: true,
      qemu: 'read',
    },
    {
      name: 'too-many-sectors.dmg',
      bytes: () => buildDmg([ok(UDZE, 16, new Uint8Array(0))], 1n << 62n),
      pattern: /sector count 4611686018427387904 is too large/,
      qemu: 'none', // QEMU accepts it (it is not negative)
    },
    {
      name: 'unclosed.dmg',
      // Every </data> spoiled: the first <data> has no end.
      bytes: () => new Uint8Array(Buffer.from(Buffer.from(sample('zlib-raw-zero.dmg')).toString('latin1').replaceAll('</data>', '</dat@>'), 'latin1')),
      pattern: /<data> without <\/data>/,
      qemu: 'open',
    },
  ];
  if (requireTool('bzip2', 'the bzip2 chunk cases')) {
    cases.push(
      {
        name: 'garbage-bzip2.dmg',
        bytes: () => buildDmg([ok(UDBZ, 16, new TextEncoder().encode('BZh91AY&SYthis is not bzip2 data at all'))], 16),
        pattern: /chunk 0: invalid bzip2 data/,
        onRead: true,
        qemu: 'none', // Debian's qemu-img has no bzip2 module at all
      },
      {
        // 64 MiB of zeros is a few hundred bytes of bzip2; the chunk claims 8 KiB.
        name: 'bzip2-bomb.dmg',
        bytes: () => buildDmg([ok(UDBZ, 16, bzip2(new Uint8Array(64 << 20)))], 16),
        pattern: /chunk 0: bzip2 data decodes to more than 8192 bytes/,
        onRead: true,
        qemu: 'none',
      },
      {
        name: 'bzip2-truncated.dmg',
        bytes: () => {
          const z = bzip2(text);
          return buildDmg([ok(UDBZ, 16, z.slice(0, z.length - 6))], 16);
        },
        pattern: /chunk 0: invalid bzip2 data/,
        onRead: true,
        qemu: 'none',
      },
    );
  }
  for (const c of cases) {
    it(`${c.name}: ${c.pattern}`, async () => {
      const bytes = c.bytes();
      const started = Date.now();
      if (c.onRead) {
        const image = await openBytes(driver, c.name, bytes);
        await expectImageError(image.read(0, Math.min(image.virtualSize, 1 << 20)), c.name, c.pattern);
      } else {
        await expectImageError(openBytes(driver, c.name, bytes), c.name, c.pattern);
      }
      expect(Date.now() - started).toBeLessThan(30_000); // no hang (generous: a loaded machine)
      if (c.qemu !== 'none' && requireTool('qemu-img', 'checking that qemu-img refuses it too')) {
        const file = join(work, c.name);
        writeFileSync(file, bytes);
        const args = c.qemu === 'open' ? ['info', '-f', 'dmg', file] : ['convert', '-f', 'dmg', '-O', 'raw', file, `${file}.raw`];
        expect(run('qemu-img', args).status).not.toBe(0);
      }
    });
  }
});

describe('dmg fuzz', () => {
  it('10,000 seeded mutations give only ImageErrors', async () => {
    const targets = samples.map((s) => {
      const size = s.bytes.length;
      const v = new DataView(s.bytes.buffer, s.bytes.byteOffset);
      const koly = size - 512;
      const xml = Number(v.getBigUint64(koly + 0xd8));
      const rsrc = Number(v.getBigUint64(koly + 0x28));
      const info = xml || rsrc;
      const infoLength = Number(v.getBigUint64(koly + (xml ? 0xe0 : 0x30)));
      return {
        name: s.name,
        bytes: s.bytes,
        hot: [
          [koly, size],
          [info, info + infoLength],
          [0, 256],
        ] as [number, number][],
      };
    });
    // Short reads: every bzip2 chunk read costs a fresh bzip2 block decoder.
    const report = await fuzz(driver, targets, 10_000, 31337, 16384);
    if (process.env.FUZZ_REPORT) console.log(report);
    expect(report.opened).toBeGreaterThan(1000);
    expect(report.errors.size).toBeGreaterThan(5);
  });
});

describe('dmg: read exactly as QEMU reads', () => {
  const zlibChunk = (data: Uint8Array, count: number): Chunk => ({ type: UDZO, sector: 0, count, data });
  const qemuConverts = (name: string, bytes: Uint8Array): Uint8Array | undefined => {
    const file = join(work, name);
    writeFileSync(file, bytes);
    const result = run('qemu-img', ['convert', '-f', 'dmg', '-O', 'raw', file, `${file}.raw`]);
    return result.status === 0 ? new Uint8Array(readFileSync(`${file}.raw`)) : undefined;
  };

  it('checks the Adler-32 trailer where the zlib stream ends, not anywhere after it', async () => {
    const z = zlib(text);
    // A wrong trailer, then the right checksum: zlib reads only the first ("incorrect data check").
    const wrong = new Uint8Array(z.length + 4);
    wrong.set(z);
    wrong.set([0xde, 0xad, 0xbe, 0xef], z.length - 4);
    wrong.set(z.subarray(z.length - 4), z.length);
    const bad = buildDmg([zlibChunk(wrong, 16)], 16);
    await expectImageError(readAll(await openBytes(driver, 'adler-trailing.dmg', bad)), 'adler-trailing.dmg', /chunk 0: zlib data fails its Adler-32 check/);
    // Bytes after a complete stream are ignored, as zlib ignores them.
    const trailing = new Uint8Array([...z, ...new TextEncoder().encode('garbage!')]);
    const good = buildDmg([zlibChunk(trailing, 16)], 16);
    expect(firstDifference(await readAll(await openBytes(driver, 'zlib-trailing.dmg', good)), text)).toBe(-1);
    if (!requireTool('qemu-img', 'the comparison')) return;
    expect(qemuConverts('adler-trailing.dmg', bad)).toBeUndefined();
    expect(firstDifference(qemuConverts('zlib-trailing.dmg', good)!, text)).toBe(-1);
  });

  it('hasAdler32Trailer (the check behind fflate, for vmdk grains) looks where the deflate data ends', () => {
    const z = zlib(text);
    const sum = adler32(text);
    expect(hasAdler32Trailer(z, sum)).toBe(true);
    expect(hasAdler32Trailer(new Uint8Array([...z, 0x55]), sum)).toBe(true); // a byte after the stream
    const wrong = new Uint8Array([...z, ...z.subarray(z.length - 4)]);
    wrong.set([0xde, 0xad, 0xbe, 0xef], z.length - 4);
    expect(hasAdler32Trailer(wrong, sum)).toBe(false);
    expect(hasAdler32Trailer(z.subarray(0, z.length - 1), sum)).toBe(false);
    // Code 286: fflate decodes it, zlib does not, so there is no end and no trailer.
    const lax = lit286Stream(512);
    expect(hasAdler32Trailer(lax, adler32(inflateSync(lax.subarray(2, lax.length - 4))))).toBe(false);
  });

  it('refuses deflate data zlib refuses: literal/length code 286', async () => {
    const bytes = buildDmg([zlibChunk(lit286Stream(512), 1)], 1);
    const image = await openBytes(driver, 'lit286.dmg', bytes);
    await expectImageError(readAll(image), 'lit286.dmg', /chunk 0: invalid zlib data \(invalid literal\/length code\)/);
    if (!requireTool('qemu-img', 'the comparison')) return;
    expect(qemuConverts('lit286.dmg', bytes)).toBeUndefined();
  });

  it("looks for 'koly' from the file's size rounded up to 512, as bdrv_getlength() gives it", async () => {
    const base = buildDmg([zlibChunk(zlib(text), 16)], 16);
    const r = base.length % 512;
    expect(r).toBeGreaterThan(0); // else no bytes after the trailer keep it findable
    const outcomes = new Set<boolean>();
    for (const extra of [0, 1, 512 - r, 513 - r, 420, 511]) {
      const bytes = new Uint8Array(base.length + extra).fill(1);
      bytes.set(base);
      const name = `koly-plus-${extra}.dmg`;
      // The 515-byte window ends 508 bytes before the rounded size: the trailer (at base - 512)
      // is in it while base + extra rounds up to no more than base + 511.
      const found = Math.ceil((base.length + extra) / 512) * 512 <= base.length + 511;
      outcomes.add(found);
      if (found) {
        expect(firstDifference(await readAll(await openBytes(driver, name, bytes)), text), name).toBe(-1);
      } else {
        await expectImageError(openBytes(driver, name, bytes), name, /could not locate the UDIF trailer/);
      }
      if (requireTool('qemu-img', 'the comparison')) {
        const file = join(work, name);
        writeFileSync(file, bytes);
        expect(run('qemu-img', ['info', '-f', 'dmg', file]).status === 0, name).toBe(found);
      }
    }
    expect([...outcomes].sort()).toEqual([false, true]);
  });

  it('reads a raw chunk past the end of the file as zeros', async () => {
    const raw: Chunk = { type: UDRW, sector: 0, count: 8, data: new Uint8Array(0), offset: 10n ** 9n, length: 4096n };
    const bytes = buildDmg([raw], 8);
    const whole = await readAll(await openBytes(driver, 'raw-past-eof.dmg', bytes));
    expect(whole).toEqual(new Uint8Array(4096));
    if (!requireTool('qemu-img', 'the comparison')) return;
    expect(qemuConverts('raw-past-eof.dmg', bytes)).toEqual(new Uint8Array(4096));
  });
});
