// createDriverRegistry checks the build manifest it is given (as parseManifest does), so a
// manifest of the wrong shape, say JSON.parse output of another file, fails at once with a
// ManifestError naming the field instead of a TypeError inside a later load.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { driverTable } from '../../fixtures/emulator/src/generated/drivers.gen.js';
import { createDriverRegistry, ManifestError, parseManifest, type BuildManifest } from '../../src/runtime/index.js';
import { emulatorDir } from '../support/paths.js';

const built = JSON.parse(readFileSync(join(emulatorDir, 'dist/gen-modules-manifest.json'), 'utf8')) as BuildManifest;
const baseUrl = pathToFileURL(join(emulatorDir, 'dist/')).href;

describe('createDriverRegistry with a build manifest', () => {
  it('takes a built manifest as JSON.parse gives it, or as parseManifest gave it', () => {
    const registry = createDriverRegistry(driverTable, { manifest: built, baseUrl });
    expect(registry.list().find((d) => d.name === 'qcow2')?.status).toBe('not-loaded');
    const parsed = parseManifest(JSON.stringify(built));
    expect(parseManifest(parsed)).toBe(parsed);
    expect(createDriverRegistry(driverTable, { manifest: parsed, baseUrl }).list()).toEqual(registry.list());
  });

  it.each([
    ['not an object', [] as unknown, /not an object/],
    ['a driver that is not an object', { ...built, drivers: { ...built.drivers, qcow2: 5 } }, /drivers\.qcow2 must be an object/],
    ['a module driver without its chunk', { ...built, drivers: { ...built.drivers, qcow2: { ...built.drivers.qcow2, chunk: undefined } } }, /drivers\.qcow2\.chunk must be a string/],
    ['a chunk without its integrity', { ...built, chunks: { 'emu.mjs': { file: 'emu.mjs', bytes: 1 } } }, /chunks\.emu\.mjs\.integrity must be a string/],
  ])('refuses %s at once, with a ManifestError naming the field', (_label, manifest, problem) => {
    let error: unknown;
    try {
      createDriverRegistry(driverTable, { manifest: manifest as BuildManifest, baseUrl });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ManifestError);
    expect((error as Error).message).toMatch(problem);
  });
});
