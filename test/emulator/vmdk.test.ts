// The vmdk driver against qemu-img 7.2: committed samples (every subformat qemu-img writes, plus
// VMware's stream layout, COWD/vmfsSparse, hand-written descriptors and a parent chain), the
// descriptor probe module against QEMU's rule, live variants made by qemu-img and compared byte for
// byte with `qemu-img convert -O raw`, QEMU's descriptor quirks, bad input, and a seeded fuzz.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ImageError, type ByteSource } from '../../fixtures/emulator/src/block/types.js';
import probeVmdkDescriptor from '../../fixtures/emulator/src/probes/vmdk-descriptor.js';
import { requireTool } from '../support/system.js';
import {
  diskData,
  expectSameAsQemu,
  fuzz,
  imageError,
  loadSamples,
  openAndReadAll,
  openImage,
  prng,
  probe,
  qemuAccepts,
  qemuRead,
  readAll,
  run,
  sampleScript,
  sampleTests,
  scratchFolder,
  sha256,
} from './vmdk-family-support.js';

const samples = loadSamples('vmdk');
const work = scratchFolder('vmdk');
const haveQemu = requireTool('qemu-img', 'the vmdk live tests') && requireTool('qemu-io', 'the vmdk live tests');

function text(value: string): Uint8Array {
  return Uint8Array.from(value, (c) => c.charCodeAt(0));
}

function descriptor(createType: string, extents: string[], extra = ''): string {
  return `# Disk DescriptorFile\nversion=1\nCID=1234abcd\nparentCID=ffffffff\ncreateType="${createType}"\n${extra}\n# Extent description\n${extents.join('\n')}\n\n# The Disk Data Base\n#DDB\n`;
}

describe('vmdk: committed samples', () => {
  // Pieces that straddle grain and extent edges.
  sampleTests('vmdk', samples, { chunk: 65536 * 3 + 1000, maxSlice: 200_000, seed: (key) => key.length * 7919 });

  it('reports the details qemu-img info shows (create type, CIDs, parent, cluster size)', async () => {
    const child = await openImage('child.vmdk', { files: samples.files });
    expect(child.details).toMatchObject({
      'create-type': 'monolithicSparse',
      cid: 0x4d4f440b,
      'parent-cid': 0x4d4f440a,
      'backing-file': 'parent-stream.vmdk',
      'cluster-size': 65536,
    });
    await child.close();
    const flat = await openImage('monolithic-flat.vmdk', { files: samples.files });
    expect(flat.details).toMatchObject({ 'create-type': 'monolithicFlat', extents: 1 });
    expect(flat.details).not.toHaveProperty('cluster-size');
    await flat.close();
    const multi = await openImage('multi-extent.vmdk', { files: samples.files });
    // QEMU: a compressed extent under a descriptor renames the create type.
    expect(multi.details).toMatchObject({ 'create-type': 'streamOptimized', extents: 5 });
    await multi.close();
  });

  it('serves a multi-grain read with few source reads (contiguous grains merged, compressed runs read ahead)', async () => {
    const counts = new Map<string, number>();
    const wrap = (source: ByteSource): ByteSource => ({
      name: source.name,
      size: source.size,
      read: (offset, length) => {
        counts.set(source.name, (counts.get(source.name) ?? 0) + 1);
        return source.read(offset, length);
      },
      close: () => source.close(),
    });
    for (const name of ['monolithic-sparse.vmdk', 'stream-optimized.vmdk', 'monolithic-flat.vmdk']) {
      counts.clear();
      const image = await openImage(name, { files: samples.files, wrap });
      const before = [...counts.values()].reduce((a, b) => a + b, 0);
      await image.read(0, image.virtualSize);
      const reads = [...counts.values()].reduce((a, b) => a + b, 0) - before;
      // 1 MiB is 16 grains: far fewer reads than grains (tables come in 4 KiB pages).
      expect(reads, name).toBeLessThanOrEqual(name === 'monolithic-flat.vmdk' ? 1 : 6);
      await image.close();
    }
  });

  it('opens descriptor samples from disk too, extents resolved relative to the descriptor', async () => {
    const dir = mkdtempSync(join(work(), 'disk-'));
    for (const [name, bytes] of samples.files) writeFileSync(join(dir, name), bytes);
    for (const key of ['multi-extent.vmdk', 'two-gb-sparse.vmdk', 'child.vmdk.gz']) {
      const entry = samples.expected[key]!;
      const bytes = await openAndReadAll(join(dir, samples.nameOf(key)), {});
      expect(sha256(bytes)).toBe(entry.sha256);
    }
  });
});

// QEMU's vmdk_probe text branch, restated line by line (an independent formulation of the rule).
function referenceProbe(buf: Uint8Array): number {
  if (buf.length < 4) return 0;
  const magic = String.fromCharCode(...buf.subarray(0, 4));
  if (magic === 'KDMV' || magic === 'COWD') return 100;
  const s = String.fromCharCode(...buf);
  let pos = 0;
  while (pos < s.length) {
    if (s[pos] === '#') {
      const newline = s.indexOf('\n', pos);
      if (newline < 0) return 0;
      pos = newline + 1;
    } else if (s[pos] === ' ') {
      const blank = /^ +\r?\n/.exec(s.slice(pos));
      if (!blank) return 0;
      pos += blank[0].length;
    } else {
      return /^version=[123]\r?\n/.test(s.slice(pos)) ? 100 : 0;
    }
  }
  return 0;
}

describe('vmdk: probe (magic signature and the descriptor module)', () => {
  const longComment = `#${'x'.repeat(498)}\n`; // 500 bytes
  const cases: [string, string, number][] = [
    ['version=1', 'version=1\n', 100],
    ['version=2 with CRLF', 'version=2\r\ncreateType="x"\r\n', 100],
    ['version=3', 'version=3\n', 100],
    ['version=4', 'version=4\n', 0],
    ['version=1 without newline', 'version=1', 0],
    ['version=1 then CR only', 'version=1\rx', 0],
    ['comment then version', '# Disk DescriptorFile\nversion=1\n', 100],
    ['CRLF comment then version', '# Disk DescriptorFile\r\nversion=1\r\n', 100],
    ['empty line is not blank', '# c\n\nversion=1\n', 0],
    ['line of spaces', '   \nversion=1\n', 100],
    ['line of spaces with CR', '  \r\nversion=2\r\n', 100],
    ['spaces then two CRs', ' \r\r\nversion=1\n', 0],
    ['indented version', ' version=1\n', 0],
    ['spaces then text', '  x\nversion=1\n', 0],
    ['tab is not a space', '\tversion=1\n', 0],
    ['CR first', '\r\nversion=1\n', 0],
    ['comment without newline', '# just a comment', 0],
    ['version after a long comment, inside 512 bytes', `${longComment}version=1\n`, 100],
    ['version line cut by the 512-byte buffer', `${longComment}#234567\nversion=1\n`, 0],
    ['version line ending exactly at byte 512', `${longComment}#\nversion=1\n`, 100],
    ['three bytes', 'ver', 0],
    ['KDMV magic', 'KDMV', 100],
    ['COWD magic', 'COWD\x01\x00\x00\x00', 100],
    ['lowercase magic', 'kdmv', 0],
    ['BOM before version', '\xef\xbb\xbfversion=1\n', 0],
    ['version= with space', 'version = 1\n', 0],
  ];

  for (const [name, input, score] of cases) {
    it(`${name}: ${score}`, async () => {
      const bytes = text(input);
      expect(referenceProbe(bytes.subarray(0, 512))).toBe(score);
      if (!input.startsWith('KDMV') && !input.startsWith('COWD')) {
        // Given more than 512 bytes, the module still looks at QEMU's 512 only.
        expect(probeVmdkDescriptor({ head: bytes, tail: new Uint8Array(0), size: bytes.length, filename: 'x' })).toBe(score);
      }
      // The declared signatures: guard + module, or the magic.
      const result = await probe(bytes, 'x.vmdk');
      expect(result.format).toBe(score ? 'vmdk' : 'raw');
      if (score && !input.startsWith('KDMV') && !input.startsWith('COWD')) expect(result.modulesLoaded).toEqual(['../probes/vmdk-descriptor.ts']);
      // No module is loaded unless its guard holds (first byte '#', ' ' or 'v').
      if (!/^[# v]/.test(input)) expect(result.modulesLoaded).toEqual([]);
    });
  }

  it('agrees with an independent statement of the rule on 20,000 random descriptor-like buffers', () => {
    const random = prng(6);
    const pieces = ['#', ' ', '\r', '\n', 'version=', '1', '2', '3', '4', 'v', '# c\n', '  \n', ' \r\n', 'version=1\n', 'x', '\t'];
    for (let i = 0; i < 20_000; i++) {
      let s = '';
      const n = Math.floor(random() * 12);
      for (let j = 0; j < n; j++) s += pieces[Math.floor(random() * pieces.length)];
      const bytes = text(s);
      const data = { head: bytes, tail: new Uint8Array(0), size: bytes.length, filename: 'x' };
      expect(probeVmdkDescriptor(data), JSON.stringify(s)).toBe(referenceProbe(bytes));
    }
  });

  it.runIf(haveQemu)('matches what qemu-img itself probes for each case', () => {
    const random = prng(7);
    const pieces = ['#', ' ', '\r', '\n', 'version=1\n', 'version=3\r\n', 'version=4\n', '# c\n', '  \n', 'x'];
    const inputs = cases.map(([, input]) => input);
    for (let i = 0; i < 30; i++) {
      let s = '';
      for (let j = 0; j < 1 + Math.floor(random() * 6); j++) s += pieces[Math.floor(random() * pieces.length)];
      inputs.push(s);
    }
    for (const [i, input] of inputs.entries()) {
      const file = join(work(), `probe-${i}.bin`);
      writeFileSync(file, text(input));
      if (input.length === 0) continue;
      const info = spawnSync('qemu-img', ['info', '--output=json', file], { encoding: 'utf8' });
      // Probed as raw, info succeeds; probed as vmdk, the open fails (or says vmdk).
      const qemuSaysVmdk = !(info.status === 0 && (JSON.parse(info.stdout) as { format: string }).format === 'raw');
      expect(referenceProbe(text(input).subarray(0, 512)) === 100, JSON.stringify(input)).toBe(qemuSaysVmdk);
    }
  });
});

describe.runIf(haveQemu)('vmdk: live images from qemu-img', () => {
  const subformats = ['monolithicSparse', 'monolithicFlat', 'twoGbMaxExtentSparse', 'twoGbMaxExtentFlat', 'streamOptimized'];
  for (const subformat of subformats) {
    for (const size of [202_240, 1_114_112 - 512]) {
      it(`${subformat}, ${size} bytes`, async () => {
        const raw = diskData(work(), `${subformat}-${size}.raw`, size, size, 16384);
        const file = join(work(), `${subformat}-${size}.vmdk`);
        run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', `subformat=${subformat}`, raw, file]);
        await expectSameAsQemu('vmdk', file, work(), 300_001);
        expect(sha256(await openAndReadAll(file, {}))).toBe(sha256(new Uint8Array(readFileSync(raw))));
      });
    }
  }

  it('adapter types, hardware versions and compat6 change only the descriptor', async () => {
    const raw = diskData(work(), 'opts.raw', 31, 300_000, 8192);
    for (const options of ['adapter_type=lsilogic', 'hwversion=6', 'compat6=on', 'adapter_type=buslogic,toolsversion=12345']) {
      const file = join(work(), `opts-${options.replace(/[=,]/g, '_')}.vmdk`);
      run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', options, raw, file]);
      await expectSameAsQemu('vmdk', file, work(), 300_001);
    }
  });

  it('zeroed_grain: qemu-io zero writes become GTE 1 over allocated grains', async () => {
    const raw = diskData(work(), 'zg.raw', 32, 1 << 20, 16384);
    const file = join(work(), 'zg.vmdk');
    run('qemu-img', ['create', '-q', '-f', 'vmdk', '-o', 'zeroed_grain=on', file, '1M']);
    run('qemu-img', ['convert', '-q', '-n', '-f', 'raw', '-O', 'vmdk', raw, file]);
    run('qemu-io', ['-f', 'vmdk', '-c', 'write -z 65536 131072', '-c', 'write -z 300000 1000', '-c', 'write -P 0x5a 500000 70000', file]);
    await expectSameAsQemu('vmdk', file, work(), 300_001);
    const image = await openImage(file);
    expect(await image.status!(65536, 131072)).toEqual({ zero: true, length: 131072 });
    await image.close();
  });

  it('twoGbMaxExtentSparse and twoGbMaxExtentFlat over 2 GiB: several extents, writes across extent edges', async () => {
    for (const subformat of ['twoGbMaxExtentSparse', 'twoGbMaxExtentFlat']) {
      const file = join(work(), `big-${subformat}.vmdk`);
      run('qemu-img', ['create', '-q', '-f', 'vmdk', '-o', `subformat=${subformat}`, file, '4608M']);
      const writes: [number, number, number][] = [
        [0x11, 1000, 5000],
        [0x22, 2 * 2 ** 30 - 3000, 7000],
        [0x33, 4 * 2 ** 30 - 512, 1024],
        [0x44, 4608 * 2 ** 20 - 4096, 4096],
      ];
      run('qemu-io', ['-f', 'vmdk', ...writes.flatMap(([p, at, n]) => ['-c', `write -P ${p} ${at} ${n}`]), file]);
      const info = JSON.parse(run('qemu-img', ['info', '--output=json', file])) as { 'virtual-size': number };
      const image = await openImage(file);
      onTestFinished(() => image.close());
      expect(image.virtualSize).toBe(info['virtual-size']);
      expect(image.details).toMatchObject({ extents: 3, 'create-type': subformat });
      for (const [pattern, at, n] of writes) {
        const start = Math.max(0, at - 70_000 - ((at - 70_000) % 512));
        const length = Math.min(image.virtualSize - start, n + 140_000);
        const ours = await image.read(start, length);
        // qemu-img dd with 512-byte blocks: the same range through QEMU's driver (its count
        // includes the skipped blocks).
        const out = join(work(), 'dd.raw');
        rmSync(out, { force: true });
        const blocks = start / 512 + Math.ceil(length / 512);
        run('qemu-img', ['dd', '-f', 'vmdk', '-O', 'raw', 'bs=512', `skip=${start / 512}`, `count=${blocks}`, `if=${file}`, `of=${out}`]);
        expect(sha256(ours)).toBe(sha256(new Uint8Array(readFileSync(out)).subarray(0, length)));
        expect(ours[at - start]).toBe(pattern);
      }
      // A 4.5 GiB sparse disk answers status() without reading 4.5 GiB; flat extents are data.
      const answer = await image.status!(8 * 2 ** 20, image.virtualSize - 16 * 2 ** 20);
      expect(answer.zero).toBe(subformat === 'twoGbMaxExtentSparse');
      expect(answer.length).toBeGreaterThan(2 ** 30);
    }
  });

  it('parent chains: parentFileNameHint, a grandparent, a parent smaller than the child', async () => {
    const base = diskData(work(), 'base.raw', 41, 700_000, 16384);
    run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vmdk', base, join(work(), 'base.vmdk')]);
    run('qemu-img', ['create', '-q', '-f', 'vmdk', '-b', 'base.vmdk', '-F', 'vmdk', join(work(), 'mid.vmdk')]);
    run('qemu-io', ['-f', 'vmdk', '-c', 'write -P 0x61 100000 70000', join(work(), 'mid.vmdk')]);
    run('qemu-img', ['create', '-q', '-f', 'vmdk', '-b', 'mid.vmdk', '-F', 'vmdk', join(work(), 'top.vmdk'), '2M']);
    run('qemu-io', ['-f', 'vmdk', '-c', 'write -P 0x62 150000 1000', '-c', 'write -P 0x63 1500000 9000', join(work(), 'top.vmdk')]);
    await expectSameAsQemu('vmdk', join(work(), 'top.vmdk'), work(), 300_001);
    const top = await openImage(join(work(), 'top.vmdk'));
    expect(top.virtualSize).toBe(2 << 20);
    // Past the end of the 700,000-byte chain: zeros, as QEMU reads them.
    expect((await top.read(800_000, 4096)).every((b) => b === 0)).toBe(true);
    await top.close();
  });

  it('refuses to read through a parent whose CID is not the parentCID (as QEMU does)', async () => {
    const base = diskData(work(), 'cidbase.raw', 42, 300_000, 16384);
    run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vmdk', base, join(work(), 'cidbase.vmdk')]);
    run('qemu-img', ['create', '-q', '-f', 'vmdk', '-b', 'cidbase.vmdk', '-F', 'vmdk', join(work(), 'cidchild.vmdk')]);
    const bytes = new Uint8Array(readFileSync(join(work(), 'cidchild.vmdk')));
    const at = Buffer.from(bytes).indexOf('parentCID=') + 'parentCID='.length;
    bytes.set(text('00000bad'), at);
    writeFileSync(join(work(), 'cidchild.vmdk'), bytes);
    expect(qemuAccepts(join(work(), 'cidchild.vmdk'), work()).ok).toBe(false);
    const image = await openImage(join(work(), 'cidchild.vmdk'));
    const error = await imageError(image.read(0, 4096));
    expect(error.message).toMatch(/parent CID mismatch/);
    await image.close();
  });

  it("VMware's stream layout (footer, GD at the end, markers) of a qemu-img stream", async () => {
    const raw = diskData(work(), 'sf.raw', 43, 3 << 20, 65536);
    run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, join(work(), 'sf-in.vmdk')]);
    sampleScript('vmdk-tools.mjs', ['stream-footer', join(work(), 'sf-in.vmdk'), join(work(), 'sf.vmdk')]);
    await expectSameAsQemu('vmdk', join(work(), 'sf.vmdk'), work(), 300_001);
  });

  it('COWD (vmfsSparse) extents, including QEMU reading past an extent that ends inside a grain', async () => {
    const raw = diskData(work(), 'cowd.raw', 44, 51_200, 2048);
    sampleScript('vmdk-tools.mjs', ['cowd', raw, join(work(), 'q-cowd.bin'), '16']);
    const flat = diskData(work(), 'cowd-flat.raw', 45, 40_960, 4096);
    writeFileSync(join(work(), 'q-flat.bin'), readFileSync(flat));
    writeFileSync(join(work(), 'q-cowd.vmdk'), descriptor('vmfsSparse', ['RW 100 VMFSSPARSE "q-cowd.bin"']));
    await expectSameAsQemu('vmdk', join(work(), 'q-cowd.vmdk'), work(), 300_001);
    // 100 sectors in 16-sector grains: QEMU's last step runs 8 sectors into the next extent.
    writeFileSync(join(work(), 'q-quirk.vmdk'), descriptor('vmfs', ['RW 100 VMFSSPARSE "q-cowd.bin"', 'RW 80 FLAT "q-flat.bin" 0']));
    await expectSameAsQemu('vmdk', join(work(), 'q-quirk.vmdk'), work(), 300_001);
  });

  it("descriptor quirks QEMU has: a blank line before an extent doubles it, CRLF lines, ignored RDONLY lines", async () => {
    const flat = diskData(work(), 'dq.raw', 46, 40_960, 4096);
    writeFileSync(join(work(), 'dq-flat.bin'), readFileSync(flat));
    const variants = {
      'dq-double.vmdk': descriptor('monolithicFlat', ['', 'RW 80 FLAT "dq-flat.bin" 0']),
      'dq-crlf.vmdk': descriptor('monolithicFlat', ['RW 40 FLAT "dq-flat.bin" 40', 'RW 40 FLAT "dq-flat.bin" 0']).replace(/\n/g, '\r\n'),
      'dq-access.vmdk': descriptor('twoGbMaxExtentFlat', ['RDONLY 80 FLAT "dq-flat.bin" 0', 'RW 16 VMFS "dq-flat.bin"', 'NOACCESS 5 ZERO', 'RW 8 FLAT "dq-flat.bin" 3   trailing']),
      'dq-tabs.vmdk': descriptor('monolithicFlat', ['RW\t64\tFLAT\t"dq-flat.bin"\t16']),
    };
    for (const [name, content] of Object.entries(variants)) {
      writeFileSync(join(work(), name), text(content));
      await expectSameAsQemu('vmdk', join(work(), name), work(), 300_001);
    }
    const doubled = await openImage(join(work(), 'dq-double.vmdk'));
    expect(doubled.virtualSize).toBe(2 * 40_960);
    await doubled.close();
  });

  it('a KDMV file with capacity 0 whose embedded descriptor names the extents', async () => {
    const flat = diskData(work(), 'cap0.raw', 47, 40_960, 4096);
    writeFileSync(join(work(), 'cap0-flat.bin'), readFileSync(flat));
    const file = new Uint8Array(4096);
    const view = new DataView(file.buffer);
    view.setUint32(0, 0x4b444d56, false);
    view.setUint32(4, 1, true);
    view.setBigUint64(28, 1n, true); // descriptor at sector 1
    view.setBigUint64(36, 7n, true);
    file.set(text(descriptor('monolithicFlat', ['RW 80 FLAT "cap0-flat.bin" 0'])), 512);
    writeFileSync(join(work(), 'cap0.vmdk'), file);
    await expectSameAsQemu('vmdk', join(work(), 'cap0.vmdk'), work(), 300_001);
  });

  it('absolute extent paths: refused unless unsafe paths are allowed, then read like qemu-img', async () => {
    const flat = diskData(work(), 'abs.raw', 48, 20_480, 4096);
    writeFileSync(join(work(), 'abs.vmdk'), descriptor('monolithicFlat', [`RW 40 FLAT "${flat}" 0`]));
    expect((await imageError(openImage(join(work(), 'abs.vmdk')))).message).toMatch(/outside the image's folder/);
    await expectSameAsQemu('vmdk', join(work(), 'abs.vmdk'), work(), 300_001, { allowUnsafePaths: true });
  });
});

// ------------------------------------------------------------------------------------------------
// Bad input: each a clear ImageError naming the image, never another exception.

function sparseSample(): Uint8Array {
  return samples.files.get('monolithic-sparse.vmdk')!.slice();
}

function withU32(bytes: Uint8Array, at: number, value: number): Uint8Array {
  new DataView(bytes.buffer).setUint32(at, value, true);
  return bytes;
}

function withU64(bytes: Uint8Array, at: number, value: bigint): Uint8Array {
  new DataView(bytes.buffer).setBigUint64(at, value, true);
  return bytes;
}

async function openBad(files: Record<string, Uint8Array | string>, main = 'bad.vmdk', readAllToo = true): Promise<ImageError> {
  const map = new Map(Object.entries(files).map(([k, v]) => [k, typeof v === 'string' ? text(v) : v] as const));
  return imageError(
    (async () => {
      const image = await openImage(main, { format: 'vmdk', files: map });
      try {
        if (readAllToo) await readAll(image);
      } finally {
        await image.close();
      }
    })(),
  );
}

describe('vmdk: bad input', () => {
  const gdOffset = () => Number(new DataView(sparseSample().buffer).getBigUint64(56, true)) * 512;
  const gtOffset = () => new DataView(sparseSample().buffer).getUint32(gdOffset(), true) * 512;

  const cases: [string, () => Record<string, Uint8Array | string>, RegExp][] = [
    ['a file of 3 bytes', () => ({ 'bad.vmdk': 'KDM' }), /too small/],
    ['truncated inside the grain tables', () => ({ 'bad.vmdk': sparseSample().slice(0, 40_000) }), /file truncated/],
    ['truncated inside the grains', () => ({ 'bad.vmdk': sparseSample().slice(0, 200_000) }), /past the end of the file/],
    ['grain directory past the end', () => ({ 'bad.vmdk': withU64(sparseSample(), 56, 1n << 40n) }), /grain directory .* past the end|out of range/],
    ['grain directory entry past the end', () => ({ 'bad.vmdk': withU32(sparseSample(), gdOffset(), 0x7fffff00) }), /grain table .* past the end/],
    ['grain table entry past the end', () => ({ 'bad.vmdk': withU32(sparseSample(), gtOffset() + 4, 0x7fffff00) }), /past the end of the file/],
    ['absurd capacity', () => ({ 'bad.vmdk': withU64(sparseSample(), 12, 1n << 60n) }), /too many|too big|truncated|past the end|out of range/],
    ['grain size 0', () => ({ 'bad.vmdk': withU64(sparseSample(), 20, 0n) }), /covers 0 sectors|grain size/],
    ['grain size of 2 GiB', () => ({ 'bad.vmdk': withU64(sparseSample(), 20, 1n << 22n) }), /invalid grain size/],
    ['grain tables of 4096 entries', () => ({ 'bad.vmdk': withU32(sparseSample(), 44, 4096) }), /grain tables of 4096 entries/],
    ['version 4', () => ({ 'bad.vmdk': withU32(sparseSample(), 4, 4) }), /unsupported VMDK version 4/],
    ['no CID in the embedded descriptor', () => ({ 'bad.vmdk': sparseSample().fill(0x20, 512, 600) }), /no CID/],
    ['GD_AT_END without a footer', () => ({ 'bad.vmdk': withU64(sparseSample(), 56, 0xffffffffffffffffn) }), /invalid footer/],
    ['descriptor without createType', () => ({ 'bad.vmdk': '# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n' }), /no createType/],
    ['unsupported createType', () => ({ 'bad.vmdk': descriptor('monolithicSparse', ['RW 8 FLAT "x.bin" 0']) }), /unsupported VMDK image type "monolithicSparse"/],
    ['invalid extent line', () => ({ 'bad.vmdk': descriptor('monolithicFlat', ['RW 8 FLAT "x.bin"']) }), /invalid extent line/],
    ['no extents at all', () => ({ 'bad.vmdk': descriptor('monolithicFlat', []) }), /no usable extent/],
    ['missing extent file', () => ({ 'bad.vmdk': descriptor('monolithicFlat', ['RW 8 FLAT "missing.bin" 0']) }), /cannot open extent file "missing.bin": no such file/],
    ['extent file shorter than declared', () => ({ 'bad.vmdk': descriptor('monolithicFlat', ['RW 80 FLAT "x.bin" 0']), 'x.bin': new Uint8Array(4096) }), /the descriptor maps/],
    ['absurd extent size', () => ({ 'bad.vmdk': descriptor('monolithicFlat', ['RW 99999999999999999999 FLAT "x.bin" 0']), 'x.bin': new Uint8Array(4096) }), /impossible size/],
    ['extent path leaving the folder', () => ({ 'bad.vmdk': descriptor('monolithicFlat', ['RW 8 FLAT "../x.bin" 0']) }), /outside the image's folder/],
    ['sparse extent that is not a VMDK', () => ({ 'bad.vmdk': descriptor('twoGbMaxExtentSparse', ['RW 8 SPARSE "x.bin"']), 'x.bin': new Uint8Array(4096) }), /not a VMDK sparse extent/],
    ['seSparse extent', () => ({ 'bad.vmdk': descriptor('seSparse', ['RW 8 SESPARSE "x.bin"']), 'x.bin': new Uint8Array(4096) }), /seSparse extents are not supported/],
    ['parent hint without closing quote', () => ({ 'bad.vmdk': withHint(sparseSample(), 'parentFileNameHint="base.vmdk') }), /no closing quote/],
    ['missing parent', () => ({ 'bad.vmdk': withHint(sparseSample(), 'parentFileNameHint="base.vmdk"') }), /base.vmdk: no such file/],
    ['descriptor naming itself through a capacity-0 header', () => ({ 'bad.vmdk': selfReferencing() }), /nested more than/],
    ['corrupt compressed grain', () => ({ 'bad.vmdk': corruptStream('data') }), /compressed grain/],
    ['compressed grain with an absurd size', () => ({ 'bad.vmdk': corruptStream('size') }), /invalid size/],
  ];

  /** The hint appended at the end of the embedded descriptor (after its last quote). */
  function withHint(bytes: Uint8Array, hint: string): Uint8Array {
    bytes.set(text(`${hint}\n`), bytes.indexOf(0, 512));
    return bytes;
  }

  function selfReferencing(): Uint8Array {
    const file = new Uint8Array(4096);
    const view = new DataView(file.buffer);
    view.setUint32(0, 0x4b444d56, false);
    view.setBigUint64(28, 1n, true);
    file.set(text(descriptor('twoGbMaxExtentSparse', ['RW 8 SPARSE "bad.vmdk"'])), 512);
    return file;
  }

  function corruptStream(what: 'data' | 'size'): Uint8Array {
    const bytes = samples.files.get('stream-optimized.vmdk')!.slice();
    const view = new DataView(bytes.buffer);
    const gd = Number(view.getBigUint64(56, true)) * 512;
    const grain = view.getUint32(view.getUint32(gd, true) * 512, true) * 512;
    if (what === 'size') view.setUint32(grain + 8, 0x7fffffff, true);
    else bytes.fill(0x5a, grain + 14, grain + 40);
    return bytes;
  }

  // zlib stops at the end of the stream and checks the Adler-32 right after it; qemu-img reads a
  // grain whose marker counts a byte more than its stream.
  it('a grain marker that counts one byte more than the zlib stream reads as qemu-img reads it', async () => {
    const bytes = samples.files.get('stream-optimized.vmdk')!.slice();
    const view = new DataView(bytes.buffer);
    const gd = Number(view.getBigUint64(56, true)) * 512;
    const grain = view.getUint32(view.getUint32(gd, true) * 512, true) * 512;
    view.setUint32(grain + 8, view.getUint32(grain + 8, true) + 1, true);
    const read = async (file: Uint8Array) => {
      const image = await openImage('s.vmdk', { format: 'vmdk', files: new Map([['s.vmdk', file]]) });
      try {
        return await readAll(image);
      } finally {
        await image.close();
      }
    };
    expect(sha256(await read(bytes))).toBe(sha256(await read(samples.files.get('stream-optimized.vmdk')!)));
    if (!requireTool('qemu-img', 'the comparison with qemu-img')) return;
    const dir = mkdtempSync(join(tmpdir(), 'gm-vmdk-marker-'));
    try {
      writeFileSync(join(dir, 's.vmdk'), bytes);
      const converted = spawnSync('qemu-img', ['convert', '-f', 'vmdk', '-O', 'raw', join(dir, 's.vmdk'), join(dir, 's.raw')], { encoding: 'utf8' });
      expect(converted.status, converted.stderr).toBe(0);
      expect(sha256(new Uint8Array(readFileSync(join(dir, 's.raw'))))).toBe(sha256(await read(bytes)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const [name, make, message] of cases) {
    it(name, async () => {
      const error = await openBad(make());
      expect(error.message).toMatch(message);
      expect(error.message.startsWith(`${error.image}: `)).toBe(true);
      expect(error.message).not.toContain('\n');
    });
  }

  it('a huge sparse disk opens without allocating for its size', async () => {
    // 2^43 sectors (4 PiB) in 1 GiB grains: the grain directory stays small; reads of unallocated
    // grains are zeros. Memory stays flat.
    const file = new Uint8Array(1024 + 8192 * 4);
    const view = new DataView(file.buffer);
    view.setUint32(0, 0x4b444d56, false);
    view.setUint32(4, 1, true);
    view.setBigUint64(12, 1n << 43n, true);
    view.setBigUint64(20, 0x200000n, true);
    view.setUint32(44, 512, true);
    view.setBigUint64(56, 2n, true);
    file.set(text('CID=1\nparentCID=ffffffff\n'), 512);
    const before = process.memoryUsage().rss;
    const image = await openImage('huge.vmdk', { files: new Map([['huge.vmdk', file]]) });
    expect(image.virtualSize).toBe(2 ** 52);
    expect((await image.read(2 ** 51, 1 << 20)).every((b) => b === 0)).toBe(true);
    expect(await image.status!(0, image.virtualSize)).toMatchObject({ zero: true });
    await image.close();
    expect(process.memoryUsage().rss - before).toBeLessThan(200 << 20);
  });
});

describe('vmdk: fuzz', () => {
  it('10,000+ seeded mutations of headers, tables, descriptors and grains: only ImageError, bounded work', async () => {
    const only = (...names: string[]) => new Map(names.map((n) => [n, samples.files.get(n)!] as const));
    const streamGd = Number(new DataView(samples.files.get('stream-optimized.vmdk')!.buffer).getBigUint64(56, true)) * 512;
    const bases = [
      { main: 'zeroed-grain.vmdk', files: only('zeroed-grain.vmdk'), hot: [[0, 1536], [10752, 65536]] as [number, number][] },
      { main: 'stream-optimized.vmdk', files: only('stream-optimized.vmdk'), hot: [[0, 1536], [streamGd, streamGd + 4096], [65536, 70000]] as [number, number][] },
      { main: 'stream-footer.vmdk', files: only('stream-footer.vmdk'), hot: [[0, 1024], [samples.files.get('stream-footer.vmdk')!.length - 6144, samples.files.get('stream-footer.vmdk')!.length]] as [number, number][] },
      { main: 'vmfs-sparse.vmdk', files: only('vmfs-sparse.vmdk', 'vmfs-sparse-delta.vmdk'), hot: [[0, 208]] as [number, number][] },
      { main: 'vmfs-sparse.vmdk', target: 'vmfs-sparse-delta.vmdk', files: only('vmfs-sparse.vmdk', 'vmfs-sparse-delta.vmdk'), hot: [[0, 2560], [18432, 18500]] as [number, number][] },
      {
        main: 'multi-extent.vmdk',
        files: only('multi-extent.vmdk', 'multi-extent-flat.bin', 'multi-extent-stream.vmdk', 'multi-extent-cowd.vmdk'),
        hot: [[0, 424]] as [number, number][],
      },
      { main: 'two-gb-sparse.vmdk', target: 'two-gb-sparse-s001.vmdk', files: only('two-gb-sparse.vmdk', 'two-gb-sparse-s001.vmdk'), hot: [[0, 512], [10752, 16384]] as [number, number][] },
    ];
    const stats = await fuzz('vmdk', bases, 10_500, 0x766d646b);
    expect(stats.iterations).toBe(10_500);
    // The mutants are not all rejected: reading goes on for many of them.
    expect(stats.opened).toBeGreaterThan(1000);
    expect(stats.imageErrors).toBeGreaterThan(500);
  }, 120_000);
});

describe('vmdk: on-disk truncation', () => {
  it.runIf(haveQemu)('a monolithicSparse cut at every 4 KiB of its metadata is refused or read like qemu-img', async () => {
    const raw = diskData(work(), 'cut.raw', 49, 200_000, 16384);
    const full = join(work(), 'cut-full.vmdk');
    run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vmdk', raw, full]);
    const size = statSync(full).size;
    for (let cut = 0; cut < size; cut += size > 70_000 && cut >= 65_536 ? 16_384 : 4096) {
      const file = join(work(), 'cut.vmdk');
      writeFileSync(file, readFileSync(full));
      truncateSync(file, cut);
      const ours = await openAndReadAll(file, { format: 'vmdk' }).then(
        (bytes) => ({ ok: true as const, bytes }),
        (error: unknown) => {
          if (!(error instanceof ImageError)) throw error;
          return { ok: false as const, error };
        },
      );
      // Where we read, QEMU reads the same bytes (we refuse some files QEMU pads with zeros).
      if (ours.ok) expect(sha256(ours.bytes)).toBe(sha256(qemuRead(file, work(), 'vmdk').raw));
    }
  });
});

