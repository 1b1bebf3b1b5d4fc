// createDriverRegistry checks the build manifest it is given (as parseManifest does), so a
// manifest of the wrong shape, say JSON.parse output of another file, fails at once with a
// ManifestError naming the field instead of a TypeError inside a later load.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { driverTable } from '../../fixtures/emulator/src/generated/drivers.gen.js';
import { blockDriver, createDriverDecorator, createDriverRegistry, defineDriverTable, DriverError, ManifestError, parseManifest, type BuildManifest, type DriverTable } from '../../src/runtime/index.js';
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
    ['a module driver without its chunk', { ...built, drivers: { ...built.drivers, qcow2: { ...built.drivers.qcow2, chunk: undefined } } }, /drivers\.qcow2\.chunk must be a non-empty string/],
    ['a module driver with an empty chunk name', { ...built, drivers: { ...built.drivers, qcow2: { ...built.drivers.qcow2, chunk: '' } } }, /drivers\.qcow2\.chunk must be a non-empty string/],
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

// Loads through the registry's documented seams (a manifest, `importChunk`), with real classes
// registered by the runtime's decorators.
describe('createDriverRegistry: what a load reports', () => {
  const noProbes: DriverTable['probeIndex'] = { version: 2, buffer: 'padded', headBytes: 0, tailBytes: 0, signatures: [], dispatch: [], suffixes: [], always: [] };
  const oneDriver = (registry: string, name: string): DriverTable =>
    defineDriverTable({
      registry,
      drivers: [{ name, kind: 'format', state: 'module', source: `src/${name}.ts`, exportName: 'D', prefixes: [], load: () => Promise.reject(new Error('not this path')) }],
      probeModules: {},
      probeIndex: noProbes,
    });
  const manifestFor = (key: string, chunk: string): BuildManifest => ({
    version: 1,
    buildId: 'build-1',
    bundler: 'esbuild',
    entries: [],
    entryImports: [],
    drivers: { [key]: { kind: 'format', state: 'module', chunk, imports: [], bytes: 1, integrity: 'sha384-x' } },
    probes: {},
    chunks: { [chunk]: { file: chunk, bytes: 1, integrity: 'sha384-x' } },
  });

  it('a baseUrl that is not an absolute URL is refused at once, naming the option', () => {
    expect(() => createDriverRegistry(oneDriver('blockDriver', 'x'), { manifest: manifestFor('x', 'drivers/x.mjs'), baseUrl: '/app/dist/' })).toThrow(
      /baseUrl must be an absolute URL .* \(got "\/app\/dist\/"\)/,
    );
  });

  it("another registry's driver is named by its own name in errors, not by its manifest key", async () => {
    const manifest = manifestFor('charDriver:serial-rm', 'charDriver/serial-rm.mjs');
    const registry = createDriverRegistry(oneDriver('charDriver', 'serial-rm'), { manifest, baseUrl: 'https://example.test/app/', importChunk: () => Promise.reject(new Error('404')) });
    const error = await registry.load('serial-rm').then(() => undefined, (e: unknown) => e as DriverError);
    expect(error).toBeInstanceOf(DriverError);
    expect(error).toMatchObject({ code: 'load-failed', driver: 'serial-rm', chunk: `https://example.test/app/charDriver/serial-rm.mjs?build=${manifest.buildId}` });
    expect(error!.message).toContain(`driver 'serial-rm'`);
    const refused = createDriverRegistry(oneDriver('charDriver', 'serial-rm'), { manifest, baseUrl: 'https://example.test/app/', importChunk: async () => ({ __genModulesBuildId: 'build-0' }) });
    await expect(refused.load('serial-rm')).rejects.toMatchObject({ code: 'wrong-build', driver: 'serial-rm' });
  });

  it('an onLoad hook that throws fails that load() call only: the driver is loaded, listed once, and announced once', async () => {
    blockDriver({ format: 'hooked-rm' })(class HookedDriver {});
    createDriverDecorator<{ name: string }>('charDriver', ['name'])({ name: 'hooked-rm' })(class HookedChar {});
    for (const [registryName, key] of [['blockDriver', 'hooked-rm'], ['charDriver', 'charDriver:hooked-rm']] as const) {
      const announced: string[] = [];
      const registry = createDriverRegistry(oneDriver(registryName, 'hooked-rm'), {
        manifest: manifestFor(key, 'drivers/hooked-rm.mjs'),
        baseUrl: 'https://example.test/app/',
        importChunk: async () => ({ __genModulesBuildId: 'build-1' }),
        onLoad: (name) => {
          announced.push(name);
          throw new Error('hook failed');
        },
      });
      await expect(registry.load('hooked-rm')).rejects.toThrow('hook failed');
      expect(registry.list()[0]!.status).toBe('loaded');
      expect(registry.loadedDrivers()).toEqual(['hooked-rm']);
      expect(typeof (await registry.load('hooked-rm'))).toBe('function');
      expect(registry.loadedDrivers()).toEqual(['hooked-rm']);
      expect(announced).toEqual(['hooked-rm']);
    }
  });
});
