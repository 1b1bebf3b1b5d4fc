// The file protocol's refusals and sizes: a FIFO is refused at once (opening one for reading would
// wait for a writer forever), and a block device reads with its real size (stat gives 0, which
// made an image on a loop device an empty raw disk), through the emulator's `info` command.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openFileSource } from '../../fixtures/emulator/src/drivers/file.js';
import { Qcow2Driver } from '../../fixtures/emulator/src/drivers/qcow2.js';
import { lazyEmu } from '../support/paths.js';
import { runNode } from '../support/run-node.js';
import { requireTool } from '../support/system.js';
import { directContext, expectImageError, qemuInfo, runOk } from './disk-formats-support.js';

const work = mkdtempSync(join(tmpdir(), 'gm-file-protocol-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('file protocol', () => {
  it('info names a file: image as qemu-img info does, without the prefix', async () => {
    if (!requireTool('qemu-img', 'the image')) return;
    const file = join(work, 'named.raw');
    runOk('qemu-img', ['create', '-q', '-f', 'raw', file, '1M']);
    for (const name of [`file:${file}`, `file://${file}`, file]) {
      const theirs = runOk('qemu-img', ['info', name]).split('\n')[0];
      const ours = await runNode([lazyEmu, 'info', name]);
      expect(ours.code, ours.stderr).toBe(0);
      expect(ours.stdout.split('\n')[0]).toBe(theirs);
      const json = await runNode([lazyEmu, 'info', '--output=json', name]);
      expect((JSON.parse(json.stdout) as { filename: string }).filename).toBe(theirs!.slice('image: '.length));
    }
  });

  it('a FIFO is refused as not a regular file, without waiting for a writer', async () => {
    const fifo = join(work, 'pipe');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    await expectImageError(openFileSource(fifo), fifo, /: not a regular file$/);
  }, 10_000);

  it('an image on a block device (a loop device) opens with the device size, as qemu-img reads it', async () => {
    if (!requireTool('qemu-img', 'the image') || !requireTool('losetup', 'the loop device')) return;
    const file = join(work, 'disk.qcow2');
    runOk('qemu-img', ['create', '-q', '-f', 'qcow2', file, '16M']);
    // A loop device is whole sectors: the image padded to a multiple of 512 (the last part of its L1 table would be cut off).
    truncateSync(file, Math.ceil(statSync(file).size / 512) * 512);
    const attached = spawnSync('losetup', ['--find', '--show', '--read-only', file], { encoding: 'utf8' });
    if (attached.status !== 0) return void console.warn(`skipped: no loop device could be attached here (${attached.stderr.trim()})`);
    const device = attached.stdout.trim();
    try {
      const source = await openFileSource(device);
      expect(source.size).toBeGreaterThan(0);
      const image = await new Qcow2Driver().open(source, directContext(device));
      expect(image.virtualSize).toBe(qemuInfo(device)['virtual-size']);
      await image.close();
    } finally {
      spawnSync('losetup', ['--detach', device]);
    }
  });
});
