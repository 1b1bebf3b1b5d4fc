// Opens a boot sample (fixtures/emulator/images/boot) as a BlockImage for the boot test runner and
// the boot benchmark, through the emulator's block layer (format probed, drivers loaded lazily) so
// the caller can tell which drivers a boot loaded. `gunzip` handles the samples committed gzipped
// (vdi, vhdx): they are unpacked to a temporary file first, removed on close.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { gunzipSync } from 'fflate';
import type { BlockImage, ByteSource } from '../../fixtures/emulator/src/block/types.js';

export interface OpenedSample {
  image: BlockImage;
  /** Driver names the block layer loaded for this image, in load order. */
  loadedDrivers(): string[];
}

/** A raw disk over any byte source (a MemorySource in tests): no driver, no block layer. */
export class RawTestImage implements BlockImage {
  readonly format = 'raw';
  readonly virtualSize: number;
  write?: (offset: number, data: Uint8Array) => Promise<void>;

  constructor(private readonly source: ByteSource) {
    this.virtualSize = source.size;
    if (source.write) this.write = (offset, data) => source.write!(offset, data);
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.source.read(offset, length);
  }

  close(): Promise<void> {
    return this.source.close();
  }
}

/** Unpack `path` (gzip) into a temporary folder; returns the file and a function removing it. */
export function gunzipToTemp(path: string): { file: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'gen-modules-boot-'));
  const file = join(dir, basename(path).replace(/\.gz$/, ''));
  writeFileSync(file, gunzipSync(readFileSync(path)));
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function openBootSample(
  path: string,
  options: { format?: string; gunzip?: boolean; writable?: boolean } = {},
): Promise<OpenedSample> {
  let file = path;
  let remove = () => {};
  if (options.gunzip) ({ file, remove } = gunzipToTemp(path));
  try {
    const { Emulator } = await import('../../fixtures/emulator/src/emulator.js');
    const emulator = new Emulator();
    const opened = await emulator.blockLayer.open(file, {
      ...(options.format !== undefined ? { format: options.format } : {}),
      writable: options.writable ?? false,
    });
    const image = opened.image;
    const close = image.close.bind(image);
    image.close = async () => {
      try {
        await close();
      } finally {
        remove();
      }
    };
    return { image, loadedDrivers: () => emulator.drivers.loadedDrivers() };
  } catch (error) {
    remove();
    throw error;
  }
}
