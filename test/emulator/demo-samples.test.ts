// `npm run demo` opens every bundled sample with `emu info`: each must open, with the format and
// size its expected.json records (an encrypted one with its key under its format's option).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundledSamples, infoArgs } from '../../fixtures/emulator/demo.js';
import { lazyEmu } from '../support/paths.js';
import { runNode } from '../support/run-node.js';

const scratch = mkdtempSync(join(tmpdir(), 'gm-demo-samples-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the demo', () => {
  it('opens every bundled sample with the format and size it records', async () => {
    const samples = bundledSamples(scratch);
    expect(samples.length).toBeGreaterThan(10);
    expect(samples.some((s) => s.entry.secret !== undefined), 'encrypted samples among them').toBe(true);
    const probedOtherwise: string[] = [];
    // Four at a time: each is its own process, as in the demo.
    for (let i = 0; i < samples.length; i += 4) {
      await Promise.all(
        samples.slice(i, i + 4).map(async (sample) => {
          const run = await runNode([lazyEmu, ...infoArgs(sample)]);
          expect(run.code, `${sample.name}: ${run.stderr}`).toBe(0);
          const info = JSON.parse(run.stdout) as { format: string; 'virtual-size': number };
          if (info.format !== sample.entry.format) probedOtherwise.push(`${sample.name} as ${info.format}`);
          else expect(info['virtual-size'], sample.name).toBe(sample.entry['virtual-size']);
        }),
      );
    }
    // A fixed VHD has its footer only at the end, and QEMU's vpc probe looks at the start: qemu-img
    // probes it as raw too (the demo shows that).
    expect(probedOtherwise.sort()).toEqual(['vpc/fixed.vpc as raw']);
  }, 120_000);
});
