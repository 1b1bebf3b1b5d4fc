// The emulator's compiled index against the reference interpreter over the drivers' declared
// probes, on 100,000+ seeded inputs: real format headers and committed samples mutated (flipped
// bytes, version fields, truncation to every interesting length from 0 to 600), VMDK descriptor
// texts, cloop prefixes, random and constant data, tricky file names. The index never throws, is
// deterministic and decides exactly like the reference (format, score, every match and its
// reasons, bytes read, probe modules loaded).
import { beforeAll, describe, expect, it } from 'vitest';
import { driverTable } from '../../fixtures/emulator/src/generated/drivers.gen.js';
import { loadConfig } from '../../src/config/config.js';
import type { ProbeConfig } from '../../src/config/validate-config.js';
import type { DriverInfo } from '../../src/model.js';
import { compileProbeIndex } from '../../src/probe/compile.js';
import { probeModulePath, scan } from '../../src/scanner/scan.js';
import type { ProbeResult } from '../../src/runtime/probe.js';
import { repoRoot } from '../support/paths.js';
import { CLOOP_MAGIC, expectAgreement, formatHeaders, int, latin1, pick, rng, sampleHeads, tableModuleLoader, type Rng } from './support.js';

const INPUTS = 100_000;

const FILENAMES = ['image', 'x.dmg', '.dmg', 'a.DMG', 'disk.img', 'foo.dmg.bak', 'dmg', 'dir/x.dmg', 'é.dmg', 'x.dm', 'nbd.qcow2', ''];
const LENGTHS = [0, 1, 2, 3, 4, 5, 7, 8, 9, 47, 48, 49, 63, 64, 65, 67, 68, 82, 83, 84, 103, 104, 111, 112, 113, 511, 512, 513, 600];
const DESCRIPTOR_LINES = ['# Disk DescriptorFile\n', '#\n', '#x', '   \n', '  \r\n', ' \r', ' x\n', '\t\n', '\n', 'version=1\n', 'version=2\n', 'version=3\r\n', 'version=4\n', 'version=1', 'version=1\r', 'version=10\n', 'Version=1\n', 'CID=1\n'];

function mutate(r: Rng, seed: Uint8Array): Uint8Array {
  const length = r() < 0.5 ? seed.length : r() < 0.6 ? pick(r, LENGTHS) : int(r, 601);
  const out = new Uint8Array(length);
  out.set(seed.subarray(0, length));
  if (length > seed.length && r() < 0.5) for (let i = seed.length; i < length; i++) out[i] = int(r, 256);
  const edits = int(r, 5);
  for (let e = 0; e < edits && length > 0; e++) {
    const kind = int(r, 5);
    const hot = Math.min(length, 96);
    if (kind === 0) out[int(r, hot)]! ^= 1 << int(r, 8);
    else if (kind === 1) out[int(r, hot)] = int(r, 256);
    else if (kind === 2 || kind === 3) {
      // A small value in a 32-bit field where formats keep versions and signatures.
      const at = pick(r, [4, 6, 16, 64, 0x40]);
      if (at + 4 <= length) new DataView(out.buffer).setUint32(at, int(r, 6) << (kind === 3 ? 16 : 0), r() < 0.5);
    } else out[int(r, length)] = int(r, 256);
  }
  return out;
}

function descriptor(r: Rng): Uint8Array {
  let text = '';
  const lines = int(r, 6);
  for (let i = 0; i < lines; i++) text += pick(r, DESCRIPTOR_LINES);
  if (r() < 0.7) text += pick(r, ['version=1\n', 'version=2\r\n', 'version=3\n', 'version=1']);
  text += pick(r, ['', 'CID=fffffffe\n', 'junk', '\0\0\0']);
  return latin1(text.slice(0, r() < 0.2 ? int(r, text.length + 1) : text.length));
}

function cloop(r: Rng): Uint8Array {
  const n = r() < 0.5 ? int(r, CLOOP_MAGIC.length + 1) : CLOOP_MAGIC.length;
  const out = new Uint8Array(n + (r() < 0.5 ? int(r, 100) : 0));
  out.set(latin1(CLOOP_MAGIC.slice(0, n)));
  for (let i = n; i < out.length; i++) out[i] = int(r, 256);
  if (r() < 0.3 && n > 0) out[int(r, n)]! ^= 0x20;
  return out;
}

function input(r: Rng, seeds: readonly Uint8Array[]): Uint8Array {
  const kind = r();
  if (kind < 0.45) return mutate(r, pick(r, seeds));
  if (kind < 0.6) return descriptor(r);
  if (kind < 0.7) return cloop(r);
  if (kind < 0.85) return Uint8Array.from({ length: int(r, 601) }, () => int(r, 256));
  if (kind < 0.93) return new Uint8Array(pick(r, LENGTHS)).fill(pick(r, [0, 0xff, 0x20, 0x23, 0x76]));
  // A real header shifted: the magic is not where the format keeps it.
  const seed = pick(r, seeds);
  const shift = 1 + int(r, 64);
  const out = new Uint8Array(Math.min(600, seed.length + shift));
  out.set(seed.subarray(0, out.length - shift), shift);
  return out;
}

describe('compiled emulator index vs reference interpreter', () => {
  let drivers: DriverInfo[];
  let probe: ProbeConfig;
  beforeAll(async () => {
    const loaded = await loadConfig(undefined, repoRoot);
    const scanned = await scan(loaded);
    expect(scanned.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    drivers = scanned.drivers;
    probe = loaded.config.probe;
  });

  it('the generated table holds the index compiled from the declared probes (else: npx gen-modules)', () => {
    expect(driverTable.probeIndex).toEqual(compileProbeIndex(drivers, probeModulePath, probe).index);
  });

  it(`agrees on ${INPUTS.toLocaleString('en')} random and mutated headers, deterministically`, async () => {
    const index = driverTable.probeIndex;
    const load = tableModuleLoader(driverTable);
    const seeds = [...formatHeaders(), ...sampleHeads().map((s) => s.bytes.subarray(0, 600))];
    const r = rng(0x5eed);
    const formats = new Map<string, number>();
    let matchedSome = 0;
    for (let i = 0; i < INPUTS; i++) {
      const bytes = input(r, seeds);
      const filename = pick(r, FILENAMES);
      let result: ProbeResult;
      try {
        result = await expectAgreement(index, drivers, bytes, filename, load, probeModulePath, probe.order);
      } catch (error) {
        throw new Error(`input ${i} (${filename}, ${bytes.length} bytes): ${(error as Error).message}`);
      }
      formats.set(result.format, (formats.get(result.format) ?? 0) + 1);
      if (result.matched.length > 0) matchedSome++;
    }
    // The generator reaches every format the table can probe, and raw.
    const probed = new Set(driverTable.probeIndex.signatures.map((s) => s.driver));
    for (const format of [...probed, 'raw']) expect(formats.get(format) ?? 0, `inputs decided as ${format}`).toBeGreaterThan(50);
    expect(matchedSome).toBeGreaterThan(INPUTS / 3);
    console.log(`probe property test: ${INPUTS} inputs, decided as ${JSON.stringify(Object.fromEntries([...formats].sort()))}`);
  }, 600_000);
});
