// What the format test harnesses (disk-formats-support.ts and the qcow and vmdk families) open images
// with, outside the emulator's registry: a source by name, from memory or from disk, and a raw
// image for files the harness probes as raw (a backing file, a flat extent's parent).
import { MemorySource } from '../../fixtures/emulator/src/block/memory-source.js';
import { checkRead } from '../../fixtures/emulator/src/block/check-read.js';
import { ImageError, type BlockImage, type ByteSource } from '../../fixtures/emulator/src/block/types.js';
import { openFileSource } from '../../fixtures/emulator/src/drivers/file.js';

export interface SourceSettings {
  /** Names resolved to bytes (or byte sources) instead of files: samples in memory, fuzzing. */
  files?: ReadonlyMap<string, Uint8Array | (() => ByteSource)>;
  /** Wraps every source opened (to count reads). */
  wrap?: (source: ByteSource) => ByteSource;
}

/** `name` from `settings.files` when given (a missing name is an ImageError), else from disk. */
export async function openSource(name: string, settings: SourceSettings): Promise<ByteSource> {
  let source: ByteSource;
  if (settings.files) {
    const bytes = settings.files.get(name);
    if (bytes === undefined) throw new ImageError(name, 'no such file');
    source = typeof bytes === 'function' ? bytes() : new MemorySource(name, bytes);
  } else {
    source = await openFileSource(name);
  }
  return settings.wrap ? settings.wrap(source) : source;
}

export class RawImage implements BlockImage {
  readonly format = 'raw';
  readonly virtualSize: number;
  constructor(private readonly source: ByteSource) {
    this.virtualSize = source.size;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    return this.source.read(offset, length);
  }
  close(): Promise<void> {
    return this.source.close();
  }
}

/** A file's bytes with a few bytes changed and maybe cut short, without copying the file (fuzzing). */
export class PatchedSource implements ByteSource {
  constructor(
    readonly name: string,
    private readonly original: Uint8Array,
    private readonly patches: ReadonlyMap<number, number>,
    readonly size: number,
  ) {}

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRead(this, offset, length);
    const out = this.original.slice(offset, offset + length);
    for (const [at, value] of this.patches) if (at >= offset && at < offset + length) out[at - offset] = value;
    return out;
  }

  async close(): Promise<void> {}
}
