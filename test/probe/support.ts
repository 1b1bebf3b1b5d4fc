// Shared by the probe suites: a seeded generator, real format headers to mutate, probe module
// loaders over a table, and the comparison of the compiled index with the reference interpreter.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { expect } from 'vitest';
import type { DriverTable } from '../../src/runtime/registry.js';
import type { ProbeData } from '../../src/model.js';
import type { ProbeDriver, ModulePath } from '../../src/probe/compile.js';
import { referenceProbe } from '../../src/probe/reference.js';
import { probeDataFromBytes, probeWithIndex, type ProbeIndex, type ProbeModule, type ProbeModuleLoader, type ProbeResult } from '../../src/runtime/probe.js';
import { imagesDir } from '../support/paths.js';

export { prng as rng } from '../support/bytes.js';

export type Rng = () => number;
export const int = (r: Rng, n: number): number => Math.floor(r() * n);
export const pick = <T>(r: Rng, list: readonly T[]): T => list[int(r, list.length)]!;

export const latin1 = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);

export const CLOOP_MAGIC = '#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n';

function header(size: number, fill: (b: Uint8Array, v: DataView) => void): Uint8Array {
  const b = new Uint8Array(size);
  fill(b, new DataView(b.buffer));
  return b;
}

/** Real format headers (as qemu-img writes them, trimmed to what probes look at). */
export function formatHeaders(): Uint8Array[] {
  const list: Uint8Array[] = [];
  for (const version of [1, 2, 3]) {
    list.push(header(512, (b, v) => {
      v.setUint32(0, 0x514649fb);
      v.setUint32(4, version);
      v.setUint32(20, 16);
      v.setBigUint64(24, 1n << 20n);
    }));
  }
  list.push(header(512, (b, v) => {
    b.set(latin1('QED\0'), 0);
    v.setUint32(4, 65536, true);
  }));
  list.push(header(512, (b, v) => {
    b.set(latin1('<<< Oracle VM VirtualBox Disk Image >>>\n'), 0);
    v.setUint32(0x40, 0xbeda107f, true);
    v.setUint32(0x44, 0x00010001, true);
  }));
  list.push(header(512, (b, v) => {
    b.set(latin1('KDMV'), 0);
    v.setUint32(4, 1, true);
  }));
  list.push(header(512, (b) => b.set(latin1('COWD'), 0)));
  list.push(latin1('# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 2048 FLAT "x-flat.vmdk" 0\n'));
  list.push(latin1('version=1\n'));
  list.push(latin1('   \r\n#c\nversion=3\r\nxyz'));
  list.push(header(512, (b, v) => {
    b.set(latin1('conectix'), 0);
    v.setUint32(8, 2);
  }));
  list.push(header(512, (b) => b.set(latin1('vhdxfile'), 0)));
  for (const magic of ['WithoutFreeSpace', 'WithouFreSpacExt']) {
    list.push(header(512, (b, v) => {
      b.set(latin1(magic), 0);
      v.setUint32(16, 2, true);
      v.setUint32(20, 16, true);
    }));
  }
  for (const version of [0x00020000, 0x00010000]) {
    list.push(header(512, (b, v) => {
      b.set(latin1('Bochs Virtual HD Image\0'), 0);
      b.set(latin1('Redolog\0'), 32);
      b.set(latin1('Growing\0'), 48);
      v.setUint32(64, version, true);
    }));
  }
  list.push(latin1(`${CLOOP_MAGIC}\0\0\0\x02`));
  for (const version of [1, 2]) {
    list.push(header(592, (b, v) => {
      b.set([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe], 0);
      v.setUint16(6, version);
      b.set(latin1('aes'), 8);
    }));
  }
  return list;
}

/** The first and last 4 KiB of every committed sample (gunzipped when stored gzipped). */
export function sampleHeads(): { name: string; bytes: Uint8Array }[] {
  const out: { name: string; bytes: Uint8Array }[] = [];
  for (const entry of forEachSample()) {
    const b = entry.bytes();
    const cut = b.length > 8192 ? new Uint8Array([...b.subarray(0, 4096), ...b.subarray(b.length - 4096)]) : b;
    out.push({ name: entry.probeName, bytes: cut });
  }
  return out;
}

export interface SampleEntry {
  dir: string;
  file: string;
  /** The name QEMU would see: the file name without a `.gz` storage suffix. */
  probeName: string;
  format: string;
  /** What qemu-img's probe decides ('probe-format' when given, else 'format'). */
  expected: string;
  bytes: () => Uint8Array;
}

/** Every entry of every fixtures/emulator/images/<dir>/expected.json, in sorted order. */
export function forEachSample(): SampleEntry[] {
  const out: SampleEntry[] = [];
  let dirs: string[] = [];
  try {
    dirs = readdirSync(imagesDir).sort();
  } catch {
    return out;
  }
  for (const dir of dirs) {
    let expected: Record<string, Record<string, unknown>>;
    try {
      expected = JSON.parse(readFileSync(join(imagesDir, dir, 'expected.json'), 'utf8')) as typeof expected;
    } catch {
      continue;
    }
    for (const file of Object.keys(expected).sort()) {
      const entry = expected[file]!;
      const path = join(imagesDir, dir, file);
      const gz = entry.gzip === true || file.endsWith('.gz');
      out.push({
        dir,
        file,
        probeName: gz ? file.replace(/\.gz$/, '') : file,
        format: String(entry.format),
        expected: String(entry['probe-format'] ?? entry.format),
        bytes: () => {
          const raw = readFileSync(path);
          return new Uint8Array(gz ? gunzipSync(raw) : raw);
        },
      });
    }
  }
  return out;
}

/** Probe modules of a generated table, each imported once. */
export function tableModuleLoader(table: Pick<DriverTable, 'probeModules'>): ProbeModuleLoader {
  const cache = new Map<string, Promise<ProbeModule>>();
  return (id) => {
    let found = cache.get(id);
    if (!found) {
      const load = table.probeModules[id];
      if (!load) return Promise.reject(new Error(`probe module ${id} is not in the table`));
      found = load().then((m) => (m as { default: ProbeModule }).default);
      cache.set(id, found);
    }
    return found;
  };
}

/**
 * The compiled index (given only the windows it asks for) and the reference interpreter (given
 * QEMU's whole probe buffer and the whole file as tail, in the index's buffer mode) decide the
 * same, and the index decides the same a second time.
 */
export async function expectAgreement<D extends ProbeDriver>(
  index: ProbeIndex,
  drivers: readonly D[],
  bytes: Uint8Array,
  filename: string,
  load: ProbeModuleLoader,
  modulePath?: ModulePath<D>,
  order?: readonly string[],
): Promise<ProbeResult> {
  const compiled = await probeWithIndex(index, probeDataFromBytes(index, bytes, filename), load);
  const full: ProbeData = { head: bytes.subarray(0, 512), tail: bytes, size: bytes.length, filename };
  const reference = await referenceProbe(drivers, full, load, modulePath, { buffer: index.buffer, order });
  if (!sameResult(compiled, reference)) {
    expect({ input: describeInput(bytes, filename), compiled }).toEqual({ input: describeInput(bytes, filename), compiled: reference });
  }
  const again = await probeWithIndex(index, probeDataFromBytes(index, bytes.slice(), filename), load);
  if (!sameResult(compiled, again)) expect(again).toEqual(compiled);
  return compiled;
}

/** Deep equality of two results, fast (JSON of plain data). */
export function sameResult(a: ProbeResult, b: ProbeResult): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function describeInput(bytes: Uint8Array, filename: string): string {
  const hex = Array.from(bytes.subarray(0, 96), (b) => b.toString(16).padStart(2, '0')).join('');
  return `${JSON.stringify(filename)} ${bytes.length} bytes: ${hex}${bytes.length > 96 ? '…' : ''}`;
}
