// Images that two formats' signatures both claim, decided as qemu-img 7.2 decides them. QEMU gives
// a tie to the driver it registered earlier; the root config's `probe.order` states that order
// where name order differs from it (vdi under a vmdk, vpc or vhdx magic is vdi by name too).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imagesDir, lazyEmu } from '../support/paths.js';
import { runNode } from '../support/run-node.js';
import { requireTool, runTool } from '../support/system.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gen-modules-probe-ties-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const work = () => dir;
const haveQemu = requireTool('qemu-img', 'the probe tie tests');

const CLOOP_TEXT = '#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n';

async function emuFormat(image: string): Promise<string> {
  const run = await runNode([lazyEmu, 'info', '--output=json', image]);
  expect(run.stderr, image).toBe('');
  expect(run.code).toBe(0);
  return (JSON.parse(run.stdout) as { format: string }).format;
}

const qemuFormat = (image: string) => (JSON.parse(runTool('qemu-img', ['info', '--output=json', image])) as { format: string }).format;

describe.runIf(haveQemu)('probe ties, as qemu-img decides them', () => {
  // vdi checks only its signature at 0x40; the first bytes of its header are free text.
  it.each([
    ['qcow2', Buffer.from('QFI\xfb\0\0\0\x03', 'latin1')],
    ['qcow', Buffer.from('QFI\xfb\0\0\0\x01', 'latin1')],
    ['luks', Buffer.from('LUKS\xba\xbe\0\x01', 'latin1')],
    ['vmdk', Buffer.from('KDMV', 'latin1')],
    ['vpc', Buffer.from('conectix', 'latin1')],
    ['vhdx', Buffer.from('vhdxfile', 'latin1')],
  ])('a vdi image whose free text starts with the %s magic is vdi', async (other, magic) => {
    const image = join(work(), `${other}-magic.vdi`);
    runTool('qemu-img', ['create', '-q', '-f', 'vdi', image, '1M']);
    const bytes = readFileSync(image);
    magic.copy(bytes, 0);
    writeFileSync(image, bytes);
    expect(qemuFormat(image)).toBe('vdi');
    expect(await emuFormat(image)).toBe('vdi');
  });

  it('a dmg whose first bytes are the cloop text is dmg (both score 2)', async () => {
    // The committed UDIF sample moved 512 bytes down; the koly trailer's absolute offsets with it.
    const sample = readFileSync(join(imagesDir, 'dmg/zlib-raw-zero.dmg'));
    const koly = sample.length - 512;
    expect(sample.toString('latin1', koly, koly + 4)).toBe('koly');
    for (const field of [24, 40, 216]) {
      const value = sample.readBigUInt64BE(koly + field);
      if (value !== 0n || field === 24) sample.writeBigUInt64BE(value + 512n, koly + field);
    }
    const head = Buffer.alloc(512);
    head.write(CLOOP_TEXT, 'latin1');
    const image = join(work(), 'cloop-text.dmg');
    writeFileSync(image, Buffer.concat([head, sample]));
    expect(qemuFormat(image)).toBe('dmg');
    expect(await emuFormat(image)).toBe('dmg');
  });
});
