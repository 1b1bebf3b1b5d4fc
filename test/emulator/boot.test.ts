// Booting disk images in v86 (issue 9): the BlockImageDisk adapter against a byte model (no v86),
// then real boots of the committed GRUB sample through every format driver, each in a child
// process (an exception inside v86 can kill the process that runs it), and `emu boot` itself.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemorySource } from '../../fixtures/emulator/src/block/memory-source.js';
import { ImageError, type BlockImage } from '../../fixtures/emulator/src/block/types.js';
import { bootCommand } from '../../fixtures/emulator/src/commands/boot.js';
import { driverTable } from '../../fixtures/emulator/src/generated/drivers.gen.js';
import { BlockImageDisk, type DiskAdapterOptions } from '../../fixtures/emulator/src/v86/disk-adapter.js';
import { RawTestImage } from '../support/boot-open.js';
import { emulatorDir, imagesDir, lazyEmu, repoRoot } from '../support/paths.js';
import { runNode } from '../support/run-node.js';
import { requireTool } from '../support/system.js';

const bootDir = join(imagesDir, 'boot');
interface Expected {
  format: string;
  gzip?: boolean;
  sha256: string;
  'serial-expect': string[];
  'virtual-size': number;
}
const expected = JSON.parse(readFileSync(join(bootDir, 'expected.json'), 'utf8')) as Record<string, Expected>;
const samples = Object.entries(expected).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
const serialExpect = samples[0]![1]['serial-expect'];
const lastLine = serialExpect.at(-1)!;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const sha256File = (path: string) => sha256(readFileSync(path));

/** xorshift32 bytes: the same on every run. */
function seeded(length: number, seed: number): Uint8Array {
  let state = seed >>> 0 || 1;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    out[i] = state & 0xff;
  }
  return out;
}

/**
 * A raw image over a local file, written here so this process loads no driver module (driver
 * files carry decorators; the boots themselves run drivers in child processes).
 */
class FileImage implements BlockImage {
  readonly format = 'raw';
  write?: (offset: number, data: Uint8Array) => Promise<void>;

  private constructor(
    private readonly handle: FileHandle,
    readonly virtualSize: number,
    writable: boolean,
  ) {
    if (writable) this.write = async (offset, data) => void (await handle.write(data, 0, data.length, offset));
  }

  static async open(path: string, writable = false): Promise<FileImage> {
    const handle = await open(path, writable ? 'r+' : 'r');
    return new FileImage(handle, (await handle.stat()).size, writable);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    const { bytesRead } = await this.handle.read(out, 0, length, offset);
    if (bytesRead !== length) throw new ImageError('file', `short read at ${offset}`);
    return out;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** Counts image reads, so a test can see how many a guest read cost. */
class CountingImage implements BlockImage {
  readonly format: string;
  readonly virtualSize: number;
  reads: [number, number][] = [];
  write?: (offset: number, data: Uint8Array) => Promise<void>;

  constructor(private readonly inner: BlockImage) {
    this.format = inner.format;
    this.virtualSize = inner.virtualSize;
    if (inner.write) this.write = (offset, data) => inner.write!(offset, data);
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    this.reads.push([offset, length]);
    return this.inner.read(offset, length);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

const get = (disk: BlockImageDisk, offset: number, length: number) =>
  new Promise<Uint8Array>((resolve) => disk.get(offset, length, resolve));

/** An adapter whose `load()` finished (MBR known), as v86 sees it after start. */
async function loaded(image: BlockImage, options: DiskAdapterOptions = {}): Promise<BlockImageDisk> {
  const disk = new BlockImageDisk(image, options);
  await new Promise<void>((resolve) => {
    disk.onload = () => resolve();
    disk.load();
  });
  return disk;
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'gen-modules-boot-test-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('BlockImageDisk (v86 disk object over a BlockImage)', () => {
  it('answers a multi-cluster read with exactly len bytes from one image read', async () => {
    const bytes = seeded(1 << 20, 1);
    const image = new CountingImage(new RawTestImage(new MemorySource('disk', bytes)));
    const disk = await loaded(image, { readAhead: false });
    image.reads = [];
    const data = await get(disk, 3 * 4096 + 512, 65536 + 1024);
    expect(data.length).toBe(65536 + 1024);
    expect(sha256(data)).toBe(sha256(bytes.subarray(3 * 4096 + 512, 3 * 4096 + 512 + 65536 + 1024)));
    expect(image.reads).toEqual([[3 * 4096 + 512, 65536 + 1024]]);
    // The last sector and beyond: zeros past the end, still exactly len bytes.
    const tail = await get(disk, bytes.length - 512, 1024);
    expect(tail.length).toBe(1024);
    expect([...tail.subarray(0, 512)]).toEqual([...bytes.subarray(bytes.length - 512)]);
    expect(tail.subarray(512).every((b) => b === 0)).toBe(true);
  });

  it('answers get_from_cache(0, 512) synchronously with the MBR after load', async () => {
    const bytes = seeded(64 * 1024, 2);
    const disk = await loaded(new RawTestImage(new MemorySource('disk', bytes)));
    expect(disk.byteLength).toBe(bytes.length);
    expect([...disk.get_from_cache(0, 512)!]).toEqual([...bytes.subarray(0, 512)]);
    expect(disk.get_from_cache(4096, 512)).toBeUndefined();
  });

  it('keeps guest writes in an overlay: the next read sees them, the image file is unchanged', async () => {
    const bytes = seeded(2 << 20, 3);
    const file = join(tmp, 'overlay.raw');
    writeFileSync(file, bytes);
    const before = sha256File(file);
    const image = await FileImage.open(file);
    const disk = await loaded(image);
    const model = bytes.slice();
    const write = (offset: number, data: Uint8Array) => {
      // As SeaBIOS does: no waiting for the callback before the next read.
      disk.set(offset, data, () => {});
      model.set(data, offset);
    };
    write(0, seeded(512, 10)); // the MBR
    write(8192, seeded(4096, 11)); // whole sectors
    write(1000, seeded(700, 12)); // unaligned, straddles sectors 1 and 3
    write(70_000, seeded(3, 13)); // three bytes inside one sector
    write(65536 - 100, seeded(200, 14)); // across a 64 KiB boundary
    for (const [offset, length] of [
      [0, 4096],
      [512, 1024],
      [8192 + 512, 512],
      [69_632, 1024],
      [0, 131_072],
      [65_024, 1024],
    ] as const) {
      const data = await get(disk, offset, length);
      expect(sha256(data), `read ${length} at ${offset}`).toBe(sha256(model.subarray(offset, offset + length)));
    }
    expect([...disk.get_from_cache(0, 512)!]).toEqual([...model.subarray(0, 512)]);
    expect(disk.stats.overlaySectors).toBe(1 + 8 + 3 + 1 + 2);
    await image.close();
    expect(sha256File(file)).toBe(before);
  });

  it.each<[string, DiskAdapterOptions]>([
    ['the overlay', {}],
    ['write-through', { writeThrough: true }],
  ])('stays byte-exact under a seeded mix of writes and reads, with %s, read-ahead and cache', async (_mode, options) => {
    const bytes = seeded(1 << 20, 4);
    const disk = await loaded(new RawTestImage(new MemorySource('disk', bytes.slice(), true)), options);
    const model = bytes.slice();
    const rand = seeded(4 * 3000, 5);
    let r = 0;
    const next = (n: number) => ((rand[r++ % rand.length]! << 16) | (rand[r++ % rand.length]! << 8) | rand[r++ % rand.length]!) % n;
    let sequentialAt = 0;
    let last: [number, number] = [0, 512];
    for (let step = 0; step < 1000; step++) {
      const kind = next(5);
      if (kind === 0 || step % 97 === 0) {
        // Now and then into the MBR, else anywhere; lengths that straddle sectors.
        const length = 1 + next(3000);
        const offset = step % 97 === 0 ? next(512) : next(bytes.length - length);
        const data = seeded(length, step + 100);
        disk.set(offset, data);
        model.set(data, offset);
      } else {
        // Reads: sequential ones (as a boot loader's, to exercise read-ahead), random ones, and
        // repeats of the previous one (the cache).
        const length = kind === 4 ? last[1] : 512 * (1 + next(64));
        let offset = kind === 1 ? sequentialAt : kind === 4 ? last[0] : 512 * next(bytes.length / 512 - 1);
        if (offset + length > bytes.length) offset = 0;
        sequentialAt = offset + length;
        last = [offset, length];
        const data = await get(disk, offset, length);
        if (sha256(data) !== sha256(model.subarray(offset, offset + length))) {
          throw new Error(`step ${step}: read of ${length} at ${offset} differs from the model`);
        }
      }
    }
    expect([...disk.get_from_cache(0, 512)!]).toEqual([...model.subarray(0, 512)]);
    if (options.writeThrough) expect(disk.stats.overlaySectors).toBe(0);
    else expect(disk.stats.readAheadHits).toBeGreaterThan(0);
    expect(disk.stats.cacheHits).toBeGreaterThan(0);
  });

  it('serves sequential reads from read-ahead with the same bytes', async () => {
    const bytes = seeded(1 << 20, 6);
    const image = new CountingImage(new RawTestImage(new MemorySource('disk', bytes)));
    const disk = await loaded(image);
    for (let offset = 32_768; offset < 32_768 + 20 * 32_256; offset += 32_256) {
      const data = await get(disk, offset, 32_256);
      expect(sha256(data)).toBe(sha256(bytes.subarray(offset, offset + 32_256)));
    }
    expect(disk.stats.readAheadHits).toBeGreaterThan(10);
  });

  it('writes through to the image when asked, in order with reads', async () => {
    const bytes = seeded(256 * 1024, 7);
    const file = join(tmp, 'through.raw');
    writeFileSync(file, bytes);
    const image = await FileImage.open(file, true);
    const disk = await loaded(image, { writeThrough: true });
    const data = seeded(1536, 20);
    let acknowledged = false;
    disk.set(4096 + 100, data, () => (acknowledged = true));
    const read = await get(disk, 4096, 2048);
    expect(acknowledged).toBe(true);
    expect([...read.subarray(100, 100 + 1536)]).toEqual([...data]);
    await disk.flush();
    await image.close();
    const onDisk = readFileSync(file);
    expect([...onDisk.subarray(4196, 4196 + 1536)]).toEqual([...data]);
    expect(disk.stats.overlaySectors).toBe(0);
  });

  it('write-through: a read still in flight when the guest writes leaves nothing stale behind', async () => {
    const bytes = seeded(64 * 1024, 12);
    const disk = await loaded(new RawTestImage(new MemorySource('disk', bytes.slice(), true)), { writeThrough: true });
    const data = seeded(1024, 40);
    const before = get(disk, 4096, 1024);
    disk.set(4096, data);
    const after = get(disk, 4096, 1024);
    expect([...(await before)]).toEqual([...bytes.subarray(4096, 5120)]);
    expect([...(await after)]).toEqual([...data]);
    expect([...(await get(disk, 4096, 1024))]).toEqual([...data]);
  });

  it('refuses write-through when the driver cannot write', () => {
    const image = new RawTestImage(new MemorySource('ro.raw', seeded(4096, 8)));
    expect(() => new BlockImageDisk(image, { name: 'ro.raw', writeThrough: true })).toThrow(ImageError);
    expect(() => new BlockImageDisk(image, { name: 'ro.raw', writeThrough: true })).toThrow(/ro\.raw: the raw driver cannot write/);
  });

  it('reports a failing image read once, as the ImageError, and gives the guest zeros', async () => {
    const broken: BlockImage = {
      format: 'qcow2',
      virtualSize: 1 << 20,
      read: async (offset) => {
        if (offset >= 65536) throw new ImageError('broken.qcow2', 'L2 table offset 0x7fff0000 is past the end of the file');
        return new Uint8Array(512);
      },
      close: async () => {},
    };
    const errors: unknown[] = [];
    const disk = await loaded(broken, { onError: (error) => errors.push(error), readAhead: false });
    const data = await get(disk, 65536, 4096);
    await get(disk, 131072, 512);
    expect(data.length).toBe(4096);
    expect(data.every((b) => b === 0)).toBe(true);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ImageError);
    expect(String((errors[0] as Error).message)).toMatch(/^broken\.qcow2: L2 table offset/);
  });

  it('saves and restores the overlay with get_state/set_state', async () => {
    const bytes = seeded(128 * 1024, 9);
    const first = await loaded(new RawTestImage(new MemorySource('disk', bytes)));
    first.set(2048, seeded(1024, 30));
    first.set(5000, seeded(10, 31));
    const state = first.get_state();
    const second = await loaded(new RawTestImage(new MemorySource('disk', bytes)));
    second.set_state(state);
    expect(sha256(await get(second, 0, 8192))).toBe(sha256(await get(first, 0, 8192)));
    expect(() => second.set_state([12, new Uint8Array(), new Uint8Array(), new Uint8Array()])).toThrow(ImageError);
  });
});

describe('emu boot arguments (no emulator started)', () => {
  const capture = () => {
    let text = '';
    return {
      stream: new Writable({
        write(chunk, _encoding, done) {
          text += String(chunk);
          done();
        },
      }),
      text: () => text,
    };
  };
  const env = (stdout: Writable, stderr: Writable, opened: string[] = []) => ({
    openImage: async (filename: string) => {
      opened.push(filename);
      return new RawTestImage(new MemorySource(filename, new Uint8Array(1 << 20)));
    },
    loadedDrivers: () => ['file', 'raw'],
    loadedChunks: () => [],
    stdout,
    stderr,
  });

  it('rejects bad usage with status 1 (as qemu-img) and the usage line', async () => {
    for (const args of [[], ['a.img', 'b.img'], ['--memory', 'lots', 'a.img'], ['--timeout'], ['--frobnicate', 'a.img']]) {
      const out = capture();
      const err = capture();
      expect(await bootCommand(args, env(out.stream, err.stream))).toBe(1);
      expect(err.text()).toMatch(/^emu boot: .+\nusage: emu boot /);
    }
  });

  it('says how to get SeaBIOS when the BIOS file is missing, in one line, status 1', async () => {
    const out = capture();
    const err = capture();
    const code = await bootCommand(['--bios', join(tmp, 'no-such-bios.bin'), 'disk.img'], env(out.stream, err.stream));
    expect(code).toBe(1);
    expect(err.text()).toContain(`emu boot: BIOS ${join(tmp, 'no-such-bios.bin')}: no such file\n`);
    expect(err.text()).toContain('loaded drivers: file, raw');
  });
});

// Booting needs SeaBIOS (the npm package ships no BIOS).
const haveBios = requireTool('/usr/share/seabios/bios.bin', 'booting in v86');
const runner = join(repoRoot, 'test/support/boot-runner.ts');
const formatsInBuild = new Set<string>(driverTable.drivers.filter((d) => d.kind === 'format').map((d) => d.name));

interface RunnerOutput {
  serial: string;
  reason: string;
  ms: number;
  disk: { reads: number; writes: number; overlaySectors: number };
  loadedDrivers: string[];
  sha256Before: string;
  sha256After: string;
}

async function boot(image: string, extra: string[] = []): Promise<RunnerOutput> {
  const result = await runNode(['--import', 'tsx', runner, image, '--until', lastLine, '--timeout', '90000', ...extra], {
    cwd: repoRoot,
    timeoutMs: 150_000,
  });
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  if (result.code !== 0 || !line.startsWith('{')) {
    throw new Error(`boot runner failed (status ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
  return JSON.parse(line) as RunnerOutput;
}

function expectGuestOutput(output: RunnerOutput): void {
  expect(output.reason).toBe('matched');
  for (const line of serialExpect) expect(output.serial).toContain(line);
}

describe.skipIf(!haveBios)('booting the GRUB sample in v86', () => {
  for (const [name, info] of samples) {
    const available = formatsInBuild.has(info.format);
    if (!available) console.warn(`skipped: booting ${name}: no ${info.format} driver in the generated table yet`);
    it.skipIf(!available)(`boots ${name} through the ${info.format} driver, loading only that driver`, async () => {
      const output = await boot(join(bootDir, name), info.gzip ? ['--gunzip'] : []);
      expectGuestOutput(output);
      // The guest wrote its environment block (save_env): kept in memory, the file is unchanged.
      expect(output.disk.writes).toBeGreaterThan(0);
      expect(output.sha256After).toBe(output.sha256Before);
      expect([...output.loadedDrivers].sort()).toEqual(['file', info.format].sort());
    }, 180_000);
  }

  /** The raw disk, read through a format driver (in a child) and checked against expected.json. */
  let raw: Promise<string> | undefined;
  const rawDisk = () => (raw ??= saveRawDisk());
  async function saveRawDisk(): Promise<string> {
    const file = join(tmp, 'boot.raw');
    for (const [name, info] of samples) {
      if (!formatsInBuild.has(info.format)) continue;
      const args = ['--import', 'tsx', runner, join(bootDir, name), '--save-raw', file, ...(info.gzip ? ['--gunzip'] : [])];
      const result = await runNode(args, { cwd: repoRoot, timeoutMs: 120_000 });
      if (result.code !== 0) continue;
      expect(sha256File(file)).toBe(info.sha256);
      return file;
    }
    throw new Error('no format driver can read the boot sample');
  }

  it('boots the raw disk (probed as raw) and keeps the guest writes off the file', async () => {
    const file = await rawDisk();
    const output = await boot(file);
    expectGuestOutput(output);
    expect(output.sha256After).toBe(output.sha256Before);
    expect([...output.loadedDrivers].sort()).toEqual(['file', 'raw']);
  }, 180_000);

  it('with write-through, the guest save_env lands in the image file', async () => {
    const source = await rawDisk();
    const file = join(tmp, 'write-through.raw');
    copyFileSync(source, file);
    const output = await boot(file, ['--format', 'raw', '--write-through']);
    expectGuestOutput(output);
    expect(output.sha256After).not.toBe(output.sha256Before);
    // A line of the environment block (grub.cfg spells it `set gm_note=...`, not at a line start).
    const saved = Buffer.from('\ngm_note=written-by-the-guest\n');
    expect(readFileSync(file).includes(saved)).toBe(true);
    expect(readFileSync(source).includes(saved)).toBe(false);
  }, 240_000);

  const vmdk = join(bootDir, 'boot.vmdk');
  it.each([
    ['its file name', vmdk],
    ['a json: name', `json:{"driver":"vmdk","file":{"driver":"file","filename":${JSON.stringify(vmdk)}}}`],
  ])('emu boot from the lazy build, the image given by %s, prints the serial console and the loaded drivers', async (_, image) => {
    const result = await runNode([lazyEmu, 'boot', '--serial', '--until', lastLine, '--timeout', '90', image], {
      cwd: emulatorDir,
      timeoutMs: 150_000,
    });
    expect(result.stderr).toMatch(/emu boot: saw "GEN-MODULES-DONE" after [\d.]+ s; \d+ disk reads/);
    expect(result.code).toBe(0);
    for (const line of serialExpect) expect(result.stdout).toContain(line);
    expect(result.stderr).toMatch(/^loaded drivers: (file, vmdk|vmdk, file)$/m);
  }, 180_000);

  it('emu boot -f wins over the driver a json: name gives, as in info and qemu-img', async () => {
    const name = `json:{"driver":"vmdk","file":{"filename":${JSON.stringify(vmdk)}}}`;
    const result = await runNode([lazyEmu, 'boot', '-f', 'raw', '--timeout', '1', name], { cwd: emulatorDir, timeoutMs: 120_000 });
    expect(result.stderr).toMatch(/^loaded drivers: (file, raw|raw, file)$/m);
  }, 150_000);

  it('emu boot stops at the timeout when the text never appears (status 1)', async () => {
    const result = await runNode([lazyEmu, 'boot', '--until', 'NEVER-PRINTED', '--timeout', '3', join(bootDir, 'boot.vmdk')], {
      cwd: emulatorDir,
      timeoutMs: 120_000,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('emu boot: stopped at the 3 s timeout');
    expect(result.stderr).toContain('"NEVER-PRINTED" did not appear within 3 s');
  }, 150_000);

  it('warns, as QEMU does, when a disk it may write was probed as raw', async () => {
    const file = join(tmp, 'probed-raw.img');
    writeFileSync(file, Buffer.alloc(1 << 20));
    const result = await runNode([lazyEmu, 'boot', '--write-through', '--timeout', '1', file], { cwd: emulatorDir, timeoutMs: 120_000 });
    expect(result.stderr).toContain(`WARNING: Image format was not specified for '${file}' and probing guessed raw.`);
    // Read-only (the default: writes stay in memory), or with the format given: no warning.
    for (const args of [['--timeout', '1', file], ['--write-through', '-f', 'raw', '--timeout', '1', file]]) {
      const quiet = await runNode([lazyEmu, 'boot', ...args], { cwd: emulatorDir, timeoutMs: 120_000 });
      expect(quiet.stderr).not.toContain('WARNING');
    }
  }, 200_000);
});
