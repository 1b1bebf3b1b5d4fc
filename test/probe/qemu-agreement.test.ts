// The index over the generated table decides what `qemu-img info` reports. First for every
// committed sample (fixtures/emulator/images/*/expected.json: "format" as qemu-img reports it, or
// "probe-format" where the probe decides otherwise), through the registry, loading no driver.
// Then, with a live qemu-img, for images of every format qemu-img writes and for tricky files,
// each compared with `qemu-img info --output=json` on the very same file.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driverTable } from '../../fixtures/emulator/src/generated/drivers.gen.js';
import { createDriverRegistry } from '../../src/runtime/registry.js';
import { probeDataFromBytes, probeWithIndex } from '../../src/runtime/probe.js';
import { hasTool, requireTool, runTool } from '../support/system.js';
import { CLOOP_MAGIC, forEachSample, tableModuleLoader } from './support.js';

const probed = new Set(driverTable.probeIndex.signatures.map((s) => s.driver));
const hasDriver = (format: string) => format === 'raw' || probed.has(format);

describe('committed samples: the index decides what qemu-img info reported', () => {
  const samples = forEachSample();
  it('there are samples to check', () => {
    expect(samples.length).toBeGreaterThan(0);
  });
  for (const sample of samples) {
    const title = `${sample.dir}/${sample.file} probes as ${sample.expected}`;
    if (!hasDriver(sample.expected)) {
      console.warn(`skipped: ${title}: no ${sample.expected} driver with a probe in the generated table`);
      it.skip(title, () => undefined);
      continue;
    }
    it(title, async () => {
      const registry = createDriverRegistry(driverTable);
      const bytes = sample.bytes();
      const result = await registry.probe(probeDataFromBytes(driverTable.probeIndex, bytes, sample.probeName));
      if (result.format !== sample.expected) {
        // Say what qemu-img itself reports, when it is here: an entry whose file probes otherwise
        // than it opens (a fixed VHD probes as raw) needs "probe-format" in expected.json.
        const live = qemuInfoFormat(bytes, sample.probeName);
        const hint = live ? `; qemu-img info says ${live}${live !== sample.expected ? ` (give the entry "probe-format": "${live}")` : ''}` : '';
        expect.fail(`${sample.dir}/${sample.file}: expected.json says ${sample.expected}, the index says ${result.format}${hint}; matched ${JSON.stringify(result.matched)}`);
      }
      expect(result.bytesRead).toBeLessThanOrEqual(driverTable.probeIndex.headBytes + driverTable.probeIndex.tailBytes);
      // Deciding loaded no driver chunk at all (probe modules are not drivers).
      expect(registry.loadedDrivers()).toEqual([]);
      expect(registry.list().filter((d) => d.status === 'loaded' || d.status === 'loading')).toEqual([]);
    });
  }
});

/** `qemu-img info`'s format for these bytes under this name, or undefined without qemu-img. */
function qemuInfoFormat(bytes: Uint8Array, name: string): string | undefined {
  if (!hasTool('qemu-img')) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'gm-probe-sample-'));
  try {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    const info = spawnSync('qemu-img', ['info', '--output=json', path], { encoding: 'utf8' });
    return info.status === 0 ? (JSON.parse(info.stdout) as { format: string }).format : `an error (${info.stderr.trim().split('\n')[0]})`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Made {
  /** Files qemu-img wrote or we crafted; every file in the folder is probed. */
  dir: string;
  /** Formats asked of qemu-img create that it wrote. */
  created: string[];
}

/** Every format and subformat qemu-img 7.2 writes, plus files made to sit on probe edges. */
function makeImages(dir: string): Made {
  const created: string[] = [];
  const create = (file: string, format: string, options: string[] = []) => {
    execFileSync('qemu-img', ['create', '-q', '-f', format, ...options, join(dir, file), '1M'], { stdio: 'pipe' });
    created.push(format);
  };
  create('v1.qcow', 'qcow');
  create('compat010.qcow2', 'qcow2', ['-o', 'compat=0.10']);
  create('compat11.qcow2', 'qcow2', ['-o', 'compat=1.1']);
  create('ext-l2.qcow2', 'qcow2', ['-o', 'extended_l2=on,cluster_size=64k']);
  create('img.qed', 'qed');
  create('dynamic.vdi', 'vdi');
  create('static.vdi', 'vdi', ['-o', 'static=on']);
  for (const sub of ['monolithicSparse', 'monolithicFlat', 'twoGbMaxExtentSparse', 'twoGbMaxExtentFlat', 'streamOptimized']) {
    create(`vm-${sub}.vmdk`, 'vmdk', ['-o', `subformat=${sub}`]);
  }
  create('dynamic.vhd', 'vpc');
  create('fixed.vhd', 'vpc', ['-o', 'subformat=fixed']);
  create('dynamic.vhdx', 'vhdx');
  create('fixed.vhdx', 'vhdx', ['-o', 'subformat=fixed']);
  create('img.parallels', 'parallels');
  // LUKS creation benchmarks PBKDF2 first, which fails now and then on a busy machine: runTool tries again.
  runTool('qemu-img', ['create', '-q', '-f', 'luks', '--object', 'secret,id=s0,data=probe-test', '-o', 'key-secret=s0,iter-time=10', join(dir, 'img.luks'), '1M']);
  created.push('luks');
  create('img.raw', 'raw');

  const write = (file: string, data: string | Uint8Array) => writeFileSync(join(dir, file), typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  write('zero-length', '');
  write('three-bytes', 'abc');
  write('three-bytes-cloop', '#!/');
  write('cloop-prefix-only', CLOOP_MAGIC.slice(0, 40));
  write('version-only.txt', 'version=1\n');
  write('qcow2-header-8-bytes', 'QFI\xfb\0\0\0\x03');
  write('qed-3-bytes', 'QED');
  // Descriptor texts qemu-img opens: comments, blank lines with and without '\r', a CRLF version line.
  const extent = 'RW 2048 FLAT "extent.bin" 0\n';
  write('extent.bin', new Uint8Array(1 << 20));
  write('comments.vmdk', `# Disk DescriptorFile\n   \n  \r\n#c\nversion=1\r\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\n${extent}`);
  write('bare-v3', `version=3\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n${extent}`);
  // Not descriptors for QEMU: a tab in a blank line, a version line after spaces.
  write('tab-line', ` \t\nversion=1\ncreateType="monolithicFlat"\n${extent}`);
  write('indented-version', ` version=1\ncreateType="monolithicFlat"\n${extent}`);
  // The name decides dmg (score 2), the content anything definite.
  copyFileSync(join(dir, 'compat11.qcow2'), join(dir, 'x.dmg'));
  copyFileSync(join(dir, 'img.raw'), join(dir, 'raw-named.dmg'));
  copyFileSync(join(dir, 'img.raw'), join(dir, '.dmg'));
  // A qcow2 header outside block 0 of a raw image changes nothing.
  const shifted = new Uint8Array(4096);
  shifted.set(readFileSync(join(dir, 'compat11.qcow2')).subarray(0, 512), 512);
  write('qcow2-at-512.raw', shifted);
  return { dir, created };
}

describe.runIf(requireTool('qemu-img', 'the live probe agreement test'))('live qemu-img: the index decides what qemu-img info reports', () => {
  let made: Made;
  beforeAll(() => {
    made = makeImages(mkdtempSync(join(tmpdir(), 'gm-probe-')));
  });
  afterAll(() => {
    if (made) rmSync(made.dir, { recursive: true, force: true });
  });

  it('for every image of every format qemu-img writes, and tricky files', async () => {
    const load = tableModuleLoader(driverTable);
    const compared: string[] = [];
    const mismatches: string[] = [];
    const notes: string[] = [];
    const missingDrivers = new Set<string>();
    for (const file of readdirSync(made.dir).sort()) {
      const path = join(made.dir, file);
      const info = spawnSync('qemu-img', ['info', '--output=json', path], { encoding: 'utf8' });
      if (info.status !== 0) {
        notes.push(`${file}: qemu-img refuses it (${info.stderr.trim().split('\n')[0]}), not compared`);
        continue;
      }
      const expected = (JSON.parse(info.stdout) as { format: string }).format;
      if (!hasDriver(expected)) {
        missingDrivers.add(expected);
        notes.push(`${file}: qemu-img says ${expected}, which has no driver in the table, not compared`);
        continue;
      }
      const bytes = new Uint8Array(readFileSync(path));
      // QEMU passes the file name as given on the command line.
      const result = await probeWithIndex(driverTable.probeIndex, probeDataFromBytes(driverTable.probeIndex, bytes, path), load);
      compared.push(`${file}=${expected}`);
      if (result.format !== expected) mismatches.push(`${file}: qemu-img says ${expected}, the index says ${result.format} (${JSON.stringify(result.matched)})`);
    }
    for (const note of notes) console.log(`note: ${note}`);
    console.log(`compared with qemu-img info: ${compared.join(', ')}`);
    if (missingDrivers.size > 0) console.warn(`formats without a driver in the table: ${[...missingDrivers].sort().join(', ')}`);
    expect(mismatches).toEqual([]);
    // Every format qemu-img wrote was compared (unless its driver is missing), and the edge files too.
    for (const format of new Set(made.created)) {
      if (!hasDriver(format)) continue;
      expect(compared.some((c) => c.endsWith(`=${format}`)), `an image qemu-img info reports as ${format}`).toBe(true);
    }
    for (const file of ['zero-length', 'three-bytes', 'three-bytes-cloop', 'cloop-prefix-only', 'comments.vmdk', 'bare-v3', 'tab-line', 'x.dmg', 'fixed.vhd']) {
      expect(compared.some((c) => c.startsWith(`${file}=`)), file).toBe(true);
    }
  });
});
