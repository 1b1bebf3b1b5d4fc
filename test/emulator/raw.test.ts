// The raw driver: the file is the disk, in whole 512-byte sectors as QEMU sees it (a file that
// ends inside a sector reads as zero-padded to its end), compared with qemu-img byte for byte.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RawDriver } from '../../fixtures/emulator/src/drivers/raw.js';
import { requireTool } from '../support/system.js';
import { differenceFromQemu, openPath, prng, qemuInfo } from './disk-formats-support.js';

const driver = new RawDriver();
const work = mkdtempSync(join(tmpdir(), 'gm-raw-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('raw', () => {
  it.each([0, 1, 12, 511, 512, 513, 4097, 65_536 + 300])('a %i-byte file: the size and bytes qemu-img reads', async (size) => {
    const file = join(work, `r${size}.img`);
    const random = prng(size + 1);
    writeFileSync(file, Uint8Array.from({ length: size }, () => random() & 0xff));
    const image = await openPath(driver, file);
    try {
      expect(image.virtualSize).toBe(Math.ceil(size / 512) * 512);
      if (size > 0) {
        const tail = await image.read(image.virtualSize - 1, 1);
        if (size % 512 !== 0) expect(tail).toEqual(new Uint8Array(1));
      }
      if (!requireTool('qemu-img', 'the comparison with qemu-img')) return;
      expect(qemuInfo(file, 'raw')['virtual-size']).toBe(image.virtualSize);
      expect(await differenceFromQemu(image, file, 'raw')).toBe(-1);
    } finally {
      await image.close();
    }
  });
});
