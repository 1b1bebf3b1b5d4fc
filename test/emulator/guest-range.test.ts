// Every format refuses a read or status call (and raw a write) outside its virtual disk with an
// ImageError naming the image (block/check-read.ts: checkGuestRange), on every committed sample,
// opened as `emu` opens it. Parallels, VDI and VMDK once answered such reads with zeros or bytes
// past the disk's end, DMG's status and a raw write at a negative offset with a RangeError.
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KEY_SECRET_OPTIONS } from '../../fixtures/emulator/src/block/key-secret-options.js';
import { ImageError } from '../../fixtures/emulator/src/block/types.js';
import { Emulator } from '../../fixtures/emulator/src/emulator.js';
import { imagesDir } from '../support/paths.js';
import { loadSamples, rejection } from './disk-formats-support.js';

// Every sample folder copied, with its gzipped samples unpacked, so that images open by name with
// the files they reference (backing files, extents, data files) through the real block layer.
const work = mkdtempSync(join(tmpdir(), 'guest-range-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const folders = readdirSync(imagesDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();
const samples = folders.flatMap((folder) => {
  cpSync(join(imagesDir, folder), join(work, folder), { recursive: true });
  return loadSamples(folder, join(imagesDir, folder)).map((sample) => {
    if (sample.key !== sample.name) writeFileSync(join(work, folder, sample.name), sample.bytes);
    return { folder, sample };
  });
});

/** Opens a sample as `emu -f <format>` would (a fixed VHD probes as raw, as in QEMU), encrypted ones with their secret. */
function openSample(folder: string, name: string, secret: string | undefined, format: string) {
  const key = KEY_SECRET_OPTIONS[format as keyof typeof KEY_SECRET_OPTIONS];
  const encrypted = secret === undefined ? {} : { options: { [key]: 'sec0' }, secrets: { sec0: secret } };
  return new Emulator().blockLayer.open(join(work, folder, name), { format, ...encrypted });
}

describe('reads and writes outside a raw disk', () => {
  it.each([
    ['raw, as -f raw opens it', { format: 'raw' }],
    ['raw, probed (writes to block 0 guarded)', {}],
  ])('%s', async (_label, request) => {
    const file = join(work, 'disk.raw');
    writeFileSync(file, new Uint8Array(65536).fill(7));
    const { image, filename } = await new Emulator().blockLayer.open(file, { ...request, writable: true });
    try {
      expect(image.format).toBe('raw');
      await image.write!(65535, new Uint8Array([1]));
      expect(await image.read(65534, 2)).toEqual(new Uint8Array([7, 1]));
      for (const [offset, length] of [[-1, 1], [65535, 2], [65536, 1], [0.5, 1], [Number.NaN, 1]] as const) {
        for (const [call, attempt] of [
          ['read', () => image.read(offset, length)],
          ['write', () => image.write!(offset, new Uint8Array(length))],
        ] as const) {
          const error = await rejection(attempt());
          expect(error, `${call}(${offset}, ${length})`).toBeInstanceOf(ImageError);
          expect((error as ImageError).image).toBe(filename);
          expect((error as ImageError).problem).toBe(`${call} of ${length} bytes at offset ${offset} is outside the disk (65536 bytes)`);
        }
      }
    } finally {
      await image.close();
    }
  });
});

describe('reads and status calls outside the virtual disk', () => {
  it('covers every format the samples have', () => {
    const formats = new Set(samples.map(({ sample }) => sample.expected.format));
    for (const format of ['bochs', 'cloop', 'dmg', 'luks', 'parallels', 'qcow', 'qcow2', 'qed', 'vdi', 'vhdx', 'vmdk', 'vpc']) expect(formats).toContain(format);
  });

  it.each(samples.map(({ folder, sample }) => [`${folder}/${sample.name}`, folder, sample] as const))('%s', async (_label, folder, sample) => {
    const { image, filename } = await openSample(folder, sample.name, sample.expected.secret, sample.expected.format);
    try {
      expect(image.format).toBe(sample.expected.format);
      expect(image.virtualSize).toBe(sample.expected['virtual-size']);
      const size = image.virtualSize;
      // The last byte is inside the disk.
      expect((await image.read(size - 1, 1)).length).toBe(1);
      const outside: [number, number][] = [
        [-1, 1],
        [size - 1, 2],
        [size, 1],
        [0.5, 1],
        [0, -1],
        [Number.NaN, 1],
      ];
      for (const [offset, length] of outside) {
        const calls: [string, Promise<unknown>][] = [['read', image.read(offset, length)]];
        if (image.status) calls.push(['status', image.status(offset, length)]);
        for (const [call, promise] of calls) {
          const error = await rejection(promise);
          expect(error, `${call}(${offset}, ${length})`).toBeInstanceOf(ImageError);
          expect((error as ImageError).image, `${call}(${offset}, ${length})`).toBe(filename);
          expect(error.message, `${call}(${offset}, ${length})`).toMatch(/is outside the disk \(\d+ bytes\)/);
        }
      }
    } finally {
      await image.close();
    }
  });
});
