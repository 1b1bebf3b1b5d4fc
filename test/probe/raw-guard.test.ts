// Raw safety as in QEMU (CVE-2008-2004): an image probed as raw and opened writable gets QEMU's
// warning, and a write that would make block 0 probe as another format is refused, through the
// real block layer, the file protocol and the registry over the generated table. `-f raw` lifts
// the restriction.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { BlockLayer, type OpenedImage } from '../../fixtures/emulator/src/block/block-layer.js';
import { RAW_PROBE_WARNING } from '../../fixtures/emulator/src/block/raw-guard.js';
import { ImageError } from '../../fixtures/emulator/src/block/types.js';
import { driverTable } from '../../fixtures/emulator/src/generated/drivers.gen.js';
import { createDriverRegistry } from '../../src/runtime/registry.js';
import { latin1, rng } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'gm-raw-guard-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A qcow2 v3 header with a backing file name: the attack the guard exists for. */
function qcow2Header(): Uint8Array {
  const b = new Uint8Array(512);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x514649fb);
  v.setUint32(4, 3);
  v.setBigUint64(8, 0x200n); // backing_file_offset
  v.setUint32(16, 10); // backing_file_size
  v.setUint32(20, 16);
  v.setBigUint64(24, 1n << 20n);
  b.set(latin1('/etc/shado'), 0x200 - 10);
  return b;
}

let file: string;
let original: Uint8Array;
let opened: OpenedImage[] = [];

async function open(request: { writable?: boolean; format?: string }): Promise<OpenedImage> {
  const layer = new BlockLayer(createDriverRegistry(driverTable));
  const image = await layer.open(file, request);
  opened.push(image);
  return image;
}

beforeEach(async () => {
  for (const o of opened) await o.image.close();
  opened = [];
  const r = rng(42);
  // Data that probes as raw: random bytes after a zero sector (no magic, no descriptor text).
  original = new Uint8Array(64 * 1024);
  for (let i = 512; i < original.length; i++) original[i] = Math.floor(r() * 256);
  file = join(dir, `disk-${Math.floor(r() * 1e9)}.img`);
  writeFileSync(file, original);
});

describe('an image probed as raw', () => {
  it('opened writable: QEMU\'s warning; read-only: none', async () => {
    const rw = await open({ writable: true });
    expect(rw.probe?.format).toBe('raw');
    expect(rw.warnings).toEqual([RAW_PROBE_WARNING(file)]);
    expect(rw.warnings[0]).toContain('probing guessed raw');
    expect(rw.warnings[0]).toContain('write operations on block 0 will be restricted');
    const ro = await open({});
    expect(ro.probe?.format).toBe('raw');
    expect(ro.warnings).toEqual([]);
  });

  it('refuses a write that puts a qcow2 header into block 0, and leaves the file as it was', async () => {
    const { image } = await open({ writable: true });
    const error = await image.write!(0, qcow2Header()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ImageError);
    expect((error as ImageError).message).toMatch(/block 0 refused.*qcow2/);
    expect(new Uint8Array(readFileSync(file))).toEqual(original);
  });

  it('re-probes the merged block: two harmless-looking writes that together make a qcow2 header', async () => {
    const { image } = await open({ writable: true });
    // The magic alone (version 0) is neither qcow nor qcow2: allowed.
    await image.write!(0, latin1('QFI\xfb'));
    // The version next to it completes a qcow2 header: refused.
    await expect(image.write!(4, latin1('\0\0\0\x03'))).rejects.toThrow(/refused.*qcow2/);
    // A write straddling the end of block 0 is checked too (here the vmdk binary magic).
    await expect(image.write!(0, latin1('KDMV'))).rejects.toThrow(/refused.*vmdk/);
    await expect(image.write!(508, latin1('\0\0\0\0ABCD'))).resolves.toBeUndefined();
  });

  it('refuses a VMDK descriptor text (decided by the vmdk probe module) and a LUKS header', async () => {
    const { image } = await open({ writable: true });
    await expect(image.write!(0, latin1('# Disk DescriptorFile\nversion=1\n'))).rejects.toThrow(/refused.*vmdk/);
    await expect(image.write!(0, latin1('LUKS\xba\xbe\0\x01'))).rejects.toThrow(/refused.*luks/);
  });

  it('allows ordinary writes, in block 0 and beyond it (a qcow2 header at 4096 is data)', async () => {
    const { image } = await open({ writable: true });
    const data = latin1('hello, block zero');
    await image.write!(0, data);
    await image.write!(4096, qcow2Header());
    expect(await image.read(0, data.length)).toEqual(data);
    const onDisk = new Uint8Array(readFileSync(file));
    expect(onDisk.subarray(0, data.length)).toEqual(data);
    expect(onDisk.subarray(4096, 4096 + 512)).toEqual(qcow2Header());
  });

  it('with -f raw given explicitly: no probe, no warning, anything may be written', async () => {
    const { image, probe, warnings } = await open({ writable: true, format: 'raw' });
    expect(probe).toBeUndefined();
    expect(warnings).toEqual([]);
    await image.write!(0, qcow2Header());
    expect(new Uint8Array(readFileSync(file)).subarray(0, 512)).toEqual(qcow2Header());
  });
});
