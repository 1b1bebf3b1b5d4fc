// What every consumer of a build relies on: the manifest's sizes and SRI values describe the bytes
// on disk.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { BuildManifest } from '../../../src/runtime/manifest.js';

/** Every chunk the manifest names exists with the size and SRI value the manifest gives. */
export function expectManifestMatchesDisk(manifest: BuildManifest, out: string): void {
  for (const [file, chunk] of Object.entries(manifest.chunks)) {
    const bytes = readFileSync(join(out, file));
    expect(chunk.bytes, file).toBe(bytes.length);
    expect(chunk.integrity, file).toBe(`sha384-${createHash('sha384').update(bytes).digest('base64')}`);
  }
  for (const [key, driver] of Object.entries(manifest.drivers)) {
    if (!driver.chunk) continue;
    expect(driver.integrity, key).toBe(manifest.chunks[driver.chunk]!.integrity);
    expect(driver.bytes, key).toBe([driver.chunk, ...driver.imports].reduce((sum, f) => sum + manifest.chunks[f]!.bytes, 0));
  }
}
