// Each test kind of the probe language, the evaluation order and tie rules, module guards and
// the byte windows, on hand-made drivers. Every probe also goes through the reference
// interpreter (expectAgreement), so each case checks both implementations. The language cases
// use the 'exact' buffer (the data as given, QEMU up to 7.0); the last block shows how QEMU 7.2's
// zero-padded buffer ('padded', the default) changes short files.
import { describe, expect, it } from 'vitest';
import type { ProbeSignature, ProbeTest } from '../../src/model.js';
import { compileProbeIndex, type ProbeDriver } from '../../src/probe/compile.js';
import { validateProbes } from '../../src/probe/validate.js';
import { evaluateTest, probeWithIndex, type ProbeBufferMode, type ProbeModule, type ProbeResult } from '../../src/runtime/probe.js';
import { expectAgreement, latin1 } from './support.js';

const noModules = async (id: string): Promise<ProbeModule> => {
  throw new Error(`unexpected module ${id}`);
};

async function probe(drivers: ProbeDriver[], bytes: Uint8Array | string, filename = 'image', load = noModules, buffer: ProbeBufferMode = 'exact', order?: string[]): Promise<ProbeResult> {
  const data = typeof bytes === 'string' ? latin1(bytes) : bytes;
  return expectAgreement(compileProbeIndex(drivers, undefined, { buffer, order }).index, drivers, data, filename, load, undefined, order);
}

const one = (match: ProbeTest | ProbeTest[], score = 100): ProbeDriver[] => [{ name: 'x', probes: [{ score, match }] }];

/** 64 bytes with a known little/big-endian field at 8..15. */
function withField(bytes: number[]): Uint8Array {
  const out = new Uint8Array(64);
  out.set(bytes, 8);
  return out;
}

describe('byte tests', () => {
  it('bytes: exact at an offset, nothing when the data is short or differs', async () => {
    const d = one({ at: 2, bytes: 'QED\0' });
    const hit = await probe(d, 'xxQED\0yy');
    expect(hit.format).toBe('x');
    expect(hit.matched[0]!.because).toEqual(['bytes "QED\\x00" at 0x2']);
    expect((await probe(d, 'xxQED')).format).toBe('raw');
    expect((await probe(d, 'xxQEE\0')).format).toBe('raw');
  });

  it('bytes with a mask: masked-out bits are ignored, the reason shows what was read', async () => {
    const d = one({ at: 0, bytes: 'AB', mask: 'ff0f' });
    const hit = await probe(d, 'A\x72');
    expect(hit.format).toBe('x');
    expect(hit.matched[0]!.because).toEqual(['bytes "AB" at 0x0 under mask ff0f (read 41 72)']);
    expect((await probe(d, 'A\x43')).format).toBe('raw');
  });

  it('hex, in either case, with a mask', async () => {
    expect((await probe(one({ at: 1, hex: 'BEDA107F' }), '\0\xbe\xda\x10\x7f')).matched[0]!.because).toEqual(['bytes beda107f at 0x1']);
    expect((await probe(one({ at: 0, hex: 'ff00', mask: '0fFF' }), '\x3f\0')).format).toBe('x');
    expect((await probe(one({ at: 0, hex: 'ff00', mask: '0fFF' }), '\x3e\0')).format).toBe('raw');
  });

  it('cstring: the string and its NUL', async () => {
    const d = one({ at: 0, cstring: 'Bochs' });
    expect((await probe(d, 'Bochs\0')).matched[0]!.because).toEqual(['NUL-terminated "Bochs" at 0x0']);
    expect((await probe(d, 'Bochsx')).format).toBe('raw');
    expect((await probe(d, 'Bochs')).format).toBe('raw');
  });

  it('prefix: compared only as far as the data goes (cloop), the data must reach the offset', async () => {
    const d = one({ at: 0, prefix: '#!/bin/sh\n' }, 2);
    expect((await probe(d, '#!/bin/sh\nmore')).matched[0]!.because).toEqual(['prefix "#!/bin/sh\\n" at 0x0: the 10 bytes present match']);
    const short = await probe(d, '#!/');
    expect(short.format).toBe('x');
    expect(short.matched[0]!.because).toEqual(['prefix "#!/bin/sh\\n" at 0x0: the 3 bytes present match (of 10)']);
    expect((await probe(d, '#!x')).format).toBe('raw');
    // A prefix at an offset the data does not reach does not hold; one the data just reaches does.
    const at4 = one({ at: 4, prefix: 'ab' }, 2);
    expect((await probe(at4, 'xyz')).format).toBe('raw');
    expect((await probe(at4, 'wxyz')).format).toBe('x');
    // Empty data: zero bytes compared (QEMU's memcmp of length 0), outside any index.
    const because: string[] = [];
    expect(evaluateTest({ at: 0, prefix: '#!' }, { head: new Uint8Array(0), tail: new Uint8Array(0), size: 5, filename: 'f' }, because)).toBe(true);
    expect(because).toEqual(['prefix "#!" at 0x0: the 0 bytes present match (of 2)']);
  });

  it('an empty file is raw without probing, even for a prefix that any data would match', async () => {
    const result = await probe([{ name: 'x', probes: [{ score: 2, match: { at: 0, prefix: '#!' } }, { score: 100, module: 'm' }] }], '', 'a.dmg', async () => {
      throw new Error('no module may load for an empty file');
    });
    expect(result).toEqual({ format: 'raw', score: 1, matched: [], bytesRead: 0, modulesLoaded: [] });
  });
});

describe('integer fields', () => {
  const cases: { key: string; bytes: number[]; value: bigint }[] = [
    { key: 'u8', bytes: [0xa5], value: 0xa5n },
    { key: 'u16le', bytes: [0x34, 0x12], value: 0x1234n },
    { key: 'u16be', bytes: [0x12, 0x34], value: 0x1234n },
    { key: 'u32le', bytes: [0x7f, 0x10, 0xda, 0xbe], value: 0xbeda107fn },
    { key: 'u32be', bytes: [0x51, 0x46, 0x49, 0xfb], value: 0x514649fbn },
    { key: 'u64le', bytes: [0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe], value: 0xfedcba9876543210n },
    { key: 'u64be', bytes: [0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10], value: 0xfedcba9876543210n },
  ];
  for (const { key, bytes, value } of cases) {
    it(`${key}: eq, ne, min, max, in and mask`, async () => {
      const data = withField(bytes);
      const v = (x: bigint): number | string => (x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : `0x${x.toString(16)}`);
      const test = (c: unknown) => one({ at: 8, [key]: c } as ProbeTest);
      const decide = async (c: unknown) => (await probe(test(c), data)).format;
      expect(await decide(v(value))).toBe('x');
      expect(await decide(v(value - 1n))).toBe('raw');
      expect(await decide({ eq: v(value) })).toBe('x');
      expect(await decide({ ne: v(value) })).toBe('raw');
      expect(await decide({ ne: 0 })).toBe('x');
      expect(await decide({ min: v(value) })).toBe('x');
      expect(await decide({ min: v(value + 1n) })).toBe('raw');
      expect(await decide({ max: v(value) })).toBe('x');
      expect(await decide({ max: v(value - 1n) })).toBe('raw');
      expect(await decide({ min: 1, max: v(value - 1n) })).toBe('raw');
      expect(await decide({ in: [0, v(value)] })).toBe('x');
      expect(await decide({ in: [0, 1] })).toBe('raw');
      const low = value & 0xffn;
      expect(await decide({ mask: 0xff, eq: v(low) })).toBe('x');
      expect(await decide({ mask: 0xff, eq: v(low ^ 1n) })).toBe('raw');
      // Reasons show the field and the comparison in hex.
      const hit = await probe(test({ min: 1, mask: 0xff }), data);
      expect(hit.matched[0]!.because).toEqual([`${key} at 0x8 = 0x${value.toString(16)}, & 0xff = 0x${low.toString(16)} (>= 0x1)`]);
      // A field the data does not hold never matches.
      expect((await probe(test(v(value)), data.subarray(0, 8 + bytes.length - 1))).format).toBe('raw');
    });
  }

  it('byte order matters: the same bytes read as le and be', async () => {
    const data = withField([0x01, 0x00]);
    expect((await probe(one({ at: 8, u16le: 1 }), data)).format).toBe('x');
    expect((await probe(one({ at: 8, u16be: 1 }), data)).format).toBe('raw');
    expect((await probe(one({ at: 8, u16be: 0x100 }), data)).format).toBe('x');
  });
});

describe('file name, tail and length tests', () => {
  it('suffix: case-sensitive, and the name must be longer than the suffix (QEMU dmg_probe)', async () => {
    const d = one({ suffix: '.dmg' }, 2);
    const hit = await probe(d, 'data', 'x.dmg');
    expect(hit.format).toBe('x');
    expect(hit.matched[0]!.because).toEqual(['file name ends in ".dmg"']);
    expect((await probe(d, 'data', '.dmg')).format).toBe('raw');
    expect((await probe(d, 'data', 'x.DMG')).format).toBe('raw');
    expect((await probe(d, 'data', 'x.dmg.bak')).format).toBe('raw');
    const { index } = compileProbeIndex(d);
    expect(index.headBytes).toBe(0);
    expect(index.suffixes).toEqual([{ length: 4, keys: [['.dmg', [0]]] }]);
  });

  it('negative offsets look at the end of the file; the index reads exactly that tail', async () => {
    const d = one([{ at: -512, bytes: 'koly' }, { at: -508, u32be: 4 }]);
    const { index } = compileProbeIndex(d);
    expect(index).toMatchObject({ headBytes: 0, tailBytes: 512 });
    const file = new Uint8Array(5000);
    file.set(latin1('koly\0\0\0\x04'), 5000 - 512);
    const hit = await probe(d, file);
    expect(hit.format).toBe('x');
    expect(hit.bytesRead).toBe(512);
    expect(hit.matched[0]!.because).toEqual(['bytes "koly" at -0x200 from the end', 'u32be at -0x1fc from the end = 0x4 (= 0x4)']);
    // A file shorter than the offset has no such bytes.
    expect((await probe(d, file.subarray(5000 - 511))).format).toBe('raw');
  });

  it('a file shorter than the head and tail windows together: the bytes both read are counted once', async () => {
    const d: ProbeDriver[] = [
      { name: 'x', probes: [{ score: 100, match: [{ at: 0, bytes: 'HEAD' }, { at: -4, bytes: 'TAIL' }] }] },
      { name: 'y', probes: [{ score: 50, match: { at: 400, bytes: 'FAR' } }] },
    ];
    const { index } = compileProbeIndex(d);
    expect(index).toMatchObject({ headBytes: 403, tailBytes: 4 });
    const hit = await probe(d, 'HEAD----TAIL');
    expect(hit.format).toBe('x');
    expect(hit.bytesRead).toBe(12);
    expect((await probe(d, 'HEADTAIL')).bytesRead).toBe(8);
  });

  it('minLength is QEMU\'s buf_size >= sizeof(header)', async () => {
    const d = one([{ minLength: 104 }, { at: 0, bytes: 'Q' }]);
    expect((await probe(d, `Q${'\0'.repeat(103)}`)).format).toBe('x');
    expect((await probe(d, `Q${'\0'.repeat(102)}`)).format).toBe('raw');
    expect((await probe(d, `Q${'\0'.repeat(2000)}`)).matched[0]!.because[0]).toBe('at least 104 bytes of probe data (the probe buffer holds 512)');
  });

  it('any: one alternative (a test or a list of tests) must hold; the reason names it', async () => {
    const d = one({ any: [{ at: 0, bytes: 'KDMV' }, [{ at: 0, bytes: 'COWD' }, { at: 4, u8: 1 }]] });
    expect((await probe(d, 'KDMV')).matched[0]!.because).toEqual(['alternative 1 of 2: bytes "KDMV" at 0x0']);
    expect((await probe(d, 'COWD\x01')).matched[0]!.because).toEqual(['alternative 2 of 2: bytes "COWD" at 0x0 and u8 at 0x4 = 0x1 (= 0x1)']);
    expect((await probe(d, 'COWD\x02')).format).toBe('raw');
    // Both alternatives are filed under the same 4-byte key group.
    expect(compileProbeIndex(d).index.dispatch).toEqual([{ at: 0, width: 4, keys: [['434f5744', [0]], ['4b444d56', [0]]], short: [] }]);
  });
});

describe('evaluation order, ties and early exit', () => {
  it('ties go to the earlier driver in code-unit order; a later one needs a strictly higher score', async () => {
    const same: ProbeSignature = { score: 100, match: { at: 0, bytes: 'M' } };
    const d: ProbeDriver[] = [
      { name: 'b', probes: [same] },
      { name: 'a', probes: [same] },
      { name: 'B', probes: [same] },
    ];
    // 'B' (0x42) sorts before 'a' (0x61): plain code units, not locale order.
    const result = await probe(d, 'M');
    expect(result.format).toBe('B');
    expect(result.matched.map((m) => m.driver)).toEqual(['B']);
    const weak: ProbeDriver[] = [
      { name: 'w1', probes: [{ score: 2, match: { at: 0, bytes: 'M' } }] },
      { name: 'w0', probes: [{ score: 2, match: { at: 0, bytes: 'M' } }] },
      { name: 'w2', probes: [{ score: 3, match: { at: 0, bytes: 'M' } }] },
    ];
    const w = await probe(weak, 'M');
    expect(w.format).toBe('w2');
    expect(w.score).toBe(3);
    expect(w.matched.map((m) => `${m.driver}:${m.score}`)).toEqual(['w0:2', 'w1:2', 'w2:3']);
  });

  it('a probe order puts the drivers it names first, in its order; the others follow by name', async () => {
    const same: ProbeSignature = { score: 100, match: { at: 0, bytes: 'M' } };
    const weak: ProbeSignature = { score: 2, match: { at: 0, bytes: 'M' } };
    const d: ProbeDriver[] = ['a', 'b', 'c', 'd'].map((name) => ({ name, probes: [name < 'c' ? same : weak] }));
    expect((await probe(d, 'M')).format).toBe('a');
    expect((await probe(d, 'M', 'image', noModules, 'exact', ['b'])).format).toBe('b');
    // Listed weak drivers are evaluated first, then 'a' replaces them with its higher score.
    const listed = await probe(d, 'M', 'image', noModules, 'exact', ['d', 'c', 'nosuch']);
    expect(listed.matched.map((m) => m.driver)).toEqual(['d', 'c', 'a']);
    expect(listed.format).toBe('a');
  });

  it('a score of 1 never beats raw, which wins when nothing scores', async () => {
    const result = await probe([{ name: 'one', probes: [{ score: 1, match: { at: 0, bytes: 'M' } }] }], 'M');
    expect(result.format).toBe('raw');
    expect(result.score).toBe(1);
    expect(result.matched.map((m) => m.driver)).toEqual(['one']);
  });

  it('a definite match ends the evaluation: later signatures are not listed and their modules not loaded', async () => {
    const loaded: string[] = [];
    const load = async (id: string): Promise<ProbeModule> => {
      loaded.push(id);
      return () => 100;
    };
    const d: ProbeDriver[] = [
      { name: 'a', probes: [{ score: 2, match: { at: 0, bytes: 'M' } }, { score: 100, match: { at: 0, bytes: 'MZ' } }, { score: 50, match: { at: 0, bytes: 'M' } }] },
      { name: 'b', probes: [{ score: 100, match: { at: 0, bytes: 'M' }, module: 'late' }] },
    ];
    const result = await probe(d, 'MZ', 'image', load);
    expect(result.format).toBe('a');
    expect(result.matched.map((m) => m.score)).toEqual([2, 100]);
    expect(loaded).toEqual([]);
  });
});

describe('probe modules', () => {
  it('load only when their guard holds; the answer is clamped to the declared score', async () => {
    const loaded: string[] = [];
    const answers: Record<string, ProbeModule> = { text: (d) => (d.head[0] === 0x76 ? 1000 : 0), half: () => 49.9 };
    const load = async (id: string): Promise<ProbeModule> => {
      loaded.push(id);
      return answers[id]!;
    };
    const d: ProbeDriver[] = [
      { name: 'vmdk', probes: [{ score: 100, match: [{ minLength: 4 }, { at: 0, u8: { in: [0x23, 0x20, 0x76] } }], module: 'text' }] },
      { name: 'w', probes: [{ score: 60, match: { suffix: '.w' }, module: 'half' }] },
    ];
    expect((await probe(d, 'QFI\xfbxxxx', 'image', load)).format).toBe('raw');
    expect(loaded).toEqual([]);
    const text = await probe(d, 'version=1\n', 'image', load);
    expect(text.format).toBe('vmdk');
    expect(text.score).toBe(100);
    expect(text.modulesLoaded).toEqual(['text']);
    expect(text.matched[0]!.because.at(-1)).toBe('probe module text answered 100');
    const miss = await probe(d, '# no\n', 'x.w', load);
    // (expectAgreement probes three times: the result says what one evaluation loaded.)
    expect(miss.modulesLoaded).toEqual(['text', 'half']);
    expect(miss.format).toBe('w');
    expect(miss.score).toBe(49);
    expect(miss.matched.map((m) => m.driver)).toEqual(['w']);
  });

  it('a module that throws or answers nonsense scores 0; a module that fails to load rejects', async () => {
    const d: ProbeDriver[] = [{ name: 'm', probes: [{ score: 100, match: { at: 0, bytes: 'v' }, module: 'bad' }] }];
    for (const decide of [() => {
      throw new Error('bug');
    }, () => Number.NaN, () => -3, () => 'x' as unknown as number]) {
      expect((await probe(d, 'vvvv', 'f', async () => decide)).format).toBe('raw');
    }
    const { index } = compileProbeIndex(d);
    await expect(probeWithIndex(index, { head: latin1('v'), tail: new Uint8Array(0), size: 1, filename: 'f' }, () => Promise.reject(new Error('chunk missing')))).rejects.toThrow('chunk missing');
  });
});

describe('the compiled index', () => {
  it('files signatures under dispatch keys and reads only the windows it needs', () => {
    const d: ProbeDriver[] = [
      { name: 'qcow', probes: [{ score: 100, match: [{ minLength: 48 }, { at: 0, u32be: 0x514649fb }, { at: 4, u32be: 1 }] }] },
      { name: 'qcow2', probes: [{ score: 100, match: [{ minLength: 104 }, { at: 0, u32be: 0x514649fb }, { at: 4, u32be: { min: 2 } }] }] },
      { name: 'vdi', probes: [{ score: 100, match: [{ minLength: 512 }, { at: 0x40, u32le: 0xbeda107f }] }] },
      { name: 'weird', probes: [{ score: 2, match: [{ at: 3, u8: { min: 7 } }] }] },
    ];
    const { index } = compileProbeIndex(d, undefined, { buffer: 'exact' });
    expect(index.headBytes).toBe(512);
    expect(index.tailBytes).toBe(0);
    // Padded, QEMU's buf_size is always 512: the length tests need no bytes, vdi's field does.
    expect(compileProbeIndex(d).index).toMatchObject({ buffer: 'padded', headBytes: 68, tailBytes: 0 });
    expect(index.dispatch).toEqual([
      // qcow and qcow2 share the magic's key; u32be 1 at 4 would also do for qcow, but one group covers both.
      { at: 0, width: 4, keys: [['514649fb', [0, 1]]], short: [] },
      { at: 64, width: 4, keys: [['7f10dabe', [2]]], short: [] },
    ]);
    expect(index.always).toEqual([3]);
    // minLength is hoisted out of the evaluated tests.
    expect(index.signatures.map((s) => [s.minLength, s.check])).toEqual([
      [48, [1, 2]],
      [104, [1, 2]],
      [512, [1]],
      [0, [0]],
    ]);
  });

  it('is plain JSON: survives a JSON round trip unchanged', async () => {
    const d: ProbeDriver[] = [{ name: 'x', probes: [{ score: 100, match: [{ at: 0, bytes: 'é\u00ff' }, { suffix: '__proto__' }] }] }];
    const { index } = compileProbeIndex(d);
    const copy = JSON.parse(JSON.stringify(index)) as typeof index;
    expect(copy).toEqual(index);
    const data = { head: latin1('é\xff'), tail: new Uint8Array(0), size: 2, filename: 'a__proto__' };
    expect((await probeWithIndex(copy, data, noModules)).format).toBe('x');
  });
});

describe('validation', () => {
  it('reports tests that can never hold: past the probe buffer, past the end of the file', () => {
    expect(validateProbes({ score: 100, match: { at: 510, u32le: 1 } })).toEqual([
      "probe.match looks at bytes up to offset 513, past QEMU's 512-byte probe buffer (use a negative offset for the end of the file)",
    ]);
    expect(validateProbes({ score: 100, match: { at: -2, u32le: 1 } })).toEqual(['probe.match reads 4 bytes at -2, past the end of the file']);
    expect(validateProbes({ score: 100, match: { minLength: 513 } })).toEqual(['probe.match.minLength 513 can never hold: QEMU probes at most 512 bytes']);
    expect(validateProbes({ score: 2, match: { at: 500, prefix: 'x'.repeat(40) } })).toEqual([]);
    expect(validateProbes({ score: 100, match: [{ minLength: 512 }, { at: 508, u32le: 1 }, { at: -4, u32le: 1 }] })).toEqual([]);
  });
});

describe("QEMU 7.2's padded probe buffer (the default)", () => {
  // find_image_format() reads 512 bytes, zeros past the end of the file, and passes buf_size 512
  // (QEMU 7.1+, "block: Make blk_{pread,pwrite}() return 0 on success"): checked against
  // qemu-img 7.2 in qemu-agreement.test.ts with these very files.
  const qcow2: ProbeDriver[] = [{ name: 'qcow2', probes: [{ score: 100, match: [{ minLength: 104 }, { at: 0, u32be: 0x514649fb }, { at: 4, u32be: { min: 2 } }] }] }];
  const cloop: ProbeDriver[] = [{ name: 'cloop', probes: [{ score: 2, match: { at: 0, prefix: '#!/bin/sh\n#V2.0 Format\n' } }] }];
  const qed: ProbeDriver[] = [{ name: 'qed', probes: [{ score: 100, match: [{ minLength: 64 }, { at: 0, bytes: 'QED\0' }] }] }];

  it('minLength always holds for a non-empty file: an 8-byte qcow2 header probes as qcow2', async () => {
    const padded = await probe(qcow2, 'QFI\xfb\0\0\0\x03', 'f', noModules, 'padded');
    expect(padded.format).toBe('qcow2');
    expect(padded.matched[0]!.because[0]).toBe('at least 104 bytes of probe data (the probe buffer holds 512)');
    expect((await probe(qcow2, 'QFI\xfb\0\0\0\x03', 'f', noModules, 'exact')).format).toBe('raw');
  });

  it('a prefix meets the zeros: a short cloop-prefix-only file is raw', async () => {
    expect((await probe(cloop, '#!/', 'f', noModules, 'padded')).format).toBe('raw');
    expect((await probe(cloop, '#!/', 'f', noModules, 'exact')).format).toBe('cloop');
    expect((await probe(cloop, '#!/bin/sh\n#V2.0 Format\nmore', 'f', noModules, 'padded')).format).toBe('cloop');
  });

  it('trailing NULs of a magic may come from the padding: a 3-byte "QED" file probes as qed', async () => {
    expect((await probe(qed, 'QED', 'f', noModules, 'padded')).format).toBe('qed');
    expect((await probe(qed, 'QED', 'f', noModules, 'exact')).format).toBe('raw');
  });

  it('the padding is not read from the file: bytes read stay what the file has', async () => {
    const result = await probe(qed, 'QED', 'f', noModules, 'padded');
    expect(result.bytesRead).toBe(3);
  });
});
